"""Issue 15 §6: the office's documents as LibreOffice lays them out with the fonts Debian has.

The shipped fontconfig file (award/fonts/fonts.conf, applied by award.intake.convert.office_env) maps 仿宋_GB2312,
方正小标宋简体, 黑体, 楷体_GB2312 and 宋体 to the CJK fonts of fonts-noto-cjk and fonts-arphic-ukai. The letters are
rendered to PDF and read back with pdfplumber: the fonts used, codes each on one line, a team listed by its unit's
code, the 推荐函 whole on page 1 and the 征求意见函's page 1 filled before its closing moves on. Skipped only when
soffice (or fc-match) is missing outside CI; .ci/run installs the fonts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pdfplumber
import pytest

from award.config import load_season, parse_season
from award.identity import listed_code
from award.intake.convert import FONTS_CONF, find_soffice, office_env
from award.officialdoc import MARGINS_MM, fitting_size, print_width_em
from award.opinions.letters import Row, build_letter
from award.opinions.letters import row_of as _row
from award.recommendation.documents import write_letter, write_summary_docx
from award.recommendation.proposal import Candidate

SOFFICE = find_soffice()
IN_CI = bool(os.environ.get("CI"))
needs_soffice = pytest.mark.skipif(SOFFICE is None and not IN_CI, reason="LibreOffice (soffice) not installed")
WHEN = datetime(2023, 8, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
TEAM_KEY = "91620100MA0000002X/精益质量QC小组"
CODES = ("91620100MA00000001", "91620100MA0000002X", "620***********003X")


def _fonts_installed() -> bool:
    if shutil.which("fc-list") is None:
        return False
    out = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True).stdout
    return "Noto Serif CJK SC" in out and "AR PL UKai CN" in out


needs_fonts = pytest.mark.skipif(not (IN_CI or _fonts_installed()),
                                 reason="fonts-noto-cjk / fonts-arphic-ukai not installed")


def _pdf(docs: dict[str, bytes], tmp_path: Path) -> dict[str, list[dict[str, object]]]:
    """Render with LibreOffice (office_env); per document its pages as {lines, fonts, bottom}."""
    assert SOFFICE is not None, "soffice must be installed (CI sets CI=1)"
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, data in docs.items():
        (tmp_path / f"{name}.docx").write_bytes(data)
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"
    subprocess.run([SOFFICE, profile, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                    *(str(tmp_path / f"{n}.docx") for n in docs)],
                   check=True, capture_output=True, timeout=240, env=office_env(tmp_path))
    out = {}
    for name in docs:
        with pdfplumber.open(tmp_path / f"{name}.pdf") as pdf:
            out[name] = [{"lines": (page.extract_text() or "").splitlines(),
                          "fonts": {str(c["fontname"]).split("+", 1)[-1] for c in page.chars},
                          "bottom": max((c["bottom"] for c in page.chars if c["text"].strip() not in {"—", ""}
                                         and not c["text"].isdigit()), default=0.0),
                          "height": page.height} for page in pdf.pages]
    return out


def _opinion_letter(rows: list[Row]) -> bytes:
    season = load_season()
    request = SimpleNamespace(token="YJ-2023-SCJ-abcdef", due_date=date(2023, 8, 10))  # only these two are read
    return build_letter(season, season.departments[0], request, rows,  # type: ignore[arg-type]
                        doc_number="甘市监质函〔2023〕3号", sheet_filename="征求意见回复表-YJ-2023-SCJ-abcdef.xlsx",
                        today=date(2023, 7, 31))


def _rows() -> list[Row]:
    return [Row(1, "GS-2023-0001", "兰州某某科技股份有限公司", CODES[0], "兰州市", "组织（制造业）"),
            Row(2, "GS-2023-0002", "精益质量QC小组", listed_code("organization", TEAM_KEY), "天水市", "班组"),
            Row(3, "GS-2023-0003", "张三", listed_code("person", "62010219900101003X"), "酒泉市", "个人（一线）")]


def test_listed_code_a_team_by_its_units_code_a_person_masked() -> None:
    assert listed_code("organization", TEAM_KEY) == "91620100MA0000002X"
    assert listed_code("organization", " 91620100MA00000001 ") == CODES[0]
    assert listed_code("person", "62010219900101003X") == CODES[2]
    team = SimpleNamespace(id=2, submission_no="GS-2023-0002", city="天水市", category="team",
                           applicant=SimpleNamespace(kind="organization", key=TEAM_KEY, name="精益质量QC小组", city=None))
    assert _row(load_season(), team).code == "91620100MA0000002X"  # type: ignore[arg-type]


def test_fitting_size_keeps_a_code_on_one_line() -> None:
    assert print_width_em("一二") == 2.0 and print_width_em("1A") == pytest.approx(0.64 + 0.78)
    width = fitting_size(CODES[0], 30.0)  # a code in a narrow column is set smaller, never wrapped
    assert 5.0 <= width < 10.5 and print_width_em(CODES[0]) * width / 72 * 25.4 <= 30.0
    assert fitting_size("1", 40.0) > 26.0


@needs_fonts
def test_fonts_conf_maps_each_office_font_to_an_installed_cjk_font() -> None:
    assert FONTS_CONF.is_file()
    env = office_env(Path("/tmp"))
    expected = {"仿宋_GB2312": "Noto Serif CJK SC", "仿宋": "Noto Serif CJK SC", "方正小标宋简体": "Noto Serif CJK SC",
                "宋体": "Noto Serif CJK SC", "黑体": "Noto Sans CJK SC", "楷体_GB2312": "AR PL UKai CN"}
    for name, family in expected.items():
        got = subprocess.run(["fc-match", "-f", "%{family[0]}", name], capture_output=True, text=True, env=env).stdout
        assert got == family, (name, got)


@needs_soffice
@needs_fonts
def test_letters_laid_out_with_the_mapped_fonts(tmp_path: Path) -> None:
    season = load_season()
    letter = tmp_path / "letter.docx"
    write_letter(letter, season, doc_number="甘质强组〔2023〕45号", when=WHEN, org_count=5, person_count=2)
    pdfs = _pdf({"opinion": _opinion_letter(_rows()), "recommendation": letter.read_bytes()}, tmp_path / "out")

    # the office's fonts are laid out in Noto CJK (serif for 仿宋/小标宋, sans for the 黑体 headers), no other CJK font
    opinion = pdfs["opinion"]
    fonts = set().union(*(p["fonts"] for p in opinion))  # type: ignore[arg-type]
    assert any("NotoSerifCJK" in f for f in fonts) and any("NotoSansCJK" in f for f in fonts), fonts
    assert not any("WenQuanYi" in f or "UKai" in f for f in fonts), fonts

    # codes each on one line; a team by its unit's code only
    annex = [line for page in opinion if any("申报对象名单" in x for x in page["lines"])  # type: ignore[attr-defined]
             for line in page["lines"]]  # type: ignore[attr-defined]
    for code in CODES:
        assert any(code in line.replace(" ", "") for line in annex), (code, annex)
    assert not any("/精益" in line for line in annex) and any("GS-2023-0001" in line for line in annex)

    # 征求意见函: page 1 is filled (less than a quarter of the type area left) before the closing moves on,
    # and 特此函告 goes with the signature
    page1 = opinion[0]
    type_bottom = float(page1["height"]) - MARGINS_MM["bottom"] / 25.4 * 72  # type: ignore[arg-type]
    type_height = 225 / 25.4 * 72
    assert type_bottom - float(page1["bottom"]) < type_height / 4, (page1["bottom"], type_bottom)  # type: ignore[arg-type]
    signed = next(p for p in opinion if any("2023年7月31日" in x.replace(" ", "") for x in p["lines"]))  # type: ignore[attr-defined]
    assert any("特此函告。" in x for x in signed["lines"])  # type: ignore[attr-defined]
    assert "甘肃省质量强省建设协调推进领导小组办公室" in opinion[0]["lines"][0]  # type: ignore[index]  # mark on one line

    # 推荐函 with a usual number of candidates: one page, 特此函告 and the signature on it
    rec = pdfs["recommendation"]
    assert len(rec) == 1
    text = [x.replace(" ", "") for x in rec[0]["lines"]]  # type: ignore[attr-defined]
    assert "特此函告。" in text and "2023年8月20日" in text
    assert text[0] == season.package_letters.recommendation.issuer  # the issuer's mark on one line


@needs_soffice
@needs_fonts
def test_summary_table_codes_and_phones_on_one_line(tmp_path: Path) -> None:
    data = load_season().model_dump(mode="json")
    data["national"]["summary_columns"] = [{"field": f} for f in ("nn", "name", "category", "city", "work_unit",
                                                                  "recommending_unit", "contact", "phone", "code",
                                                                  "submission_no")]
    season = parse_season(data)
    people = [Candidate(nn=i, application_id=i, submission_no=f"GS-2023-{i:04d}", name="甘肃某某重工机械股份有限公司",
                        code=code, category="org", category_label="组织（制造业）", group="org", city="兰州市",
                        contact="王某某", phone="0931-88886666", score=None, priority=False, placement="",
                        state="reviewed", folder="x", work_unit="", recommending_unit="兰州市市场监督管理局")
              for i, code in enumerate(CODES, start=1)]
    path = tmp_path / "summary.docx"
    write_summary_docx(path, season, people, WHEN)
    pages = _pdf({"summary": path.read_bytes()}, tmp_path / "out")["summary"]
    lines = [x.replace(" ", "") for p in pages for x in p["lines"]]  # type: ignore[attr-defined]
    for code in CODES:
        assert any(code in line for line in lines), (code, lines)
    assert sum("0931-88886666" in line for line in lines) == 3
    assert all(f"GS-2023-{i:04d}" in "".join(lines) for i in (1, 2, 3))

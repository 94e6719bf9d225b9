"""The package's two letters as LibreOffice lays them out (issue 16 §4): 推荐函 and 审核意见 rendered to PDF with
Debian's LibreOffice, read back with pypdf: issuer, addressee, body, signature and date present, the signature never
alone on a page, page numbers in place. Skipped only when soffice is missing outside CI."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from award.config import load_season, parse_season
from award.intake.convert import find_soffice, office_env
from award.recommendation.documents import letter_text, write_letter

SOFFICE = find_soffice()
WHEN = datetime(2023, 12, 29, 10, tzinfo=ZoneInfo("Asia/Shanghai"))  # the longest date line
LETTERS = {
    "recommendation": {"issuer": "甘肃省质量强省建设协调推进领导小组", "signature": "甘肃省质量强省建设协调推进领导小组"},
    "audit_opinion": {"issuer": "甘肃省市场监督管理局", "signature": "甘肃省市场监督管理局"},
}


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.skipif(SOFFICE is None and not os.environ.get("CI"), reason="LibreOffice (soffice) not installed")
def test_both_letters_render_with_libreoffice(tmp_path: Path) -> None:
    assert SOFFICE is not None, "soffice must be installed (CI sets CI=1)"
    data = load_season().model_dump(mode="json")
    data["letters"] = LETTERS
    season = parse_season(data)
    paths = {}
    for kind, number in (("recommendation", "甘质强组〔2023〕45号"), ("audit_opinion", "甘市监质函〔2023〕46号")):
        path = tmp_path / f"{kind}.docx"
        write_letter(path, season, doc_number=number, when=WHEN, org_count=16, person_count=13, kind=kind)
        paths[kind] = (path, number)
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"
    subprocess.run([SOFFICE, profile, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                    *(str(p) for p, _ in paths.values())],
                   check=True, capture_output=True, timeout=240, env=office_env(tmp_path))
    for kind, (path, number) in paths.items():
        pages = [_flat(page.extract_text() or "") for page in PdfReader(str(path.with_suffix(".pdf"))).pages]
        text = letter_text(season, doc_number=number, when=WHEN.date(), org_count=16, person_count=13, kind=kind)
        assert len(pages) == 1, (kind, len(pages))  # a short letter keeps its signature on its only page
        assert pages[0].startswith(_flat(text["issuer"])) and _flat(number) in pages[0]
        assert "中国质量奖评选表彰委员会秘书处：" in pages[0]
        whole = "".join(pages)
        for para in text["body"]:
            assert _flat(para) in whole, (kind, para)
        signed = next(i for i, page in enumerate(pages) if "2023年12月29日" in page)
        assert _flat(text["signature"]) in pages[signed]
        assert "特此函告。" in pages[signed]  # the signature never stands on a page without text
        assert all(f"—{i}—" in page for i, page in enumerate(pages, start=1))  # page numbers


@pytest.mark.skipif(SOFFICE is None and not os.environ.get("CI"), reason="LibreOffice (soffice) not installed")
def test_a_long_season_wording_never_leaves_the_signature_alone(tmp_path: Path) -> None:
    assert SOFFICE is not None, "soffice must be installed (CI sets CI=1)"
    data = load_season().model_dump(mode="json")
    long = "经自愿申报、审核推荐、第三方评审和候选名单公示，{{ spec.issuer }}按照推荐名额要求研究确定推荐名单。" * 3
    data["letters"] = {**LETTERS, "recommendation": {**LETTERS["recommendation"],
                                                     "body": [long, long, "同意推荐{{ org_count }}个组织。", "特此函告。"]}}
    season = parse_season(data)
    path = tmp_path / "long.docx"
    write_letter(path, season, doc_number="甘质强组〔2023〕45号", when=WHEN, org_count=16, person_count=13)
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"
    subprocess.run([SOFFICE, profile, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, capture_output=True, timeout=240, env=office_env(tmp_path))
    pages = [_flat(page.extract_text() or "") for page in PdfReader(str(path.with_suffix(".pdf"))).pages]
    assert len(pages) == 2
    assert "同意推荐16个组织。" in "".join(pages)  # the season's wording, placeholders filled
    signed = next(i for i, page in enumerate(pages) if "2023年12月29日" in page)
    assert "特此函告。" in pages[signed] and "—2—" in pages[1]

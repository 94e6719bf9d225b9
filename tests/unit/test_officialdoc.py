"""GB/T 9704-2012 layout of the office's documents (award.officialdoc): structure read back with python-docx, and
the page breaks as LibreOffice lays them out (rendered to PDF; skipped only when soffice is missing outside CI)."""

from __future__ import annotations

import io
import os
import re
import subprocess
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import docx
import pytest
from docx.oxml.ns import qn
from docx.shared import Pt
from pypdf import PdfReader

from award.config import load_season
from award.intake.convert import find_soffice, office_env
from award.officialdoc import OfficialDocument, text_width
from award.opinions.letters import Row, build_letter
from award.recommendation.documents import write_letter

SOFFICE = find_soffice()
needs_soffice = pytest.mark.skipif(
    SOFFICE is None and not os.environ.get("CI"), reason="LibreOffice (soffice) not installed"
)
WHEN = datetime(2023, 8, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai"))


def _letter(tmp_path: Path) -> Path:
    path = tmp_path / "推荐函.docx"
    write_letter(path, load_season(), doc_number="甘质强组办〔2023〕45号", when=WHEN, org_count=5, person_count=2)
    return path


def _opinion_letter(rows: int = 12) -> bytes:
    season = load_season()
    request = SimpleNamespace(token="YJ-2023-env-7K3Q", due_date=date(2023, 5, 8))  # only these two are read
    listed = [Row(i, f"GS-2023-{i:04d}", f"浙江某某精密制造股份有限公司{i}", "91330100MA2B3C4D5E", "杭州市",
                  "制造业组织") for i in range(1, rows + 1)]
    return build_letter(season, season.departments[0], request, listed,  # type: ignore[arg-type]
                        doc_number="浙市监质函〔2023〕3号", sheet_filename="征求意见回复表.xlsx", today=date(2023, 4, 27))


def _para(doc: docx.document.Document, text: str) -> docx.text.paragraph.Paragraph:
    return next(p for p in doc.paragraphs if p.text == text)


def test_page_numbers_odd_right_even_left_in_songti() -> None:
    doc = docx.Document(io.BytesIO(_opinion_letter()))
    assert doc.settings.odd_and_even_pages_header_footer
    section = doc.sections[0]
    odd, even = section.footer.paragraphs[0], section.even_page_footer.paragraphs[0]
    for para in (odd, even):
        assert para.text == "—  —"  # "— N —" around the PAGE field
        assert 'w:instrText xml:space="preserve">PAGE<' in para._p.xml
        assert {r.font.name for r in para.runs} == {"宋体"} and {r.font.size for r in para.runs} == {Pt(14)}
    assert odd.alignment == 2 and odd.paragraph_format.right_indent == Pt(14)  # odd: one character from the right
    assert even.alignment == 0 and even.paragraph_format.left_indent == Pt(14)  # even: one character from the left
    # the number's line starts 7 mm under the type area (bottom margin 35 mm)
    assert round(section.footer_distance.mm + 14 / 72 * 25.4) == 35 - 7


def test_signature_centred_over_the_date_and_kept_with_the_body(tmp_path: Path) -> None:
    doc = docx.Document(str(_letter(tmp_path)))
    unit = load_season().package_letters.recommendation.signature
    paras = doc.paragraphs
    signature = next(p for p in reversed(paras) if p.text == unit)
    dated = _para(doc, "2023年8月20日")
    assert dated.paragraph_format.right_indent == Pt(16 * 4)  # the date four characters from the right
    centre_shift = (text_width(unit) - text_width("2023年8月20日")) / 2
    # centred over the date; a name longer than the date stops two characters from the right margin
    assert signature.paragraph_format.right_indent == Pt(16 * max(2.0, 4 - centre_shift))
    # from the last body paragraph to the date, every paragraph keeps with the next; the note closes the chain
    texts = [p.text for p in paras]
    start, end = texts.index("特此函告。"), texts.index("2023年8月20日")
    assert all(p.paragraph_format.keep_with_next for p in paras[start:end + 1])
    assert paras[end + 1].text.startswith("（联系人：") and not paras[end + 1].paragraph_format.keep_with_next
    assert not _para(doc, f"{load_season().national.recipient_name}：").paragraph_format.keep_with_next
    assert _para(doc, "附件：推荐名单汇总表").paragraph_format.first_line_indent == Pt(32)  # two characters in


def test_list_is_attachment_one_on_its_own_page_with_a_repeating_header() -> None:
    doc = docx.Document(io.BytesIO(_opinion_letter()))
    texts = [p.text for p in doc.paragraphs]
    assert "附件：1. 申报对象名单" in texts
    second = next(p for p in doc.paragraphs if p.text.strip().startswith("2. 征求意见回复表"))
    hang = text_width("附件：2. ")  # a wrapped attachment name aligns with the first character of the name
    assert second.paragraph_format.left_indent == Pt(16 * (2 + hang))
    assert second.paragraph_format.first_line_indent == Pt(-16 * hang)
    label = _para(doc, "附件1")
    assert label.paragraph_format.page_break_before
    assert label.runs[0]._element.rPr.rFonts.get(qn("w:eastAsia")) == "黑体"
    assert texts[texts.index("附件1") + 2] == "申报对象名单"  # the title on line 3
    (table,) = doc.tables
    widths = [round(int(c.get(qn("w:w"))) / 1440 * 25.4) for c in table._tbl.tblGrid.findall(qn("w:gridCol"))]
    assert widths == [9, 29, 34, 46, 16, 22] and sum(widths) == 156  # the type area's width
    rows = table._tbl.findall(qn("w:tr"))
    assert rows[0].trPr.find(qn("w:tblHeader")) is not None  # the header row repeats on every page
    assert all(r.trPr.find(qn("w:cantSplit")) is not None for r in rows)


def test_table_needs_one_width_per_column() -> None:
    doc = OfficialDocument(title="t")
    with pytest.raises(ValueError, match="3 columns but 2 widths"):
        doc.table([["a", "b", "c"]], widths_mm=[10, 20])
    with pytest.raises(ValueError, match="align must be one of"):
        doc.paragraph("x", align="middle")


def _pages(path: Path, tmp_path: Path) -> list[str]:
    """Render with LibreOffice headless; the text of each PDF page with all white space removed."""
    assert SOFFICE is not None, "soffice must be installed (CI sets CI=1)"
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"
    subprocess.run([SOFFICE, profile, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, capture_output=True, timeout=180, env=office_env(tmp_path))
    reader = PdfReader(str(path.with_suffix(".pdf")))
    return [re.sub(r"\s+", "", page.extract_text() or "") for page in reader.pages]


@needs_soffice
def test_rendered_letter_never_leaves_the_signature_alone(tmp_path: Path) -> None:
    pages = _pages(_letter(tmp_path), tmp_path)
    assert len(pages) == 1  # the 推荐函 fits its page: no page 2 holding only 特此函告 and the signature
    signed = next(i for i, text in enumerate(pages) if "2023年8月20日" in text)
    assert "特此函告。" in pages[signed]  # body text on the signature's page
    assert "—1—" in pages[0]


@needs_soffice
def test_rendered_opinion_letter_puts_the_list_after_the_signature(tmp_path: Path) -> None:
    path = tmp_path / "征求意见函.docx"
    path.write_bytes(_opinion_letter(rows=40))  # the list runs over two pages
    pages = _pages(path, tmp_path)
    signed = next(i for i, text in enumerate(pages) if "2023年4月27日" in text)
    assert "特此函告。" in pages[signed] and "附件1" not in pages[signed]
    annex = pages[signed + 1:]
    assert len(annex) == 2 and annex[0].startswith("附件1申报对象名单")
    assert all("统一社会信用代码" in text for text in annex)  # the header row repeats
    assert "GS-2023-0040" in annex[-1]

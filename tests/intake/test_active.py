"""Active content is found (and nothing is stripped); PDFs cut short are recognised."""

from __future__ import annotations

import pytest

from award.intake.active import pdf_broken, scan
from award.intake.filetypes import sniff
from award.intake.unzip import check_standalone_file
from tests import mailcases as mc

CASES = {
    "dde_docx": ["dde"],
    "ole_docx": ["ole_object"],
    "pdf_javascript": ["javascript", "auto_action"],
    "pdf_hidden_launch": ["launch", "embedded_file"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_active_content_is_found(case: str) -> None:
    data = getattr(mc, case)()
    assert scan(data, sniff(data)) == CASES[case]


def test_plain_documents_have_no_findings() -> None:
    for data in (mc.docx_bytes("申报书", table=True), mc.pdf_with(b"/OpenAction [3 0 R /Fit]"), mc.pdf_with(b"")):
        assert scan(data, sniff(data)) == []


def test_active_files_are_not_refused_but_a_cut_pdf_is() -> None:
    for case in CASES:
        data = getattr(mc, case)()
        assert check_standalone_file("证明." + ("pdf" if case.startswith("pdf") else "docx"), data) is None
    cut = mc.truncated_pdf()
    assert pdf_broken(cut) and not pdf_broken(mc.pdf_with(b""))
    refusal = check_standalone_file("证明.pdf", cut)
    assert refusal is not None and refusal.reason_code == "broken_pdf" and "截断" in refusal.reason_text_zh


def test_an_executable_is_an_executable_whatever_follows() -> None:
    assert sniff(mc.EXE_BYTES + b"%PDF-1.7\n" + b"\x00" * 100) == "exe"
    assert sniff(b"\x7fELF\x02\x01\x01" + b"%PDF-1.4" + b"\x00" * 100) == "elf"
    assert sniff(b"\xcf\xfa\xed\xfe" + b"%PDF-1.4" + b"\x00" * 100) == "macho"
    refusal = check_standalone_file("申报书.docx", b"\xcf\xfa\xed\xfe" + b"\x00" * 100)
    assert refusal is not None and "可执行程序" in refusal.reason_text_zh

"""Word conversion with LibreOffice headless (skipped only when soffice is missing outside CI)."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import docx
import pytest

from award.convert import ConversionError, convert_many, find_soffice, to_docx
from award.filetypes import sniff
from tests import mailcases as mc

SOFFICE = find_soffice()
needs_soffice = pytest.mark.skipif(
    SOFFICE is None and not os.environ.get("CI"), reason="LibreOffice (soffice) not installed"
)


@pytest.fixture(scope="module")
def doc_with_table(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real .doc made docx -> odt -> doc (a direct docx -> doc loses the table)."""
    assert SOFFICE is not None, "soffice must be installed (CI sets CI=1)"
    tmp = tmp_path_factory.mktemp("lo")
    (tmp / "t.docx").write_bytes(mc.docx_bytes("申报书", table=True))
    profile = f"-env:UserInstallation={(tmp / 'profile').as_uri()}"
    for fmt, src in (("odt", "t.docx"), ("doc", "t.odt")):
        subprocess.run(
            [SOFFICE, profile, "--headless", "--convert-to", fmt, "--outdir", str(tmp), str(tmp / src)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    data = Path(tmp / "t.doc").read_bytes()
    assert sniff(data) == "doc"
    return data


def table_of(docx_bytes: bytes) -> list[list[str]]:
    document = docx.Document(io.BytesIO(docx_bytes))
    return [[cell.text for cell in row.cells] for row in document.tables[0].rows]


@needs_soffice
def test_doc_converts_back_with_table(doc_with_table: bytes) -> None:
    out = to_docx(doc_with_table, "申报书.doc")
    assert sniff(out) == "docx"
    assert table_of(out) == [["单位名称", "喆镕精密制造有限公司"], ["统一社会信用代码", "91330100MA0000000X"]]


@needs_soffice
def test_convert_many_one_run(doc_with_table: bytes) -> None:
    broken_ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024
    results = convert_many(
        {"a.doc": doc_with_table, "b.wps": doc_with_table, "c.docx": mc.docx_bytes(), "d.doc": broken_ole}
    )
    assert table_of(results["a.doc"]) == table_of(results["b.wps"])  # type: ignore[arg-type]
    assert sniff(results["c.docx"]) == "docx"  # type: ignore[arg-type]
    assert isinstance(results["d.doc"], ConversionError)


def test_garbage_doc_raises_with_chinese_reason() -> None:
    with pytest.raises(ConversionError) as err:
        to_docx(b"this is not a word document" * 10, "申报书.doc")
    assert "申报书.doc" in err.value.reason and ".docx" in err.value.reason


@needs_soffice
def test_corrupt_ole_doc_raises() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00" + b"\x3e\x00\x03\x00\xfe\xff\x09\x00" + b"\x07" * 2000
    with pytest.raises(ConversionError):
        to_docx(data, "坏.doc")


RTF = b"{\\rtf1\\ansi hello}"


def test_missing_soffice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWARD_SOFFICE", str(tmp_path / "no-soffice"))
    with pytest.raises(ConversionError) as err:
        to_docx(RTF, "旧.doc", timeout=5)
    assert "旧.doc" in err.value.reason and err.value.detail == "soffice not installed"


def test_hanging_soffice_is_killed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "soffice"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("AWARD_SOFFICE", str(fake))
    with pytest.raises(ConversionError) as err:
        to_docx(RTF, "慢.doc", timeout=0.5)
    assert err.value.detail == "timeout" and "超时" in err.value.reason

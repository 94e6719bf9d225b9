"""Word conversion with LibreOffice headless (skipped only when soffice is missing outside CI)."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import docx
import pytest

from award.intake.convert import ConversionError, convert_many, find_soffice, to_docx
from award.intake.filetypes import sniff
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


def linked_image_odt(url: str) -> bytes:
    """An .odt whose only image is linked (not embedded) from ``url``."""
    import zipfile

    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.2"><office:body>'
        '<office:text><text:p>申报书<draw:frame draw:name="i" svg:width="2cm" svg:height="2cm" '
        f'text:anchor-type="paragraph"><draw:image xlink:href="{url}" xlink:type="simple" xlink:show="embed" '
        'xlink:actuate="onLoad"/></draw:frame></text:p></office:text></office:body></office:document-content>'
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        zf.writestr("META-INF/manifest.xml", manifest)
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


@pytest.fixture()
def loopback_server():  # type: ignore[no-untyped-def]
    """An HTTP server on loopback that records every request (any method) and answers 200."""
    import http.server
    import socketserver
    import threading

    hits: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            hits.append((self.command, self.path))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        do_GET = do_HEAD = do_OPTIONS = do_PROPFIND = do_POST = _any

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


@needs_soffice
@pytest.mark.parametrize("sandbox", ["namespace", "settings only"])
def test_a_linked_image_is_never_fetched(sandbox: str, loopback_server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The converted .odt links an image on a loopback server: no request arrives, with the network namespace,
    and with LibreOffice's own settings alone (the fallback where ``unshare`` is not available)."""
    import award.intake.convert

    if sandbox == "settings only":
        monkeypatch.setattr(award.intake.convert, "sandbox_prefix", lambda: ())
    else:
        assert award.intake.convert.sandbox_prefix(), "unshare -n must work here (root, or user namespaces)"
    base, hits = loopback_server
    out = to_docx(linked_image_odt(f"{base}/logo.png"), "申报书.odt")
    assert sniff(out) == "docx"
    assert hits == []


def test_soffice_runs_with_no_network_and_a_memory_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A stand-in soffice reports its network namespace and address-space limit."""
    import award.intake.convert

    if not award.intake.convert.sandbox_prefix():
        pytest.skip("no network namespace on this machine (unshare unavailable)")
    fake = tmp_path / "soffice"
    fake.write_text('#!/bin/sh\nreadlink /proc/self/ns/net > "$PROBE/ns"\n'
                    'grep "Max address space" /proc/self/limits > "$PROBE/limits"\n'
                    'cat /proc/net/dev > "$PROBE/dev"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("AWARD_SOFFICE", str(fake))
    monkeypatch.setenv("PROBE", str(tmp_path))
    with pytest.raises(ConversionError):  # the stand-in writes no output
        to_docx(RTF, "旧.doc")
    assert (tmp_path / "ns").read_text().strip() != os.readlink("/proc/self/ns/net")
    assert str(award.intake.convert.MEMORY_LIMIT) in (tmp_path / "limits").read_text()
    devices = [line.split(":")[0].strip() for line in (tmp_path / "dev").read_text().splitlines()[2:]]
    assert devices == ["lo"]

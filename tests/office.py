"""Test helpers that make files the way applicants do: LibreOffice exports and round trips, scans, edited forms."""

from __future__ import annotations

import copy
import io
import os
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from award.intake.convert import find_soffice, office_env

SOFFICE = find_soffice()
needs_soffice = pytest.mark.skipif(
    SOFFICE is None and not os.environ.get("CI"), reason="LibreOffice (soffice) not installed"
)
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W = f"{{{W_NS}}}"


def soffice(files: dict[str, bytes], fmt: str, tmp: Path) -> dict[str, bytes]:
    """Convert files with Debian's LibreOffice in one run (own profile): {name: converted bytes}."""
    assert SOFFICE is not None, "soffice must be installed (CI sets CI=1)"
    indir, outdir = tmp / f"in-{fmt}", tmp / f"out-{fmt}"
    indir.mkdir(parents=True, exist_ok=True)
    outdir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (indir / name).write_bytes(data)
    profile = f"-env:UserInstallation={(tmp / 'lo-profile').as_uri()}"
    subprocess.run(
        [SOFFICE, profile, "--headless", "--norestore", "--convert-to", fmt, "--outdir", str(outdir),
         *[str(indir / n) for n in files]],
        check=True, capture_output=True, timeout=300, env=office_env(tmp),
    )
    out = {}
    for name in files:
        target = outdir / (Path(name).stem + "." + fmt.split(":")[0])
        assert target.exists(), f"LibreOffice did not convert {name} to {fmt}"
        out[name] = target.read_bytes()
    return out


def scan_of(pdf: bytes) -> bytes:
    """The PDF as a scanner makes it: every page an image, no text layer (pypdfium2 renders, Pillow writes)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    images = [page.render(scale=1.5).to_pil().convert("RGB") for page in document]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=108)
    return buf.getvalue()


# --------------------------------------------------------------------------- editing a .docx as applicants do


def edit_document(docx: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    """Apply ``edit(root)`` to word/document.xml of a .docx and return the new file."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(docx))
    root = etree.fromstring(src.read("word/document.xml"))
    edit(root)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True) \
                if info.filename == "word/document.xml" else src.read(info)
            dst.writestr(info.filename, data)
    return out.getvalue()


def _text(el: etree._Element) -> str:
    return "".join(t.text or "" for t in el.iter(f"{W}t"))


def set_text(tc: etree._Element, text: str) -> None:
    """Replace a cell's text by one run."""
    ps = tc.findall(f"{W}p")
    for p in ps[1:]:
        tc.remove(p)
    p = ps[0]
    for child in list(p):
        if child.tag != f"{W}pPr":
            p.remove(child)
    r = etree.SubElement(p, f"{W}r")
    t = etree.SubElement(r, f"{W}t")
    t.text = text


def retype_label(old: str, new: str):  # type: ignore[no-untyped-def]
    """An edit: the applicant retypes a label cell."""
    def edit(root: etree._Element) -> None:
        for tc in root.iter(f"{W}tc"):
            if _text(tc).strip() == old:
                set_text(tc, new)
                return
        raise AssertionError(f"no cell {old!r}")
    return edit


def insert_row_after(label: str, texts: list[str]):  # type: ignore[no-untyped-def]
    """An edit: a row of the applicant's own inserted after the row holding ``label``."""
    def edit(root: etree._Element) -> None:
        for tr in root.iter(f"{W}tr"):
            if any(_text(tc).strip() == label for tc in tr.iter(f"{W}tc")):
                new = copy.deepcopy(tr)
                for tc, text in zip(new.findall(f"{W}tc"), texts, strict=False):
                    set_text(tc, text)
                tr.addnext(new)
                return
        raise AssertionError(f"no row {label!r}")
    return edit


def split_table_at(label: str):  # type: ignore[no-untyped-def]
    """An edit: the table is split before the row holding ``label`` and a page break put between the halves."""
    def edit(root: etree._Element) -> None:
        for tbl in root.iter(f"{W}tbl"):
            rows = tbl.findall(f"{W}tr")
            at = next((i for i, tr in enumerate(rows) if any(_text(tc).strip() == label for tc in tr.iter(f"{W}tc"))),
                      None)
            if at is None:
                continue
            second = etree.Element(f"{W}tbl")
            for child in tbl:
                if child.tag in (f"{W}tblPr", f"{W}tblGrid"):
                    second.append(copy.deepcopy(child))
            for tr in rows[at:]:
                second.append(tr)
            brk = etree.Element(f"{W}p")
            etree.SubElement(etree.SubElement(brk, f"{W}r"), f"{W}br").set(f"{W}type", "page")
            tbl.addnext(brk)
            brk.addnext(second)
            return
        raise AssertionError(f"no row {label!r}")
    return edit

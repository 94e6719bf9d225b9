"""Active content in applicants' documents: found and reported, never stripped.

``scan(data, kind)`` returns the findings of one file (codes, in a stable order): ``dde`` (DDE/DDEAUTO fields),
``ole_object`` (embedded OLE objects or packages, which may carry an executable), ``activex``, ``script``
(OpenDocument scripts and event listeners), ``external_link`` (a template, frame, object or image loaded from
elsewhere), ``javascript``, ``auto_action`` (a PDF action run on opening: an ``/OpenAction`` dictionary or
``/AA``), ``launch`` (a PDF action that starts a program), ``embedded_file`` (files attached inside a PDF) and
``rich_media``. Macros are refused earlier (``award.intake.unzip``). The file is kept as it is; intake records the
findings for staff and tells the applicant (``templates/intake/messages.yaml``, ``active``).

A structurally broken PDF (no ``%%EOF`` near its end: typically a mail cut short) is reported by ``pdf_broken``.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib

from award.intake.filetypes import OLE_TYPES, OOXML_TYPES, ole_entry_names
from award.templating import message_group

_text = message_group("intake", "active")

ORDER = ("dde", "ole_object", "activex", "script", "external_link", "javascript", "auto_action", "launch",
         "embedded_file", "rich_media")
MB = 1024 * 1024
XML_BUDGET = 64 * MB  # XML read from one OOXML/ODF document
INFLATE_BUDGET = 64 * MB  # bytes inflated from one PDF's object streams

_DDE = re.compile(rb"\bDDE(?:AUTO)?\b", re.IGNORECASE)
_DDE_UTF16 = (re.compile("DDEAUTO".encode("utf-16-le")), re.compile(" DDE ".encode("utf-16-le")))
_INSTR_TEXT = re.compile(rb"<w:instrText[^>]*>([^<]*)</w:instrText>")
_INSTR_ATTR = re.compile(rb'w:instr="([^"]*)"')
_OLE_TAGS = re.compile(rb"<(?:w:object|o:OLEObject|v:imagedata[^>]*o:relid)\b")
_EXTERNAL_REL = re.compile(rb"<Relationship\b[^>]*>", re.IGNORECASE)
_RISKY_REL_TYPES = (b"/attachedTemplate", b"/oleObject", b"/frame", b"/subDocument", b"/image", b"/package",
                    b"/externalLinkPath", b"/control")


def labels(codes: list[str]) -> list[str]:
    """The Chinese names of findings (``active.labels`` in ``templates/intake/messages.yaml``)."""
    names = {
        "dde": _text("labels.dde"), "ole_object": _text("labels.ole_object"), "activex": _text("labels.activex"),
        "script": _text("labels.script"), "external_link": _text("labels.external_link"),
        "javascript": _text("labels.javascript"), "auto_action": _text("labels.auto_action"),
        "launch": _text("labels.launch"), "embedded_file": _text("labels.embedded_file"),
        "rich_media": _text("labels.rich_media"),
    }
    return [names[code] for code in codes]


def problem_text(name: str, codes: list[str]) -> str:
    """What staff read about a file with active content."""
    return _text("problem", name=name, labels=labels(codes))


def scan(data: bytes, kind: str) -> list[str]:
    """The active-content findings of one file whose sniffed type is ``kind`` (empty when none or unreadable)."""
    found: set[str] = set()
    try:
        if kind in OOXML_TYPES:
            _ooxml(data, found)
        elif kind in ("odt", "ods", "odp"):
            _odf(data, found)
        elif kind in OLE_TYPES:
            _ole(data, found)
        elif kind == "rtf":
            _rtf(data, found)
        elif kind == "pdf":
            _pdf(data, found)
    except (zipfile.BadZipFile, zlib.error, struct.error, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError, KeyError):
        pass  # a broken file is refused or reported elsewhere; nothing more to find here
    return [code for code in ORDER if code in found]


def _ooxml(data: bytes, found: set[str]) -> None:
    budget = XML_BUDGET
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            name = info.filename.lower()
            if "/embeddings/" in name or (name.endswith(".bin") and "oleobject" in name):
                found.add("ole_object")
            if "/activex/" in name:
                found.add("activex")
            if "externallink" in name:
                found.add("external_link")
            if not name.endswith((".xml", ".rels")) or info.file_size > budget or "/theme/" in name or name.endswith(
                    ("styles.xml", "fonttable.xml", "settings.xml", "numbering.xml", "websettings.xml")):
                continue
            budget -= info.file_size
            xml = zf.read(info)
            if name.endswith(".rels"):
                for rel in _EXTERNAL_REL.findall(xml):
                    if b'TargetMode="External"' in rel and any(t in rel for t in _RISKY_REL_TYPES):
                        found.add("external_link")
                continue
            instructions = (b"".join(_INSTR_TEXT.findall(xml)) + b" " + b" ".join(_INSTR_ATTR.findall(xml))
                            if b"instr" in xml else b"")
            if _DDE.search(instructions) or b"ddeLink" in xml:
                found.add("dde")
            if _OLE_TAGS.search(xml) or b"<oleObject" in xml:
                found.add("ole_object")


def _odf(data: bytes, found: set[str]) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        if any(n.startswith(("Basic/", "Scripts/")) for n in names):
            found.add("script")
        if any(n.startswith("ObjectReplacements/") or n.endswith("/content.xml") and n.startswith("Object")
               for n in names):
            found.add("ole_object")
        for part in ("content.xml", "styles.xml"):
            if part not in names or zf.getinfo(part).file_size > XML_BUDGET:
                continue
            xml = zf.read(part)
            if b"<office:script" in xml or b"<script:event-listener" in xml:
                found.add("script")
            if b"<draw:object" in xml or b"<draw:applet" in xml or b"<draw:plugin" in xml:
                found.add("ole_object")
            if re.search(rb'<draw:image[^>]*xlink:href="(?:https?|ftp|file|smb)://', xml, re.IGNORECASE):
                found.add("external_link")
            if _DDE.search(b" ".join(re.findall(rb"<text:dde-connection-decl[^>]*>", xml))) or b"dde-connection" in xml:
                found.add("dde")


def _ole(data: bytes, found: set[str]) -> None:
    names = {n.lower() for n in ole_entry_names(data)}
    if "objectpool" in names or "\x01ole10native" in names:
        found.add("ole_object")
    if any(p.search(data) for p in _DDE_UTF16) or re.search(rb"DDEAUTO", data):
        found.add("dde")


def _rtf(data: bytes, found: set[str]) -> None:
    if re.search(rb"\\object\b|\\objdata\b|\\objemb\b", data):
        found.add("ole_object")
    if re.search(rb"\\fldinst[^}]*DDE", data, re.IGNORECASE):
        found.add("dde")


# ------------------------------------------------------------------------------------------ PDF

_PDF_NAME = re.compile(rb"/(?:[A-Za-z0-9_.+-]|#[0-9A-Fa-f]{2})+")
_PDF_NAMES = {
    b"/JavaScript": "javascript", b"/JS": "javascript", b"/Launch": "launch", b"/EmbeddedFiles": "embedded_file",
    b"/EmbeddedFile": "embedded_file", b"/FileAttachment": "embedded_file", b"/RichMedia": "rich_media",
    b"/AA": "auto_action",
}
_OBJSTM = re.compile(rb"/Type\s*/ObjStm\b")
_STREAM = re.compile(rb"stream\r?\n")


def _pdf_names(chunk: bytes, found: set[str]) -> None:
    for match in _PDF_NAME.finditer(chunk):
        token = match.group()
        if b"#" in token:  # /J#61vaScript is /JavaScript
            token = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), token)
        code = _PDF_NAMES.get(token)
        if code:
            found.add(code)
        elif token == b"/OpenAction" and chunk[match.end():match.end() + 40].lstrip().startswith(b"<<"):
            found.add("auto_action")  # an action dictionary; a plain destination ([page /Fit]) is harmless


_PDF_RISKY = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFiles?|FileAttachment|RichMedia|AA|OpenAction)(?![A-Za-z0-9_.+#-])")
_PDF_ESCAPED = re.compile(rb"/[A-Za-z0-9_.+-]*#[0-9A-Fa-f]{2}")


def _pdf_scan(chunk: bytes, found: set[str]) -> None:
    """Names in ``chunk``: one regex for the plain risky names; the token walk only where a name is #-escaped."""
    for match in _PDF_RISKY.finditer(chunk):
        _pdf_names(chunk[match.start():match.end() + 48], found)
    if _PDF_ESCAPED.search(chunk):
        _pdf_names(chunk, found)


def _pdf(data: bytes, found: set[str]) -> None:
    _pdf_scan(data, found)
    budget = INFLATE_BUDGET
    for match in _OBJSTM.finditer(data):  # dictionaries hidden in compressed object streams
        stream = _STREAM.search(data, match.end(), match.end() + 4096)
        if stream is None:
            continue
        end = data.find(b"endstream", stream.end())
        if end < 0:
            continue
        inflater = zlib.decompressobj()
        try:
            plain = inflater.decompress(data[stream.end():end], budget)
        except zlib.error:
            continue
        budget -= len(plain)
        _pdf_scan(plain, found)
        if budget <= 0:
            break


def pdf_broken(data: bytes) -> bool:
    """True when a PDF with objects has no ``%%EOF`` in its last kilobyte (cut short, e.g. by a truncated mail)."""
    return b"%%EOF" not in data[-1024:] and b" obj" in data[:65536]

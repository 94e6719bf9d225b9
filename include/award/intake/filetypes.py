"""Real file types from magic bytes, and extension checks with reasons in Chinese.

Hand-written magic for the small set of types applicants send (no extra dependency): PDF, OOXML
(docx/xlsx/pptx, told apart by ``[Content_Types].xml``/``word/document.xml``), OpenDocument, plain zip,
OLE2 compound files (doc/xls/ppt/wps, told apart by their directory entries), rar, 7z, gzip, bzip2, xz,
tar, images, Windows executables, RTF and text.
"""

from __future__ import annotations

import io
import mimetypes
import struct
import zipfile
import zlib
from pathlib import PurePosixPath

from award.templating import message_catalogue, message_group

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OOXML_TYPES = frozenset({"docx", "xlsx", "pptx", "ooxml"})
ZIP_BASED = OOXML_TYPES | {"zip", "odt", "ods", "odp"}
OLE_TYPES = frozenset({"doc", "xls", "ppt", "ole2"})
ARCHIVE_TYPES_UNSUPPORTED = frozenset({"rar", "7z", "gzip", "bzip2", "xz", "tar"})
# applicant-facing reasons and the types' Chinese names: templates/intake/messages.yaml (filetype)
_text = message_group("intake", "filetype")

# Extension -> real types accepted under it. Word-family extensions are lenient (a .docx renamed .doc,
# or RTF saved as .doc by WPS, opens fine in every office suite); anything else must match.
EXTENSION_TYPES: dict[str, frozenset[str]] = {
    ".pdf": frozenset({"pdf"}),
    ".docx": frozenset({"docx"}),
    ".docm": frozenset({"docx"}),
    ".dotx": frozenset({"docx"}),
    ".dotm": frozenset({"docx"}),
    ".doc": frozenset({"doc", "ole2", "docx", "rtf"}),
    ".dot": frozenset({"doc", "ole2"}),
    ".wps": frozenset({"doc", "ole2", "docx", "rtf"}),
    ".rtf": frozenset({"rtf"}),
    ".xlsx": frozenset({"xlsx"}),
    ".xlsm": frozenset({"xlsx"}),
    ".xltm": frozenset({"xlsx"}),
    ".xls": frozenset({"xls", "ole2", "xlsx"}),
    ".et": frozenset({"xls", "ole2", "xlsx"}),
    ".pptx": frozenset({"pptx"}),
    ".pptm": frozenset({"pptx"}),
    ".ppt": frozenset({"ppt", "ole2", "pptx"}),
    ".dps": frozenset({"ppt", "ole2", "pptx"}),
    ".odt": frozenset({"odt"}),
    ".ods": frozenset({"ods"}),
    ".odp": frozenset({"odp"}),
    ".zip": ZIP_BASED,
    ".rar": frozenset({"rar"}),
    ".7z": frozenset({"7z"}),
    ".gz": frozenset({"gzip"}),
    ".tgz": frozenset({"gzip"}),
    ".bz2": frozenset({"bzip2"}),
    ".xz": frozenset({"xz"}),
    ".tar": frozenset({"tar"}),
    ".png": frozenset({"png"}),
    ".jpg": frozenset({"jpeg"}),
    ".jpeg": frozenset({"jpeg"}),
    ".gif": frozenset({"gif"}),
    ".bmp": frozenset({"bmp"}),
    ".tif": frozenset({"tiff"}),
    ".tiff": frozenset({"tiff"}),
    ".txt": frozenset({"text"}),
    ".csv": frozenset({"text"}),
}

CONTENT_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "zip": "application/zip",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "rar": "application/vnd.rar",
    "7z": "application/x-7z-compressed",
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "tar": "application/x-tar",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "rtf": "application/rtf",
    "text": "text/plain",
}

EXTENSIONS: dict[str, str] = {
    "pdf": ".pdf",
    "docx": ".docx",
    "xlsx": ".xlsx",
    "pptx": ".pptx",
    "odt": ".odt",
    "ods": ".ods",
    "odp": ".odp",
    "zip": ".zip",
    "doc": ".doc",
    "xls": ".xls",
    "ppt": ".ppt",
    "rar": ".rar",
    "7z": ".7z",
    "gzip": ".gz",
    "tar": ".tar",
    "png": ".png",
    "jpeg": ".jpg",
    "gif": ".gif",
    "bmp": ".bmp",
    "tiff": ".tif",
    "rtf": ".rtf",
    "text": ".txt",
}


def extension(filename: str) -> str:
    """Lower-case extension of a file name (``"申报书.DOCX"`` -> ``".docx"``), or ``""``."""
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


# Magic numbers at offset 0, tried in order after the containers (zip, OLE) and PDF.
_MAGIC: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"Rar!\x1a\x07",), "rar"),
    ((b"7z\xbc\xaf\x27\x1c",), "7z"),
    ((b"\x1f\x8b",), "gzip"),
    ((b"BZh",), "bzip2"),
    ((b"\xfd7zXZ\x00",), "xz"),
    ((b"\x89PNG\r\n\x1a\n",), "png"),
    ((b"\xff\xd8\xff",), "jpeg"),
    ((b"GIF87a", b"GIF89a"), "gif"),
    ((b"BM",), "bmp"),
    ((b"II*\x00", b"MM\x00*"), "tiff"),
    ((b"{\\rtf",), "rtf"),
)


# Executables, checked before PDF: Windows PE/DOS (MZ), ELF, Mach-O (32/64-bit, both byte orders, universal)
_EXECUTABLES: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"MZ",), "exe"),
    ((b"\x7fELF",), "elf"),
    ((b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"), "macho"),
)
EXECUTABLE_TYPES = frozenset({"exe", "elf", "macho"})


def sniff(data: bytes) -> str:
    """Return the real type of ``data`` from its magic bytes (see ``type_label`` for the names)."""
    if not data:
        return "empty"
    head = data[:512]
    # container magic at offset 0 wins: a zip whose first member is a stored PDF holds "%PDF-" near its start
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _sniff_zip(data)
    if head.startswith(OLE_MAGIC):
        return _sniff_ole(data)
    # an executable is refused whatever else its first kilobyte holds (a "%PDF-" string must not make it a PDF)
    for prefixes, kind in _EXECUTABLES:
        if head.startswith(prefixes):
            return kind
    if head.lstrip(b"\r\n\t \x00\xef\xbb\xbf")[:5] == b"%PDF-" or b"%PDF-" in data[:1024]:
        return "pdf"
    if len(data) > 262 and data[257:262] == b"ustar":  # before the prefixes: a member name may start like one
        return "tar"
    for prefixes, kind in _MAGIC:
        if head.startswith(prefixes) and (kind != "bmp" or len(data) > 14):
            return kind
    if _looks_like_text(data[:8192]):
        return "text"
    return "unknown"


def _looks_like_text(sample: bytes) -> bool:
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in sample:
        return False
    controls = sum(1 for b in sample if b < 0x20 and b not in (9, 10, 12, 13, 27))
    if controls > len(sample) // 100:
        return False
    for codec in ("utf-8", "gb18030"):
        try:
            sample.decode(codec)
            return True
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is fine.
            if exc.start >= len(sample) - 4:
                return True
    return False


def _sniff_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:
                mime = zf.read("mimetype")[:100]
                for kind in ("text", "spreadsheet", "presentation"):
                    if mime == f"application/vnd.oasis.opendocument.{kind}".encode():
                        return {"text": "odt", "spreadsheet": "ods", "presentation": "odp"}[kind]
    except (zipfile.BadZipFile, zlib.error, struct.error, OSError, EOFError, NotImplementedError, ValueError, KeyError, RuntimeError):
        return "zip"
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names or any(n.startswith("word/") for n in names):
            return "docx"
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
        if any(n.startswith("ppt/") for n in names):
            return "pptx"
        return "ooxml"
    return "zip"


def ole_entry_names(data: bytes) -> set[str]:
    """Names of the storages/streams of an OLE2 compound file (empty set when it cannot be read)."""
    try:
        return _ole_entry_names(data)
    except (struct.error, IndexError, ValueError):
        return set()


def _ole_entry_names(data: bytes) -> set[str]:
    if not data.startswith(OLE_MAGIC) or len(data) < 512:
        return set()
    sector_shift = struct.unpack_from("<H", data, 0x1E)[0]
    if sector_shift not in (9, 12):
        return set()
    size: int = 1 << sector_shift
    num_fat: int = struct.unpack_from("<I", data, 0x2C)[0]
    first_dir = struct.unpack_from("<I", data, 0x30)[0]
    first_difat = struct.unpack_from("<I", data, 0x44)[0]
    fat_sectors = [s for s in struct.unpack_from("<109I", data, 0x4C) if s < 0xFFFFFFFA]

    def offset(sec: int) -> int:
        return (sec + 1) * size

    seen: set[int] = set()
    sector = first_difat
    while sector < 0xFFFFFFFA and sector not in seen and len(fat_sectors) < num_fat:
        seen.add(sector)
        entries = struct.unpack_from(f"<{size // 4}I", data, offset(sector))
        fat_sectors.extend(s for s in entries[:-1] if s < 0xFFFFFFFA)
        sector = entries[-1]

    fat: list[int] = []
    for sec in fat_sectors[:num_fat]:
        fat.extend(struct.unpack_from(f"<{size // 4}I", data, offset(sec)))
    names: set[str] = set()
    sector, steps = first_dir, 0
    while sector < 0xFFFFFFFA and steps < 100_000:
        base = offset(sector)
        if base + size > len(data):
            break
        for i in range(size // 128):
            entry = data[base + i * 128 : base + (i + 1) * 128]
            name_len = struct.unpack_from("<H", entry, 0x40)[0]
            if entry[0x42] in (1, 2, 5) and 2 <= name_len <= 64:
                names.add(entry[: name_len - 2].decode("utf-16-le", "replace"))
        sector = fat[sector] if sector < len(fat) else 0xFFFFFFFE
        steps += 1
    return names


def _sniff_ole(data: bytes) -> str:
    names = {n.lower() for n in ole_entry_names(data)}
    if "worddocument" in names:
        return "doc"
    if "workbook" in names or "book" in names:
        return "xls"
    if "powerpoint document" in names:
        return "ppt"
    return "ole2"


def ole_has_macros(data: bytes) -> bool:
    """True when an OLE2 document (.doc/.xls/.wps) carries a VBA project."""
    names = {n.lower() for n in ole_entry_names(data)}
    return bool(names & {"macros", "_vba_project_cur", "vba", "_vba_project"})


def guess_content_type(filename: str, data: bytes) -> str:
    """MIME type from the real content, falling back to the extension, then ``application/octet-stream``."""
    kind = sniff(data)
    if kind in CONTENT_TYPES:
        return CONTENT_TYPES[kind]
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def check_extension(filename: str, data: bytes) -> str | None:
    """Return a Chinese reason when the real type of ``data`` does not match the extension of ``filename``."""
    kind = sniff(data)
    ext = extension(filename)
    if kind == "empty":
        return _text("empty", name=filename)
    if kind in EXECUTABLE_TYPES:
        return _text("not_material", name=filename, label=type_label(kind))
    accepted = EXTENSION_TYPES.get(ext)
    if accepted is None or kind in accepted:
        return None
    if kind == "unknown":
        return _text("unreadable", name=filename, ext=ext)
    return _text("mismatch", name=filename, ext=ext, label=type_label(kind))


def type_label(kind: str) -> str:
    """The Chinese name of a type returned by ``sniff`` (the type code itself when it has none)."""
    labels: dict[str, str] = message_catalogue("intake")["filetype"]["type_labels"]
    return str(labels.get(kind, kind))

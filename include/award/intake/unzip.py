"""Safe expansion of zip archives sent by applicants, and safety checks on single attachments.

Nothing is written to disk: members come back as bytes. Only zip is opened; rar/7z/tar/gzip/bzip2/xz are
refused with a request to resubmit as zip or as single files.

Whole-archive refusals (``files`` is empty, one refusal whose ``path`` is the archive name):
``unsupported_archive``, ``corrupt`` (unreadable zip, or a member failing its CRC check), ``zip_bomb``
(declared or actual expanded total over ``max_total_bytes``; expanded/compressed ratio over ``max_ratio``
for the archive or one member, checked once the expanded size passes 1 MiB since small files may compress
very well; a member expanding past its declared size), ``too_many_files`` (more than ``max_members``
entries), ``encrypted`` (every file member encrypted) and ``type_mismatch`` (the archive is not a zip).

Per-member refusals (the other members are still returned): ``path_traversal`` (``..``, absolute paths,
drive letters, symbolic links), ``encrypted`` (some members only), ``too_large``, ``macro_document``,
``xml_entities``, ``type_mismatch``, ``broken_pdf`` (a PDF cut short), ``unsupported_archive`` (a rar/7z/... inside the zip), ``too_deep``
(a zip nested deeper than ``max_depth``, the outer archive being depth 1), ``duplicate`` (two members
with the same normalised path), ``empty`` (0-byte file), ``corrupt`` (a broken document inside).

Members of nested zips are returned with the inner archive's path as a folder:
``材料/附件.zip/证明.pdf``. Folder entries and ``__MACOSX/``, ``.DS_Store``, ``Thumbs.db`` are skipped.
"""

from __future__ import annotations

import hashlib
import io
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from award.intake.active import pdf_broken
from award.intake.filetypes import (
    ARCHIVE_TYPES_UNSUPPORTED,
    OLE_TYPES,
    OOXML_TYPES,
    check_extension,
    extension,
    ole_has_macros,
    sniff,
    type_label,
)
from award.templating import message_group

MB = 1024 * 1024
CHUNK = 64 * 1024
RATIO_MIN_BYTES = 1 * MB
MACRO_EXTENSIONS = frozenset({".docm", ".dotm", ".xlsm", ".xltm", ".xlam", ".pptm", ".potm", ".ppsm", ".ppam"})
JUNK_PARTS = frozenset({"__macosx", ".ds_store", "thumbs.db", "desktop.ini"})


_text = message_group("intake", "archive")


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits applied when expanding an archive (sizes in bytes)."""

    max_total_bytes: int = 200 * MB
    max_ratio: int = 100
    max_members: int = 500
    max_file_bytes: int = 50 * MB
    max_depth: int = 2
    max_mail_bytes: int = 50 * MB  # a mail (raw) larger than this is refused before it is decoded
    max_attachments: int = 100  # attachments of one mail
    submission_max_files: int = 500  # files of one submission (mail or folder), archives expanded
    submission_max_bytes: int = 300 * MB  # their total size


@dataclass(frozen=True)
class Member:
    """One file taken out of an archive; ``path`` is normalised, with forward slashes."""

    path: str
    data: bytes = field(repr=False)
    sha256: str
    size: int


@dataclass(frozen=True)
class Refusal:
    """Why a file (or a whole archive) was not accepted: English code, Chinese text for the applicant."""

    path: str
    reason_code: str
    reason_text_zh: str


@dataclass
class ExpandResult:
    """Accepted members and refusals of one archive."""

    files: list[Member] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


class _WholeArchiveRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason_code)
        self.refusal = refusal


@dataclass
class _Budget:
    """Expanded bytes and member count shared by an archive and the archives nested in it."""

    limits: ArchiveLimits
    total: int = 0
    members: int = 0
    sink: Callable[[Member], Member] | None = None


def expand(data: bytes, name: str, limits: ArchiveLimits | None = None, *,
           sink: Callable[[Member], Member] | None = None) -> ExpandResult:
    """Expand the zip ``data`` (called ``name``) in memory under ``limits``; never raises on bad input.

    ``sink``: called with each accepted member as soon as it is read (e.g. to store it in the blob store); what it
    returns (typically the member without its bytes) is what ``files`` keeps, so members are not all held at once.
    A member handed to ``sink`` may still be dropped later (its archive refused as a whole): only the members in
    ``files`` count.
    """
    limits = limits or ArchiveLimits()
    result = ExpandResult()
    try:
        _expand_into(result, data, name, "", limits, _Budget(limits, sink=sink), depth=1)
    except _WholeArchiveRefused as exc:
        return ExpandResult(files=[], refusals=[exc.refusal])
    return result


def is_archive(name: str, data: bytes, *, kind: str | None = None) -> bool:
    """True when the attachment should go through ``expand`` (a zip, or an archive format we refuse).

    ``kind``: the caller's ``sniff(data)`` result, when it has one (saves opening a zip again).
    """
    kind = kind or sniff(data)
    return kind == "zip" or kind in ARCHIVE_TYPES_UNSUPPORTED or extension(name) in {".zip", ".rar", ".7z"}


def _expand_into(
    result: ExpandResult, data: bytes, name: str, prefix: str, limits: ArchiveLimits, budget: _Budget, depth: int
) -> None:
    kind = sniff(data)
    if kind in ARCHIVE_TYPES_UNSUPPORTED:
        raise _WholeArchiveRefused(
            Refusal(
                name, "unsupported_archive", _text("unsupported_archive", name=name, label=type_label(kind))
            )
        )
    if kind != "zip":
        raise _WholeArchiveRefused(
            Refusal(
                name,
                "type_mismatch",
                _text("not_zip", name=name, label=type_label(kind)),
            )
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, struct.error, OSError, EOFError, ValueError, NotImplementedError, IndexError) as exc:
        # IndexError: zipfile's own parsing of a damaged central directory (found by the fuzz test)
        raise _WholeArchiveRefused(
            Refusal(name, "corrupt", _text("corrupt", name=name))
        ) from exc
    with zf:
        files = [i for i in infos if not i.is_dir()]
        budget.members += len(infos)
        if budget.members > limits.max_members:
            raise _WholeArchiveRefused(
                Refusal(
                    name,
                    "too_many_files",
                    _text("too_many_files", name=name, max_members=limits.max_members),
                )
            )
        _check_declared(name, files, limits, budget)
        encrypted = [i for i in files if i.flag_bits & 0x1]
        if files and len(encrypted) == len(files):
            raise _WholeArchiveRefused(
                Refusal(name, "encrypted", _text("encrypted", name=name))
            )
        seen: set[str] = set()
        for info in files:
            raw_name = _member_name(info)
            shown = prefix + raw_name
            path, problem = normalise_member_path(raw_name)
            if problem is not None:
                result.refusals.append(
                    Refusal(
                        shown,
                        "path_traversal",
                        _text("unsafe_member", name=name, member=raw_name, problem=problem),
                    )
                )
                continue
            if path is None:
                continue
            full = prefix + path
            if stat.S_ISLNK(info.external_attr >> 16):
                result.refusals.append(
                    Refusal(full, "path_traversal", _text("link", name=name, member=path))
                )
                continue
            if info.flag_bits & 0x1:
                result.refusals.append(
                    Refusal(full, "encrypted", _text("member_encrypted", name=name, member=path))
                )
                continue
            if full in seen:
                result.refusals.append(
                    Refusal(full, "duplicate", _text("duplicate", name=name, member=path))
                )
                continue
            seen.add(full)
            content = _read_member(zf, info, name, path, limits, budget)
            if content is None:
                result.refusals.append(
                    Refusal(
                        full,
                        "too_large",
                        _text("member_too_large", name=name, member=path, max_mb=limits.max_file_bytes // MB),
                    )
                )
                continue
            _classify_member(result, content, full, limits, budget, depth)


def _check_declared(name: str, files: list[zipfile.ZipInfo], limits: ArchiveLimits, budget: _Budget) -> None:
    declared = sum(i.file_size for i in files)
    compressed = sum(i.compress_size for i in files)
    if budget.total + declared > limits.max_total_bytes:
        raise _WholeArchiveRefused(_bomb(name, limits))
    if declared > RATIO_MIN_BYTES and declared > limits.max_ratio * max(compressed, 1):
        raise _WholeArchiveRefused(_bomb(name, limits))
    for info in files:
        if info.file_size > RATIO_MIN_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _WholeArchiveRefused(_bomb(name, limits))


def _bomb(name: str, limits: ArchiveLimits) -> Refusal:
    return Refusal(name, "zip_bomb", _text("zip_bomb", name=name, max_mb=limits.max_total_bytes // MB))


def _read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, path: str, limits: ArchiveLimits, budget: _Budget
) -> bytes | None:
    """Read a member in chunks, counting real bytes; None when it is over the per-file limit."""
    chunks: list[bytes] = []
    size = 0
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                budget.total += len(chunk)
                if size > info.file_size or budget.total > limits.max_total_bytes:
                    raise _WholeArchiveRefused(_bomb(name, limits))
                if size > RATIO_MIN_BYTES and size > limits.max_ratio * max(info.compress_size, 1):
                    raise _WholeArchiveRefused(_bomb(name, limits))
                if size > limits.max_file_bytes:
                    return None
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, struct.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
            IndexError) as exc:
        raise _WholeArchiveRefused(
            Refusal(name, "corrupt", _text("member_corrupt", name=name, member=path))
        ) from exc
    return b"".join(chunks)


def _classify_member(
    result: ExpandResult, content: bytes, path: str, limits: ArchiveLimits, budget: _Budget, depth: int
) -> None:
    kind = sniff(content)
    if kind == "zip" and extension(path) == ".zip":
        if depth + 1 > limits.max_depth:
            result.refusals.append(
                Refusal(path, "too_deep", _text("too_deep", name=path))
            )
            return
        try:
            inner = ExpandResult()
            _expand_into(inner, content, path, path + "/", limits, budget, depth + 1)
        except _WholeArchiveRefused as exc:
            if exc.refusal.reason_code == "zip_bomb":
                raise
            result.refusals.append(exc.refusal)
            return
        result.files.extend(inner.files)
        result.refusals.extend(inner.refusals)
        return
    refusal = check_standalone_file(path, content, limits)
    if refusal is not None:
        result.refusals.append(refusal)
        return
    member = Member(path, content, hashlib.sha256(content).hexdigest(), len(content))
    result.files.append(budget.sink(member) if budget.sink is not None else member)


def _member_name(info: zipfile.ZipInfo) -> str:
    """Decoded member name: UTF-8 when flag bit 11 is set, else the raw bytes as UTF-8 or GB18030 (GBK)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return info.filename


_DRIVE = re.compile(r"^[A-Za-z]:")


def normalise_member_path(raw: str) -> tuple[str | None, str | None]:
    """Normalise a member name to ``a/b/c.pdf``; returns (path, problem) where problem is a Chinese phrase
    (``archive.member_problems`` in ``templates/intake/messages.yaml``).

    ``path`` is None for entries to skip silently (folders, ``__MACOSX`` and similar junk).
    """
    name = raw.replace("\\", "/")
    if "\x00" in name:
        return None, _text("member_problems.illegal_character")
    if name.startswith("/") or _DRIVE.match(name):
        return None, _text("member_problems.absolute_path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None, _text("member_problems.outside")
    if not parts or name.endswith("/"):
        return None, None
    if any(p.lower() in JUNK_PARTS for p in parts) or parts[-1].startswith("._"):
        return None, None
    return "/".join(parts), None


def check_standalone_file(name: str, data: bytes, limits: ArchiveLimits | None = None) -> Refusal | None:
    """Check one non-archive file (size, macros, XML entities, real type vs extension); None when fine.

    Zip archives return None here: pass them to ``expand`` instead. Other archive formats are refused.
    """
    limits = limits or ArchiveLimits()
    if len(data) > limits.max_file_bytes:
        return Refusal(name, "too_large", _text("too_large", name=name, max_mb=limits.max_file_bytes // MB))
    if not data:
        return Refusal(name, "empty", _text("empty", name=name))
    kind = sniff(data)
    ext = extension(name)
    if kind in ARCHIVE_TYPES_UNSUPPORTED:
        reason = _text("attachment_unsupported_archive", name=name, label=type_label(kind))
        return Refusal(name, "unsupported_archive", reason)
    if ext in MACRO_EXTENSIONS:
        return Refusal(name, "macro_document", _text("macro_document", name=name))
    mismatch = check_extension(name, data)
    if mismatch is not None:
        return Refusal(name, "type_mismatch", mismatch)
    if kind in OOXML_TYPES:
        issue = _ooxml_issue(data, name, limits.max_total_bytes)
        if issue is not None:
            return Refusal(name, issue[0], issue[1])
    if kind in OLE_TYPES and ole_has_macros(data):
        return Refusal(name, "macro_document", _text("macro_document", name=name))
    if kind == "pdf" and pdf_broken(data):
        return Refusal(name, "broken_pdf", _text("broken_pdf", name=name))
    return None


def safe_ooxml(data: bytes, *, name: str | None = None, max_bytes: int = 200 * MB) -> str | None:
    """Chinese reason when a .docx/.xlsx/.pptx holds DOCTYPE/ENTITY declarations or macros; else None.

    ``name`` is the file name shown in the reason (default: ``archive.ooxml.default_name``).
    """
    issue = _ooxml_issue(data, name if name is not None else _text("ooxml.default_name"), max_bytes)
    return issue[1] if issue else None


def _ooxml_issue(data: bytes, name: str, max_bytes: int) -> tuple[str, str] | None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, struct.error, OSError, EOFError, ValueError, IndexError):
        return "corrupt", _text("ooxml.corrupt", name=name)
    total = 0
    with zf:
        for info in zf.infolist():
            part = info.filename.lower()
            if part.endswith("vbaproject.bin") or part.endswith("vbadata.xml"):
                return "macro_document", _text("macro_document", name=name)
            if not part.endswith((".xml", ".rels", ".vml")):
                continue
            total += info.file_size
            if total > max_bytes or (
                info.file_size > RATIO_MIN_BYTES and info.file_size > 100 * max(info.compress_size, 1)
            ):
                return "zip_bomb", _text("ooxml.zip_bomb", name=name)
            try:
                xml = zf.read(info)
                if part == "[content_types].xml" and b"macroenabled" in xml.lower():
                    return "macro_document", _text("macro_document", name=name)
                SafeET.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
            except DefusedXmlException:
                return "xml_entities", _text("ooxml.xml_entities", name=name)
            except (SafeET.ParseError, zipfile.BadZipFile, zlib.error, struct.error, OSError, EOFError, ValueError,
                    NotImplementedError, RuntimeError):
                return "corrupt", _text("ooxml.corrupt", name=name)
    return None

"""What one mail, or one city-batch applicant folder, brought in: its files, screened as they are read.

``unpack`` expands archives safely (``award.intake.unzip.expand``), screens single files (``check_standalone_file``;
a .docx by ``screen_docx``), stores each accepted file in the blob store at once and keeps its bytes only when
``award.intake.classify`` reads them. Also the small readings of a submission every step uses: the sender's
address, the applicant's key on its form, sizes and times as people read them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from award.config import Season
from award.enums import ApplicantKind, ApplicationChannel
from award.forms import FormError, ParsedForm, screen_docx
from award.intake.active import scan as active_scan
from award.intake.filetypes import extension, sniff
from award.intake.kinds import needs_data
from award.intake.unzip import ArchiveLimits, Member, Refusal, check_standalone_file, expand, is_archive
from award.store.models import Applicant, InboundItem
from award.templating import message_group
from award.textclean import clean, fit

MB = 1024 * 1024
SUBJECT_CHARS = 200  # a subject quoted back in a mail
_ADDRESS = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")

_text = message_group("intake", "intake")


@dataclass
class FileIn:
    """One usable file of a submission, with its kind once classified."""

    name: str
    data: bytes
    sha256: str
    item: InboundItem
    kind: str = "other"
    form: ParsedForm | None = None
    content_type: str | None = None
    real: str = ""  # sniff(data), once known
    document: bytes | None = field(default=None, repr=False)  # word/document.xml once screen_docx passed it
    findings: list[str] = field(default_factory=list)  # active content (award.intake.active): kept, reported
    size: int = -1  # len(data) as received (data may be released once stored)
    uri: str | None = None  # where the blob store keeps it, once stored

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = len(self.data)


@dataclass
class Refused:
    """A file that was refused or could not be read, and the reason (Chinese)."""

    filename: str
    code: str
    reason: str
    item: InboundItem


@dataclass
class Submission:
    """What one mail, or one city-batch applicant folder, brought in."""

    family: ApplicationChannel  # mail | city
    items: list[InboundItem]
    files: list[FileIn] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    reply_to: str | None = None
    subject: str = ""
    city: str | None = None
    folder: str | None = None
    received_at: datetime | None = None
    note: str | None = None  # why no form was usable
    form_file: FileIn | None = None  # the form chosen by ``award.intake.classify.choose_form``
    form: ParsedForm | None = None
    whole: Refused | None = None  # the whole submission is refused (too large, too many files): nothing is added
    stand_in: str | None = None  # ``pending:<sha256>`` when the form's key cannot be read (award.intake.keyentry)
    key_problem: tuple[str, str] | None = None  # (key_not_found | key_unread, the key's label)

    def refuse_whole(self, code: str, reason: str) -> None:
        """Refuse the whole submission with one reason; its files are dropped."""
        self.whole = Refused(_text("whole_submission"), code, reason, self.items[0])
        self.files.clear()
        self.refused.clear()

    def over_limits(self, limits: ArchiveLimits) -> bool:
        """Refuse the whole submission when its files are over the per-submission limits; True when refused."""
        if self.whole is not None:
            return True
        if len(self.files) > limits.submission_max_files:
            self.refuse_whole("too_many_files", _text("submission_too_many_files", count=len(self.files),
                                                      max_files=limits.submission_max_files))
        elif (total := sum(f.size for f in self.files)) > limits.submission_max_bytes:
            self.refuse_whole("submission_too_large", _text("submission_too_large", size=size_text(total),
                                                            max_mb=limits.submission_max_bytes // MB))
        return self.whole is not None


def unpack(
    sub: Submission, item: InboundItem, name: str, data: bytes, limits: ArchiveLimits, sha256: str | None = None,
    *, store: Callable[[bytes], str] | None = None,
) -> None:
    """Expand archives and screen single files into ``sub.files`` / ``sub.refused``.

    ``sha256``: the SHA-256 of ``data`` when the caller computed it from these very bytes (mail attachments).
    ``store``: puts bytes in the blob store and returns the URI; each accepted file (archive members as they are
    read) is stored at once, and its bytes are kept only when ``classify`` needs them (``needs_data``), so a
    submission never holds all its expanded files.
    """
    name = clean(name, 300) or "unnamed"

    def accept(path: str, content: bytes, sha: str, real: str, document: bytes | None = None) -> None:
        keep = store is None or needs_data(path, real)
        if sha == item.sha256:  # a city upload is its own archived blob: no second write
            uri: str | None = item.storage_uri
        else:
            uri = store(content) if store is not None else None
        sub.files.append(FileIn(path, content if keep else b"", sha, item, real=real, document=document,
                                findings=active_scan(content, real), size=len(content), uri=uri))

    real = sniff(data)
    if is_archive(name, data, kind=real):
        before = len(sub.files)

        def sink(m: Member) -> Member:
            accept(m.path, m.data, m.sha256, sniff(m.data))
            return Member(m.path, b"", m.sha256, m.size)

        result = expand(data, name, limits, sink=sink)
        for r in result.refusals:
            sub.refused.append(Refused(r.path, r.reason_code, r.reason_text_zh, item))
        kept = {(m.path, m.sha256) for m in result.files}  # members of an inner archive refused later are dropped
        sub.files[before:] = [f for f in sub.files[before:] if (f.name, f.sha256) in kept]
        return
    if real == "docx" and extension(name) == ".docx" and 0 < len(data) <= limits.max_file_bytes:
        # screen_docx checks every XML part for DOCTYPE/ENTITY declarations and macro parts (the same safety
        # as check_standalone_file's full parse, at a fraction of the cost); the document.xml it returns is
        # what classify parses (no second unzip and screen)
        try:
            document = screen_docx(data, PurePosixPath(name).name)
        except FormError as exc:
            sub.refused.append(Refused(name, "unsafe_document", _text(
                "unsafe_document", name=PurePosixPath(name).name, problem=exc.message), item))
            return
        accept(name, data, sha256 or hashlib.sha256(data).hexdigest(), real, document)
        return
    refusal: Refusal | None = check_standalone_file(name, data, limits)
    if refusal is not None:
        sub.refused.append(Refused(refusal.path, refusal.reason_code, refusal.reason_text_zh, item))
        return
    accept(name, data, sha256 or hashlib.sha256(data).hexdigest(), real)


# ------------------------------------------------------------------------------------------ readings


def limits_of(season: Season) -> ArchiveLimits:
    """Archive limits from the season's ``limits`` section."""
    lim = season.limits
    return ArchiveLimits(
        max_total_bytes=lim.zip_max_total_mb * MB, max_ratio=lim.zip_max_ratio, max_members=lim.zip_max_members,
        max_file_bytes=lim.max_file_mb * MB, max_mail_bytes=lim.max_mail_mb * MB, max_attachments=lim.max_attachments,
        submission_max_files=lim.submission_max_files, submission_max_bytes=lim.submission_max_total_mb * MB,
    )


def submission_pattern(season: Season) -> re.Pattern[str]:
    """Regex of this season's submission numbers (``GS-2023-0007``)."""
    return re.compile(rf"\b{re.escape(season.submission_prefix)}-\d{{4}}-\d{{4,}}\b")


def mail_address(value: str | None) -> str | None:
    """A usable e-mail address (lower case), or None: cleaned, at most 254 characters (RFC 5321), one ``@``."""
    text = (clean(value) or "").strip().lower()
    return text if len(text) <= 254 and _ADDRESS.fullmatch(text) else None


def norm_key(key: str) -> str:
    """A form's key as stored: upper case, and the part after a ``/`` kept as written."""
    return (key or "").strip().upper() if "/" not in (key or "") else key.split("/", 1)[0].strip().upper() + "/" + (
        key.split("/", 1)[1].strip())


def applicant_key(form: ParsedForm) -> tuple[str, str]:
    """(Applicant.kind, Applicant.key) of a parsed form."""
    kind = ApplicantKind.PERSON if form.category == "individual" else ApplicantKind.ORGANIZATION
    return kind, fit(Applicant.key, norm_key(form.key)) or ""


def sub_key(sub: Submission) -> tuple[str, str]:
    """(Applicant.kind, Applicant.key) of a submission's form: its stand-in key when the key cannot be read."""
    assert sub.form is not None
    kind, key = applicant_key(sub.form)
    return (kind, sub.stand_in) if sub.stand_in is not None else (kind, key)


def size_text(size: int) -> str:
    """Human file size (B, KB, MB)."""
    if size < 1024:
        return f"{size} B"
    if size < MB:
        return f"{size / 1024:.1f} KB"
    return f"{size / MB:.1f} MB"


def dt_text(value: datetime | None) -> str:
    """A time as the mails write it (year, month, day in Chinese, then hh:mm); empty for None."""
    if value is None:
        return ""
    return f"{value.year}年{value.month}月{value.day}日{value.hour:02d}:{value.minute:02d}"

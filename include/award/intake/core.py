"""Intake: turn archived inbound items (e-mails, city uploads) into applicants, applications and materials.

Runs after the sources (``award.inbound.sources``) archived everything. For each pending item (status ``archived``,
purpose ``application``):

* decode (``award.inbound.mime.parse_message``), expand zips safely (``award.intake.unzip.expand``), check single
  files (``check_standalone_file``), convert .doc/.wps forms (``award.intake.convert.convert_many``);
* classify material kinds by file-name keywords (``templates/intake/rules.yaml``) and by content (a .docx that
  parses as a form is the form; an unnamed PDF whose text is a form copy is the PDF copy);
* match the application by season + credit code / ID number from the form, else by the submission number in
  the subject (``GS-2023-0007``), else (city batches) by the folder already linked; create it otherwise with a
  submission number ``<prefix>-<year>-<NNNN>`` (unique constraint + retry);
* add materials (identical content once per application; a newer version of a single-kind material supersedes
  the older, both kept), set the first state (RECEIVED / LATE after the provincial deadline / INELIGIBLE for
  defence-industry units), flag applications that came through both mail and a city batch, and queue e-mails
  (acknowledgment, refused files, late, wrong channel, multi-channel, no usable form) in the outbox.

City batches: ``incoming/<city>/<applicant folder>/...``; the city's own letter ``incoming/<city>/<...推荐函...>``
becomes a ``city_recommendation`` material of every application of that city's batch. Folder files that arrive
before their form wait (status ``waiting``) and join the application when the form comes.

Late: an item archived after ``season.dates.provincial_deadline`` is late (the message Date header is only
information). Materials for an existing application are still accepted until its ``correction_due`` date.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from award.clock import now
from award.config import Season
from award.forms import FormError, ParsedForm, parse_document, parse_form
from award.forms.spec import document_for
from award.inbound.archive import record_problem
from award.intake.active import labels as active_labels
from award.intake.active import problem_text as active_problem
from award.intake.active import scan as active_scan
from award.intake.filetypes import CONTENT_TYPES, extension, guess_content_type, sniff
from award.intake.keyentry import is_pending, key_problem, pending_text, stand_in_application, stand_in_key
from award.intake.unzip import ArchiveLimits, Member, Refusal, check_standalone_file, expand, is_archive
from award.mail.outbox import PreparedMail, enqueue_many
from award.mail.outbox import prepare as prepare_mail
from award.seasonfile import yaml_load
from award.states import State, audit, create_application_state, create_application_states
from award.store.models import Applicant, Application, InboundItem, Material, Problem
from award.templating import message_group, template_path
from award.textclean import clean, clean_fields, fit

log = logging.getLogger(__name__)

ACTOR = "intake"
RULES_FILE = template_path("intake/rules.yaml")
MAIL_CHANNELS = ("maildir", "imap")
STORAGE_CHANNELS = ("local", "s3")
INCOMING = "incoming/"
SINGLE_KINDS = frozenset({"form_docx", "form_pdf", "publicity_proof", "unit_opinion", "city_recommendation"})
WORD_OLD = frozenset({".doc", ".wps", ".rtf", ".odt"})
MB = 1024 * 1024
BATCH = 50  # submissions read, looked up and committed together


_text = message_group("intake", "intake")


def structure_text(code: str) -> str:
    """What was wrong with a mail's MIME structure, for its sender (``award.inbound.mime`` ``structure``)."""
    return {
        "no_boundary": _text("structure.no_boundary"), "too_deep": _text("structure.too_deep"),
        "truncated": _text("structure.truncated"), "unparseable": _text("structure.unparseable"),
    }[code]


# ------------------------------------------------------------------------------------------ rules


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    """The classification rules (keywords and labels) from ``templates/intake/rules.yaml``."""
    data: dict[str, Any] = yaml_load(RULES_FILE.read_text(encoding="utf-8"))
    return data


def kind_by_name(filename: str) -> str | None:
    """Material kind suggested by the file name (``form`` for a form of either format), or None."""
    stem = PurePosixPath(filename).name
    for rule in rules()["kind_keywords"]:
        if any(word in stem for word in rule["words"]):
            return str(rule["kind"])
    return None


def is_city_letter(filename: str) -> bool:
    """A city's recommendation letter (by name; .pdf/.docx/.doc/.ofd/.jpg...)."""
    return any(word in PurePosixPath(filename).name for word in rules()["city_letter_words"])


def submission_pattern(season: Season) -> re.Pattern[str]:
    """Regex of this season's submission numbers (``GS-2023-0007``)."""
    return re.compile(rf"\b{re.escape(season.submission_prefix)}-\d{{4}}-\d{{4,}}\b")


def limits_of(season: Season) -> ArchiveLimits:
    """Archive limits from the season's ``limits`` section."""
    lim = season.limits
    return ArchiveLimits(
        max_total_bytes=lim.zip_max_total_mb * MB, max_ratio=lim.zip_max_ratio, max_members=lim.zip_max_members,
        max_file_bytes=lim.max_file_mb * MB, max_mail_bytes=lim.max_mail_mb * MB, max_attachments=lim.max_attachments,
        submission_max_files=lim.submission_max_files, submission_max_bytes=lim.submission_max_total_mb * MB,
    )


def size_text(size: int) -> str:
    """Human file size (B, KB, MB)."""
    if size < 1024:
        return f"{size} B"
    if size < MB:
        return f"{size / 1024:.1f} KB"
    return f"{size / MB:.1f} MB"


# ------------------------------------------------------------------------------------------ files


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

    family: str  # mail | city
    items: list[InboundItem]
    files: list[FileIn] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    reply_to: str | None = None
    subject: str = ""
    city: str | None = None
    folder: str | None = None
    received_at: datetime | None = None
    note: str | None = None  # why no form was usable
    form_file: FileIn | None = None  # the form chosen by ``Intake.prepare``
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


def needs_data(name: str, real: str) -> bool:
    """Whether ``classify`` reads a file's bytes (a possible form, an unnamed PDF, a Word file to convert)."""
    by_name = kind_by_name(name)
    if real == "docx":
        return by_name in (None, "form")
    if real == "pdf":
        return by_name is None
    if extension(name) in WORD_OLD or real in ("doc", "rtf", "odt"):
        return by_name in (None, "form")
    return False


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
        from award.forms import screen_docx

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


def classify(sub: Submission) -> None:
    """Set each file's kind; parse forms (.docx, and .doc/.wps after conversion)."""
    from award.intake.convert import convert_many

    to_convert: dict[str, FileIn] = {}
    for f in sub.files:
        real = f.real = f.real or sniff(f.data)
        by_name = kind_by_name(f.name)
        f.content_type = _content_type(f.name, real)
        if real == "docx":
            if by_name in (None, "form"):
                try:
                    if f.document is not None:  # screened in unpack
                        f.form = parse_document(f.document, filename=PurePosixPath(f.name).name)
                    else:
                        f.form = parse_form(f.data, filename=PurePosixPath(f.name).name)
                    f.kind = "form_docx"
                    continue
                except FormError as exc:
                    if by_name == "form":
                        sub.refused.append(Refused(f.name, "form_unreadable", _form_reason(f.name, exc), f.item))
                        f.kind = "refused"
                        continue
            f.kind = by_name if by_name not in (None, "form") else "other"
        elif real == "pdf":
            if by_name == "form":
                f.kind = "form_pdf"
            elif by_name is not None:
                f.kind = by_name
            else:
                f.kind = "form_pdf" if _is_form_copy(f.data) else "other"
        elif extension(f.name) in WORD_OLD or real in ("doc", "rtf", "odt"):
            if by_name in (None, "form"):
                to_convert[f.name] = f
            else:
                f.kind = by_name
        else:
            f.kind = by_name if by_name not in (None, "form") else ("evidence" if real in _IMAGES else "other")
    if to_convert:
        has_docx_form = any(f.kind == "form_docx" for f in sub.files)
        results = convert_many({n: f.data for n, f in to_convert.items()})
        converted: list[FileIn] = []
        for name, f in to_convert.items():
            out = results[name]
            if isinstance(out, bytes):
                try:
                    form = parse_form(out, filename=PurePosixPath(name).name)
                    # the original (.doc/.wps) is kept as "other"; the converted .docx is the form
                    f.kind = "other"
                    converted.append(FileIn(
                        _text("converted_name", stem=str(PurePosixPath(name).with_suffix(""))), out,
                        hashlib.sha256(out).hexdigest(),
                        f.item, "form_docx", form, guess_content_type("x.docx", out)))
                    continue
                except FormError as exc:
                    if kind_by_name(name) == "form":
                        sub.refused.append(Refused(name, "form_unreadable", _form_reason(name, exc), f.item))
                        f.kind = "refused"
                        continue
                    f.kind = "other"
                    continue
            if kind_by_name(name) == "form" or not has_docx_form:
                sub.refused.append(Refused(name, "conversion_failed", out.reason, f.item))
                f.kind = "refused"
            else:
                f.kind = "other"
        sub.files.extend(converted)
    sub.files = [f for f in sub.files if f.kind != "refused"]


_IMAGES = frozenset({"png", "jpeg", "gif", "bmp", "tiff"})


def _content_type(name: str, real: str) -> str:
    """``guess_content_type`` for a file whose type was sniffed already."""
    return CONTENT_TYPES.get(real) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _form_reason(name: str, exc: FormError) -> str:
    return _text("form_unreadable", name=PurePosixPath(name).name, problem=exc.message)


def _is_form_copy(data: bytes) -> bool:
    from award.forms import extract_pdf_fields

    try:
        return bool(extract_pdf_fields(data))
    except Exception:  # noqa: BLE001 - any unreadable PDF is simply not a form copy
        return False


# ------------------------------------------------------------------------------------------ the run


@dataclass
class IntakeResult:
    """What one ``process_pending`` run did (counts only: XCom-safe)."""

    items: int = 0
    applications_created: int = 0
    materials_added: int = 0
    refused_files: int = 0
    late: int = 0
    ineligible: int = 0
    multi_channel: int = 0
    waiting: int = 0
    failed: int = 0
    held: int = 0
    mails_queued: int = 0
    touched: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        out = {k: v for k, v in self.__dict__.items() if isinstance(v, int)}
        out["applications_touched"] = len(self.touched)
        return out


class Intake:
    """One intake run over a session (caches the season's numbers and rules)."""

    def __init__(self, session: Session, rt: Any) -> None:
        self.session = session
        self.rt = rt
        self.season: Season = rt.season
        self.limits = limits_of(self.season)
        self.deadline = self.season.dates.provincial_deadline
        self.number_re = submission_pattern(self.season)
        self.result = IntakeResult()
        self._next_no: int | None = None
        self._creators: dict[int, str] = {}  # id(new Application) -> the address its first submission came from
        # look-ups of this run, both by the applicant's (kind, key) (a new applicant has no id until its batch is
        # flushed): the applicant and its application of this season (None: known to be absent); filled per
        # batch, kept in step by _create, cleared when a batch or an item fails
        self._applicants: dict[tuple[str, str], Applicant | None] = {}
        self._apps: dict[tuple[str, str], Application | None] = {}
        self._mails: list[PreparedMail] = []  # rendered, queued at the end of the batch (enqueue_many)
        # a batch applied at once (see _apply_batch): its new applications (flushed together) ...
        self._new: list[tuple[Application, State, str, dict[str, Any] | None]] | None = None
        # ... and material rows that supersede nothing, inserted by one executemany (_insert_pending)
        self._rows: list[dict[str, Any]] = []
        self._row_apps: dict[int, Application] = {}
        unit = self.season.recommending_unit
        self.base_ctx = {
            "unit": unit,
            "season_label": f"{self.season.award.edition}{self.season.award.name}",
            "deadline_text": _dt_text(self.deadline),
        }

    # ---------------------------------------------------------------- helpers
    def _ctx(self, greeting: str, **extra: Any) -> dict[str, Any]:
        return {**self.base_ctx, "greeting": greeting, **extra}

    def _mail(self, key: str, template: str, to: Iterable[str | None], app: Application | None, **ctx: Any) -> None:
        recipients = sorted({t for t in to if t})
        if not recipients:
            log.info("no recipient for %s (%s)", template, key)
            return
        greeting = ctx.pop("greeting", None) or (app.applicant.contact_name if app and app.applicant.contact_name
                                                 else _text("greeting.default"))
        self._mails.append(prepare_mail(
            key=key, template=template, to=recipients, context=self._ctx(greeting, **ctx),
            application_id=app.id if app else None,
        ))

    def _flush_mails(self) -> None:
        """Queue the batch's e-mails (one SELECT of existing keys, one INSERT; the first e-mail of a key wins)."""
        if self._mails:
            self.result.mails_queued += sum(created for _row, created in enqueue_many(self.session, self._mails))
            self._mails.clear()

    def _commit(self) -> None:
        self._flush_mails()
        self.session.commit()

    def _submission_no(self) -> str:
        prefix = f"{self.season.submission_prefix}-{self.season.year}-"
        if self._next_no is None:
            last = self.session.scalar(
                select(func.max(Application.submission_no)).where(Application.submission_no.startswith(prefix, autoescape=True))
            )
            self._next_no = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        no = f"{prefix}{self._next_no:04d}"
        self._next_no += 1
        return no

    # ---------------------------------------------------------------- entry
    def run(self, limit: int | None = None) -> IntakeResult:
        """Process pending mail items, then city folders, then city letters.

        Batches of ``BATCH``: read and parse every submission of the batch, look up their applicants at once,
        apply the batch (at once; item by item in savepoints if that fails), queue the batch's e-mails, commit.
        """
        s = self.session
        mail_q = (
            select(InboundItem)
            .where(InboundItem.season == self.season.season_id, InboundItem.purpose == "application",
                   InboundItem.status == "archived", InboundItem.channel.in_(MAIL_CHANNELS))
            .order_by(InboundItem.id)
        )
        if limit:
            mail_q = mail_q.limit(limit)
        mail_items = s.scalars(mail_q).all()
        for start in range(0, len(mail_items), BATCH):
            self._run_batch([([item], self.read_mail, (item,)) for item in mail_items[start:start + BATCH]])
        self._commit()
        storage = list(s.scalars(
            select(InboundItem)
            .where(InboundItem.season == self.season.season_id, InboundItem.purpose == "application",
                   InboundItem.status.in_(("archived", "waiting")), InboundItem.channel.in_(STORAGE_CHANNELS))
            .order_by(InboundItem.id)
        ))
        folders: dict[str, list[InboundItem]] = defaultdict(list)
        letters: list[InboundItem] = []
        for item in storage:
            name = item.filename or ""
            parts = PurePosixPath(name).parts
            if len(parts) >= 4 and name.startswith(INCOMING):
                folders["/".join(parts[:3])].append(item)
            elif len(parts) == 3 and name.startswith(INCOMING) and is_city_letter(parts[2]):
                letters.append(item)
            else:
                self._bad_location(item)
        ordered = sorted(folders.items())
        for start in range(0, len(ordered), BATCH):
            self._run_batch([(items, self.read_folder, (items, folder))
                             for folder, items in ordered[start:start + BATCH]])
        cities = {PurePosixPath(i.filename or "").parts[1] for i in letters}
        cities |= {PurePosixPath(f).parts[1] for f in folders}
        for city in sorted(cities):
            self._guarded([], self.attach_city_letter, city)
        self._commit()
        return self.result

    def _run_batch(self, jobs: list[tuple[list[InboundItem], Any, tuple[Any, ...]]]) -> None:
        """Read each job's submission (``reader(*args)``), look up the applicants at once, apply, commit."""
        subs: list[tuple[list[InboundItem], Submission]] = []
        for items, reader, args in jobs:
            try:  # reading touches no row: no savepoint needed
                sub = reader(*args)
                self.prepare(sub)
            except Exception as exc:  # noqa: BLE001 - one bad item must not stop the run
                self._failed(items, exc)
                continue
            subs.append((items, sub))
        self._prefetch([sub for _items, sub in subs])
        if not self._apply_batch(subs):
            for items, sub in subs:
                self._guarded(items, self.submit, sub)
        self._commit()

    def _apply_batch(self, subs: list[tuple[list[InboundItem], Submission]]) -> bool:
        """Apply the whole batch in one savepoint: new applications in one flush, materials in one INSERT.

        Any error rolls the batch back (rows, queued e-mails, counters) and returns False; the caller then applies
        each submission in its own savepoint, so that only a failing one fails and the others still go in.
        """
        if not subs:
            return True
        mails, result = len(self._mails), replace(self.result, touched=set(self.result.touched))
        try:
            with self.session.begin_nested():
                self._new = []
                matched = [(sub, m) for _items, sub in subs if (m := self._match(sub)) is not None]
                self._flush_new()
                for sub, (app, created) in matched:
                    self._apply(sub, app, created)
                self._insert_pending()
        except Exception as exc:  # noqa: BLE001 - retried item by item, where a failure is recorded
            log.warning("a batch of %d submissions failed (%s: %s); applying them one by one",
                        len(subs), type(exc).__name__, exc)
            del self._mails[mails:]
            self.result = result
            self._rows.clear()
            self._row_apps.clear()
            self._applicants.clear()  # rows created in the batch are gone
            self._apps.clear()
            self._next_no = None
            return False
        finally:
            self._new = None
        return True

    def _flush_new(self) -> None:
        """Give the batch's new applications their first states: one flush for all (their ids), audited."""
        if self._new:
            create_application_states(self.session, self._new, actor=ACTOR)
            self._new.clear()

    def _insert_pending(self) -> None:
        """Insert the pending material rows (one executemany) and let their applications reload materials."""
        if self._rows:
            self.session.execute(insert(Material), self._rows)
            for app in self._row_apps.values():
                self.session.expire(app, ["materials"])
            self._rows.clear()
            self._row_apps.clear()

    def _prefetch(self, subs: list[Submission]) -> None:
        """Load the applicants of the batch's forms, and their applications of this season, in two queries."""
        keys = {k for sub in subs if sub.form is not None and (k := _sub_key(sub)) not in self._applicants}
        if not keys:
            return
        found: list[Applicant] = []
        names = sorted({key for _kind, key in keys})
        for start in range(0, len(names), 500):
            found.extend(a for a in self.session.scalars(
                select(Applicant).where(Applicant.key.in_(names[start:start + 500]))) if (a.kind, a.key) in keys)
        for k in keys:
            self._applicants[k] = None
        for applicant in found:
            self._applicants[(applicant.kind, applicant.key)] = applicant
        by_id = {a.id: (a.kind, a.key) for a in found if (a.kind, a.key) not in self._apps}
        ids = sorted(by_id)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for app_id in chunk:
                self._apps[by_id[app_id]] = None
            for app in self.session.scalars(select(Application).where(
                    Application.season == self.season.season_id, Application.applicant_id.in_(chunk))):
                self._apps[by_id[app.applicant_id]] = app

    def _applicant(self, kind: str, key: str) -> Applicant | None:
        if (kind, key) not in self._applicants:
            self._applicants[(kind, key)] = self.session.scalar(
                select(Applicant).where(Applicant.kind == kind, Applicant.key == key))
        return self._applicants[(kind, key)]

    def _season_app(self, applicant: Applicant) -> Application | None:
        k = (applicant.kind, applicant.key)
        if k not in self._apps:
            self._apps[k] = None if applicant.id is None else self.session.scalar(select(Application).where(
                Application.season == self.season.season_id, Application.applicant_id == applicant.id))
        return self._apps[k]

    def _guarded(self, items: list[InboundItem], fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` in a savepoint; a crash marks ``items`` failed and the run goes on."""
        mails = len(self._mails)
        try:
            with self.session.begin_nested():
                fn(*args)
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the run
            del self._mails[mails:]  # its e-mails go with its rolled-back rows
            self._rows.clear()
            self._row_apps.clear()
            self._applicants.clear()  # it may have created rows that are gone now
            self._apps.clear()
            self._failed(items, exc)

    def _failed(self, items: list[InboundItem], exc: Exception) -> None:
        log.exception("intake failed on items %s", [i.id for i in items], exc_info=exc)
        for item in items:
            record_problem(self.session, code="intake_error",
                           message=_text("problem.intake_error", error=type(exc).__name__),
                           inbound_item=item, status="failed")
            if item.channel in MAIL_CHANNELS:  # quarantined: the sender is told, staff look at it
                self._mail(f"intake:failed:item-{item.id}:1", "intake_failed", [mail_address(item.sender)], None,
                           greeting=_text("greeting.default"), received_text=_dt_text(item.received_at))
        self.result.failed += len(items)

    def _bad_location(self, item: InboundItem) -> None:
        record_problem(
            self.session, code="unexpected_location", inbound_item=item, filename=item.filename, status="failed",
            message=_text("problem.unexpected_location"),
        )
        self.result.failed += 1

    def _store(self, data: bytes) -> str:
        """Put a file of a submission in the blob store (content-addressed: a file refused later costs nothing)."""
        return str(self.rt.blobs.put_bytes(data).uri)

    # ---------------------------------------------------------------- mail
    def read_mail(self, item: InboundItem) -> Submission:
        """One archived e-mail: its attachments become one submission (read and screened, nothing written)."""
        from award.inbound.mime import parse_message

        self.result.items += 1
        if item.size > self.limits.max_mail_bytes:  # refused before it is read and decoded (memory)
            sub = Submission("mail", [item], reply_to=mail_address(item.sender), subject=clean(item.subject, SUBJECT_CHARS)
                             or "", received_at=item.received_at)
            sub.refuse_whole("mail_too_large", _text("mail_too_large", size=size_text(item.size),
                                                     max_mb=self.limits.max_mail_bytes // MB))
            return sub
        msg = parse_message(self.rt.blobs.get_bytes(item.sha256))
        sub = Submission("mail", [item], reply_to=mail_address(msg.sender_addr) or mail_address(item.sender),
                         subject=clean(msg.subject, SUBJECT_CHARS) or "", received_at=item.received_at)
        attachments = [a for a in msg.attachments
                       if not (a.origin == "inline" and a.content_type.startswith("image/"))]  # signatures, logos
        if len(attachments) > self.limits.max_attachments:
            sub.refuse_whole("too_many_attachments", _text("too_many_attachments", count=len(attachments),
                                                           max_attachments=self.limits.max_attachments))
            return sub
        if msg.structure is not None:  # said to the sender if no form can be used
            sub.note = structure_text(msg.structure)
        for att in attachments:
            if att.truncated:
                sub.refused.append(Refused(att.filename, "truncated", _text("truncated", name=att.filename), item))
                continue
            unpack(sub, item, att.filename, att.data, self.limits, att.sha256,  # hashed by parse_message
                   store=self._store)
            if sub.over_limits(self.limits):
                break
        return sub

    # ---------------------------------------------------------------- city folders
    def read_folder(self, items: list[InboundItem], folder: str) -> Submission:
        """One applicant folder of a city batch (``incoming/<city>/<applicant>``), read and screened."""
        city = PurePosixPath(folder).parts[1]
        self.result.items += len([i for i in items if i.status == "archived"])
        sub = Submission("city", items, city=city, folder=folder, received_at=max(i.received_at for i in items))
        for item in items:
            rel = (item.filename or "")[len(folder) + 1:]
            unpack(sub, item, rel, self.rt.blobs.get_bytes(item.sha256), self.limits, store=self._store)
            if sub.over_limits(self.limits):
                break
        return sub

    # ---------------------------------------------------------------- matching and applying
    def _find_application(self, sub: Submission, form: ParsedForm | None) -> Application | None:
        s = self.session
        if sub.stand_in is not None and sub.form_file is not None:  # the same form file: the same application
            app = stand_in_application(s, self.season.season_id, sub.form_file.sha256)
            if app is not None:
                return app
        if form is not None and (form.key or sub.stand_in):
            applicant = self._applicant(*_sub_key(sub))  # prefetched for the batch
            if applicant is not None:
                app = self._season_app(applicant)
                if app is not None and app.state != State.WITHDRAWN.value:
                    return app
        numbers = self.number_re.findall(sub.subject or "")
        if numbers:
            app = s.scalar(select(Application).where(Application.season == self.season.season_id,
                                                     Application.submission_no == numbers[0]))
            if app is not None:
                return app
        if sub.folder and form is None:  # files added to a folder whose form came earlier
            app_id = s.scalar(
                select(InboundItem.application_id)
                .where(InboundItem.filename.startswith(f"{sub.folder}/", autoescape=True), InboundItem.application_id.is_not(None),
                       InboundItem.channel.in_(STORAGE_CHANNELS))
                .limit(1)
            )
            if app_id is not None:
                return s.get(Application, app_id)
        return None

    def prepare(self, sub: Submission) -> None:
        """Classify the files, parse the forms and choose the submission's form (no database access)."""
        classify(sub)
        for f in sub.files:  # stored already: the batch does not hold their bytes until it is applied
            if f.uri is not None:
                f.data, f.document = b"", None
        forms = [f for f in sub.files if f.form is not None]
        form_file = forms[-1] if forms else None
        form = form_file.form if form_file else None
        for extra in forms[:-1]:
            if extra.form is not None and form is not None and _norm_key(extra.form.key) != _norm_key(form.key):
                sub.refused.append(Refused(extra.name, "several_applicants", _text(
                    "several_applicants", name=PurePosixPath(extra.name).name,
                    form_name=PurePosixPath(form_file.name).name), extra.item))  # type: ignore[union-attr]
                sub.files.remove(extra)
        if form is not None and form_file is not None and (problem := key_problem(form)) is not None:
            # registered under a stand-in key and sent to staff review, neither refused nor completed
            sub.stand_in, sub.key_problem = stand_in_key(form_file.sha256), problem
        sub.form_file, sub.form = form_file, form

    def submit(self, sub: Submission) -> None:
        """Match or create the application of a prepared submission, add materials, set states, queue e-mails."""
        matched = self._match(sub)
        if matched is not None:
            self._apply(sub, *matched)

    def _match(self, sub: Submission) -> tuple[Application, bool] | None:
        """The submission's application and whether it is new; None when answered here (refused as a whole, no
        form, late, held for review)."""
        if sub.whole is not None:
            self._refuse_whole(sub)
            return None
        if sub.family == "city" and sub.city not in self.season.province.cities:
            for item in sub.items:
                record_problem(self.session, code="unknown_city", inbound_item=item, filename=item.filename,
                               status=None, message=_text("problem.unknown_city", city=sub.city))
        form = sub.form
        app = self._find_application(sub, form)
        if app is not None and app.id is None:  # created earlier in this batch: its id is needed now
            self._flush_new()
        late = sub.received_at is not None and sub.received_at > self.deadline
        created = False
        if app is None:
            if form is None:
                self._no_form(sub)
                return None
            app = self._create(sub, form, late)
            created = True
        elif not self._trusted(app, sub):
            self._hold(sub, app)
            return None
        elif late and not self._correction_open(app, sub):
            self._late_material(sub, app)
            return None
        return app, created

    def _apply(self, sub: Submission, app: Application, created: bool) -> None:
        """Add a matched submission's materials, note its channel and items, queue its e-mails."""
        form_file, form = sub.form_file, sub.form
        if created and sub.family == "mail" and not sub.reply_to and (addr := mail_address(app.applicant.email)):
            sub.reply_to = addr  # a mail with no usable From: the acknowledgment goes to the form's address
            audit(self.session, actor=ACTOR, entity_type="application", entity_id=app.id, action="reply_to_form_address",
                  reason=_text("audit.reply_to_form_address", address=addr),
                  details={"items": [i.id for i in sub.items]})
        self._record_refusals(sub, app)
        added = self._add_materials(app, sub, new=created, defer=self._new is not None)
        if form is not None and form_file in added and not created:
            app.fields = clean_fields(form.fields)
        self._record_findings(app, added)
        if form_file is not None and (problem := _key_review(app, sub, added)) is not None:
            code, label = problem
            record_problem(self.session, code=code, inbound_item=form_file.item, application_id=app.id,
                           filename=form_file.name, status=None,
                           message=_text("problem.key_not_found", label=label) if code == "key_not_found"
                           else _text("problem.key_unread", label=label))
        self._note_channel(app, sub, added)
        for item in sub.items:
            item.status = "parsed"
            item.application_id = app.id
        if added:
            app.changed_at = now()
        self.result.touched.add(app.id)
        self._reply(app, sub, added, created)

    def known_addresses(self, app: Application) -> set[str]:
        """The addresses on an application: the sender of its first mail, and the form's contact e-mail."""
        known = {a for a in (app.applicant.email, mail_address((app.fields or {}).get("email")),
                             self._creators.get(id(app))) if a}
        if app.id is not None:
            first = self.session.scalar(
                select(InboundItem.sender).where(InboundItem.application_id == app.id,
                                                 InboundItem.channel.in_(MAIL_CHANNELS))
                .order_by(InboundItem.id).limit(1))
            if first and (addr := mail_address(first)):
                known.add(addr)
        return known

    def _trusted(self, app: Application, sub: Submission) -> bool:
        """Whether material for an existing application is accepted automatically: a city upload (the city's own
        storage), a mail from an address already on the application, or a mail staff released after review."""
        if sub.family != "mail":
            return True
        if sub.reply_to and sub.reply_to in self.known_addresses(app):
            return True
        return any(p.code == "released" for i in sub.items for p in self.session.scalars(
            select(Problem).where(Problem.inbound_item_id == i.id)))

    def _hold(self, sub: Submission, app: Application) -> None:
        """Hold a mail for an existing application from an unknown address: nothing is added; staff review it, the
        application's known addresses are told, and the sender gets a reply that shows nothing of the application."""
        item = sub.items[0]
        record_problem(self.session, code="held_for_review", inbound_item=item, application_id=app.id, status="held",
                       message=_text("problem.held", sender=sub.reply_to or _text("no_sender")))
        self.result.held += 1
        ctx = {"submission_no": app.submission_no, "sender": sub.reply_to or _text("no_sender"),
               "received_text": _dt_text(sub.received_at)}
        self._mail(f"intake:held_sender:item-{item.id}:1", "held_sender", [sub.reply_to], None,
                   greeting=_text("greeting.default"), received_text=ctx["received_text"])
        self._mail(f"intake:held_owner:item-{item.id}:1", "held_owner", sorted(self.known_addresses(app)), app, **ctx)
        self._mail(f"intake:staff_held:item-{item.id}:1", "staff_notice", [str(self.season.recommending_unit.ops_email)],
                   app, greeting=_text("greeting.staff"), title=_text("staff_held.title", **ctx),
                   text=_text("staff_held.text", item_id=item.id, **ctx), items=[])

    def _correction_open(self, app: Application, sub: Submission) -> bool:
        if app.state == State.LATE.value:
            return False
        return bool(app.correction_due and sub.received_at and sub.received_at.date() <= app.correction_due)

    def _create(self, sub: Submission, form: ParsedForm, late: bool) -> Application:
        s = self.session
        kind, key = _sub_key(sub)
        fields = clean_fields(form.fields)
        contact = fields.get("contact") or fields.get("name") or None
        phone = fields.get("contact_phone") or fields.get("phone") or None
        city = fit(Application.city, sub.city or (fields.get("city") if fields.get("city") in self.season.province.cities
                                                  else None))
        if late:
            state, reason = State.LATE, _text("state.late", received=_dt_text(sub.received_at))
        elif fields.get("defence") == "是":
            state, reason = State.INELIGIBLE, _text("state.ineligible")
        else:
            state, reason = State.RECEIVED, _text("state.received")
        details = {"channel": sub.family, "items": [i.id for i in sub.items]}
        applicant = self._applicant(kind, key)
        for _attempt in range(50):
            if applicant is None:
                name = form.name or (pending_text(form.category) if is_pending(key) else key)
                applicant = Applicant(kind=kind, key=key, name=fit(Applicant.name, name), created_at=now())
            applicant.name = fit(Applicant.name, form.name) or applicant.name
            applicant.email = mail_address(fields.get("email")) or applicant.email or sub.reply_to
            applicant.phone = fit(Applicant.phone, phone) or applicant.phone
            applicant.contact_name = fit(Applicant.contact_name, contact) or applicant.contact_name
            applicant.city = applicant.city or fit(Applicant.city, city)
            app = Application(
                season=self.season.season_id, category=form.category, submission_no=self._submission_no(),
                channel=sub.family, channels=[sub.family], city=city, multi_channel=False, fields=dict(fields),
                received_at=sub.received_at or now(), changed_at=now(), state=state.value,
            )
            if sub.reply_to:
                self._creators[id(app)] = sub.reply_to
            if self._new is not None:  # a batch at once: flushed with the batch's other new applications;
                app.applicant = applicant  # a clash rolls the batch back to item-by-item (the retry below)
                self.session.add(app)
                self._new.append((app, state, reason, details))
                break
            try:
                # an existing applicant's new details are flushed before the savepoint; a new applicant goes
                # in with the application (one flush), and the first state with its audit event
                with s.begin_nested():
                    app.applicant = applicant
                    s.add(app)
                    create_application_state(s, app, state, actor=ACTOR, reason=reason, details=details)
                break
            except IntegrityError:
                # a concurrent run took the number, or created the applicant or its application
                applicant = s.scalar(select(Applicant).where(Applicant.kind == kind, Applicant.key == key))
                if applicant is not None:
                    existing = s.scalar(select(Application).where(Application.season == self.season.season_id,
                                                                  Application.applicant_id == applicant.id))
                    if existing is not None:
                        self._applicants[(kind, key)], self._apps[(kind, key)] = applicant, existing
                        return existing
                self._next_no = None  # the number was taken: read the maximum again
        else:  # pragma: no cover - 50 collisions in a row
            raise RuntimeError("could not allocate a submission number")
        self._applicants[(kind, key)], self._apps[(kind, key)] = applicant, app
        if state is State.LATE:
            self.result.late += 1
        elif state is State.INELIGIBLE:
            self.result.ineligible += 1
        self.result.applications_created += 1
        return app

    def _add_materials(self, app: Application, sub: Submission, *, new: bool = False, defer: bool = False
                       ) -> list[FileIn]:
        """Add the submission's new files as materials; ``defer``: rows that supersede nothing wait for
        ``_insert_pending`` (one executemany for many applications)."""
        s = self.session
        if app.id in self._row_apps:  # its pending rows go in first: they count as existing
            self._insert_pending()
        existing = [] if new else list(app.materials)
        known = {m.sha256 for m in existing}
        added: list[FileIn] = []
        new_rows: list[tuple[Material, list[Material]]] = []
        values: list[dict[str, Any]] = []
        for f in sub.files:
            if f.sha256 in known:
                continue
            known.add(f.sha256)
            # a city upload is its own archived blob: no second write
            uri = f.item.storage_uri if f.sha256 == f.item.sha256 else (f.uri or self.rt.blobs.put_bytes(f.data).uri)
            same_kind = [m for m in existing if m.kind == f.kind]
            older = [m for m in same_kind if m.superseded_by_id is None
                     and (f.kind in SINGLE_KINDS or m.filename == f.name)]
            values.append(dict(
                application_id=app.id, kind=f.kind, filename=f.name[:300], sha256=f.sha256, size=f.size,
                content_type=f.content_type, source_channel=sub.family, inbound_item_id=f.item.id,
                storage_uri=uri, version=max((m.version for m in same_kind), default=0) + 1, received_at=now(),
            ))
            row = Material(**values[-1])
            existing.append(row)
            new_rows.append((row, older))
            added.append(f)
        if any(older for _row, older in new_rows):
            s.add_all(row for row, _older in new_rows)
            s.flush()  # ids for superseded_by_id
            for row, older in new_rows:
                for m in older:
                    if m.id != row.id and m.superseded_by_id is None:
                        m.superseded_by_id = row.id
        elif values:
            # nothing to supersede: one executemany (the ORM would INSERT ... RETURNING row by row on SQLite)
            self._rows.extend(values)
            self._row_apps[app.id] = app
            if not defer:
                self._insert_pending()
        self.result.materials_added += len(added)
        return added

    def _note_channel(self, app: Application, sub: Submission, added: list[FileIn]) -> None:
        channels = list(app.channels or [app.channel])
        if sub.family in channels:
            return
        app.channels = [*channels, sub.family]
        if sub.family == "city" and sub.city:
            app.city = sub.city
        if {"mail", "city"} <= set(app.channels) and not app.multi_channel:
            app.multi_channel = True
            self.result.multi_channel += 1
            audit(self.session, actor=ACTOR, entity_type="application", entity_id=app.id, action="multi_channel",
                  reason=_text("audit.multi_channel"), details={"channels": app.channels})
            labels = rules()["channel_labels"]
            channels_text = _text("channel_list", labels=[labels.get(c, c) for c in app.channels])
            ctx = {"submission_no": app.submission_no, "applicant_name": app.applicant.name,
                   "channels_text": channels_text}
            self._mail(f"intake:multi_channel:{app.id}:1", "multi_channel",
                       [app.applicant.email, sub.reply_to], app, **ctx)
            self._mail(
                f"intake:staff_multi_channel:{app.id}:1", "staff_notice", [str(self.season.recommending_unit.ops_email)],
                app, greeting=_text("greeting.staff"), title=_text("staff_multi_channel.title", **ctx),
                text=_text("staff_multi_channel.text", **ctx),
                items=[_text("staff_multi_channel.item", filename=name, channel=labels.get(channel, channel))
                       for name, channel in _current_materials(app, sub, added)],
            )

    # ---------------------------------------------------------------- replies
    def _recipients(self, app: Application | None, sub: Submission) -> list[str | None]:
        if sub.family == "mail":
            return [sub.reply_to]
        return [app.applicant.email if app else None]

    def _record_refusals(self, sub: Submission, app: Application | None) -> None:
        for r in sub.refused:
            record_problem(self.session, code=r.code, message=r.reason, inbound_item=r.item, filename=r.filename,
                           application_id=app.id if app else None, status=None)
        self.result.refused_files += len(sub.refused)

    def _refused_mail(self, sub: Submission, app: Application | None) -> None:
        if not sub.refused:
            return
        disc = hashlib.sha256("|".join(sorted(f"{r.item.id}:{r.filename}" for r in sub.refused)).encode()).hexdigest()
        self._mail(
            f"intake:refused_file:{app.id if app else 'item-' + str(sub.items[0].id)}:{disc[:16]}", "refused_file",
            self._recipients(app, sub), app, submission_no=app.submission_no if app else None,
            received_text=_dt_text(sub.received_at), subject_line=sub.subject,
            refused=[{"filename": r.filename, "reason": r.reason} for r in sub.refused],
        )

    def _reply(self, app: Application, sub: Submission, added: list[FileIn], created: bool) -> None:
        applicant = app.applicant
        ctx = {"submission_no": app.submission_no, "applicant_name": applicant.name,
               "received_text": _dt_text(sub.received_at), "document": document_for(app.category)}
        to = self._recipients(app, sub)
        first = min(i.id for i in sub.items)
        if app.state == State.LATE.value:
            self._mail(f"intake:late:{app.id}:{first}", "late", to, app, correction=False, **ctx)
        elif app.state == State.INELIGIBLE.value and created:
            self._mail(f"intake:wrong_channel:{app.id}:1", "wrong_channel", to, app, **ctx)
        elif added:
            category = self.season.categories.get(app.category)  # type: ignore[call-overload]
            self._mail(
                f"intake:ack:{app.id}:{first}", "ack", to, app, update=not created,
                category_label=category.label if category else app.category,
                channel_label=rules()["channel_labels"].get(sub.family, sub.family),
                materials=[{"filename": f.name, "kind_label": _kind_label(f.kind), "size_text": size_text(f.size)}
                           for f in added],
                findings=[{"filename": f.name, "labels": active_labels(f.findings)} for f in added if f.findings],
                key_review=problem[1] if (problem := _key_review(app, sub, added)) else None,
                refused_count=len(sub.refused), **ctx,
            )
        self._refused_mail(sub, app)

    def _no_form(self, sub: Submission) -> None:
        if sub.family == "city":  # the form may still be uploading: wait for it
            for item in sub.items:
                item.status = "waiting"
            self.result.waiting += len(sub.items)
            self._folder_waiting(sub)
            return
        self._record_refusals(sub, None)
        item = sub.items[0]
        record_problem(self.session, code="no_form", inbound_item=item, status="failed",
                       message=sub.note or _text("problem.no_form"))
        self.result.failed += 1
        self._mail(f"intake:no_form:item-{item.id}:1", "no_form", [sub.reply_to], None,
                   greeting=_text("greeting.default"),
                   subject_line=sub.subject, received_text=_dt_text(sub.received_at), reason=sub.note,
                   files=[f.name for f in sub.files], example_no=f"{self.season.submission_prefix}-{self.season.year}-0007")
        self._refused_mail(sub, None)

    def _record_findings(self, app: Application, added: list[FileIn]) -> None:
        """Active content of the files just added: one problem per file for staff (the applicant is told in the
        acknowledgment); the file itself is kept as it came."""
        for f in added:
            if f.findings:
                record_problem(self.session, code="active_content", inbound_item=f.item, application_id=app.id,
                               filename=f.name, status=None, message=active_problem(f.name, f.findings))

    def _refuse_whole(self, sub: Submission) -> None:
        """A submission refused as a whole: recorded on each item, the sender told why (nothing of any application
        is shown: it is not matched)."""
        whole = sub.whole
        assert whole is not None
        for item in sub.items:
            record_problem(self.session, code=whole.code, message=whole.reason, inbound_item=item, status="refused")
        self.result.refused_files += 1
        self._mail(f"intake:refused_whole:item-{sub.items[0].id}:1", "refused_file", self._recipients(None, sub), None,
                   greeting=_text("greeting.default"), submission_no=None, received_text=_dt_text(sub.received_at),
                   subject_line=sub.subject, refused=[{"filename": whole.filename, "reason": whole.reason}])

    def _folder_waiting(self, sub: Submission) -> None:
        """A city folder still without a form after the grace period: ops and the city's contact are told once."""
        first = min(i.received_at for i in sub.items)
        if now() - first < timedelta(hours=float(rules()["waiting_grace_hours"])):
            return
        folder = sub.folder or ""
        ctx = {"folder": folder, "city": sub.city or "", "since": _dt_text(first)}
        self._mail(
            f"intake:folder_waiting:{hashlib.sha256(folder.encode()).hexdigest()[:24]}", "staff_notice",
            [str(self.season.recommending_unit.ops_email), self._city_contact(sub.city)], None,
            greeting=_text("greeting.staff"), title=_text("staff_folder_waiting.title", **ctx),
            text=_text("staff_folder_waiting.text", **ctx),
            items=[(i.filename or "")[len(folder) + 1:] for i in sub.items],
        )

    def _city_contact(self, city: str | None) -> str | None:
        """The e-mail of the city's recommending unit when the season names one (``recommending_units``)."""
        for unit in getattr(self.season, "recommending_units", None) or []:
            names = {getattr(unit, "name", None), getattr(unit, "city", None), *(getattr(unit, "aliases", None) or [])}
            if city and city in names and getattr(unit, "email", None):
                return str(unit.email)
        return None

    def _late_material(self, sub: Submission, app: Application) -> None:
        self._record_refusals(sub, app)
        for item in sub.items:
            record_problem(self.session, code="late", inbound_item=item, application_id=app.id, status="late",
                           message=_text("problem.late", received=_dt_text(sub.received_at)))
            item.application_id = app.id
        self.result.late += 1
        ctx = {"submission_no": app.submission_no, "applicant_name": app.applicant.name,
               "received_text": _dt_text(sub.received_at), "correction_due": app.correction_due}
        self._mail(f"intake:late:{app.id}:{min(i.id for i in sub.items)}", "late", self._recipients(app, sub), app,
                   correction=bool(app.correction_due), **ctx)

    # ---------------------------------------------------------------- city letters
    def attach_city_letter(self, city: str) -> None:
        """Attach the city's newest letter to every application of its batch (once per content)."""
        s = self.session
        prefix = f"{INCOMING}{city}/"
        candidates = [
            i for i in s.scalars(
                select(InboundItem).where(InboundItem.season == self.season.season_id,
                                          InboundItem.channel.in_(STORAGE_CHANNELS),
                                          InboundItem.filename.startswith(prefix, autoescape=True),
                                          InboundItem.status.in_(("archived", "parsed")))
                .order_by(InboundItem.id)
            )
            if len(PurePosixPath(i.filename or "").parts) == 3 and is_city_letter(PurePosixPath(i.filename or "").name)
        ]
        if not candidates:
            return
        letter = candidates[-1]
        for item in candidates:
            if item.status == "archived":
                item.status = "parsed"
                self.result.items += 1
        app_ids = set(s.scalars(
            select(InboundItem.application_id).where(
                InboundItem.channel.in_(STORAGE_CHANNELS), InboundItem.filename.startswith(prefix, autoescape=True),
                InboundItem.application_id.is_not(None))
        ))
        apps = s.scalars(
            select(Application).options(selectinload(Application.materials))
            .where(Application.id.in_(app_ids), Application.season == self.season.season_id,
                   Application.state.not_in((State.LATE.value, State.INELIGIBLE.value)))
        ).all() if app_ids else []
        data: bytes | None = None
        content_type = ""
        for app in apps:  # the letter for every application of the batch: one executemany
            if any(m.sha256 == letter.sha256 for m in app.materials):
                continue
            if data is None:
                data = self.rt.blobs.get_bytes(letter.sha256)
                content_type = guess_content_type(letter.filename or "", data)
            sub = Submission("city", [letter], city=city)
            f = FileIn(PurePosixPath(letter.filename or "").name, data, letter.sha256, letter, "city_recommendation",
                       content_type=content_type)
            sub.files = [f]
            if self._add_materials(app, sub, defer=True):
                app.changed_at = now()
                self.result.touched.add(app.id)
        self._insert_pending()


def _applicant_key(form: ParsedForm) -> tuple[str, str]:
    """(Applicant.kind, Applicant.key) of a parsed form."""
    return ("person" if form.category == "individual" else "organization"), fit(Applicant.key, _norm_key(form.key)) or ""


def _key_review(app: Application, sub: Submission, added: list[FileIn]) -> tuple[str, str] | None:
    """The key problem of a form just added to an application registered under its stand-in key, else None (a
    keyless form matched to a known applicant by its submission number is the check's to report)."""
    if sub.key_problem is None or sub.form_file not in added or not is_pending(app.applicant.key):
        return None
    return sub.key_problem


def _sub_key(sub: Submission) -> tuple[str, str]:
    """(Applicant.kind, Applicant.key) of a submission's form: its stand-in key when the key cannot be read."""
    assert sub.form is not None
    kind, key = _applicant_key(sub.form)
    return (kind, sub.stand_in) if sub.stand_in is not None else (kind, key)


_ADDRESS = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")
SUBJECT_CHARS = 200  # a subject quoted back in a mail


def mail_address(value: str | None) -> str | None:
    """A usable e-mail address (lower case), or None: cleaned, at most 254 characters (RFC 5321), one ``@``."""
    text = (clean(value) or "").strip().lower()
    return text if len(text) <= 254 and _ADDRESS.fullmatch(text) else None


def _norm_key(key: str) -> str:
    return (key or "").strip().upper() if "/" not in (key or "") else key.split("/", 1)[0].strip().upper() + "/" + (
        key.split("/", 1)[1].strip())


def _kind_label(kind: str) -> str:
    try:
        from award.completeness.rules import material_label

        return material_label(kind)
    except ImportError:  # pragma: no cover - checks not installed
        return kind


def _current_materials(app: Application, sub: Submission, added: list[FileIn]) -> list[tuple[str, str]]:
    """(file name, channel) of the application's current materials, this submission's new files included.

    ``app.materials`` was loaded before the submission's rows were written (deferred rows go in with one
    executemany later), so the files just added are taken from ``added``.
    """
    current = [m for m in app.materials if m.superseded_by_id is None]
    known = {m.sha256 for m in current}
    return ([(m.filename, m.source_channel) for m in current]
            + [(f.name[:300], sub.family) for f in added if f.sha256 not in known])


def _dt_text(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{value.year}年{value.month}月{value.day}日{value.hour:02d}:{value.minute:02d}"


class ReleaseError(ValueError):
    """An inbound item that cannot be released (unknown, or not held)."""


def release_held(session: Session, item_id: int, *, actor: str) -> InboundItem:
    """Staff release a mail held for review (``held_for_review``): the next intake run takes it as if it came
    from an address on the application. Audited."""
    item = session.get(InboundItem, item_id)
    if item is None or item.status != "held":
        raise ReleaseError(f"inbound item {item_id} is not held for review")
    record_problem(session, code="released", message=_text("audit.released"), inbound_item=item, status="archived")
    audit(session, actor=actor, entity_type="inbound_item", entity_id=item.id, action="release",
          reason=_text("audit.released"))
    return item


def process_pending(session: Session, rt: Any, *, limit: int | None = None) -> IntakeResult:
    """Process every pending archived item of the season (see the module docstring); commits as it goes."""
    return Intake(session, rt).run(limit=limit)

"""Publicity windows (公示) on Chinese working days, objections (异议) and their recorded resolution.

Reusable for both lists (``purpose``):

* ``"provincial"``: after the department review, DEPT_CLEARED -> IN_PUBLICITY; at the close
  PUBLICITY_PASSED, or OBJECTION_PENDING while an objection is open.
* ``"candidate"``: the ranked candidate list (the recommendation stage calls the same functions),
  CANDIDATE -> CANDIDATE_PUBLICITY; at the close CANDIDATE_CONFIRMED or CANDIDATE_OBJECTION.

Flow: :func:`open_window` (window on the shared calendar, notice as .docx + HTML, published to shared
storage and archived in the blob store, applicants e-mailed) -> objections are archived and handed to
:func:`ingest_objection` (matched by submission number, credit code / ID number, or name; acknowledged;
recorded open, or late after the window's ``end_at``; unmatched ones go to staff) -> :func:`close_window`
(no earlier than ``end_at``; refuses while unmatched objections of the window wait for staff) ->
:func:`resolve_objection` per open objection (upheld: REMOVED; dismissed: passes once no other open
objection remains), audited with reason, decision maker and time, applicant and objector e-mailed.

Late objections: the notice says objections must be raised within the window, so an objection received
after ``end_at`` is recorded (``late=True``), acknowledged and forwarded to staff, but it does NOT block
the applicant; deciding it records the outcome without changing the application's state.

The guard "nobody moves on while an objection is open" lives in :func:`award.states.transition`
(it refuses every move but to the objection/removed/withdrawn states while a non-late objection is open).
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from award.calendar import Window, default_calendar
from award.clock import now
from award.identity import mask_pii_text, normalize
from award.inbound.archive import archive_inbound
from award.mail.outbox import enqueue
from award.states import State, audit, transition
from award.store.models import (
    Application,
    InboundItem,
    Objection,
    PublicityEntry,
    PublicityWindow,
)
from award.templating import message_group, render

if TYPE_CHECKING:
    from award.config import Season
    from award.inbound.sources import MailSource
    from award.runtime import Runtime

log = logging.getLogger(__name__)

ACTOR = "publicity"
UPHELD = "upheld"
DISMISSED = "dismissed"
DECISIONS = (UPHELD, DISMISSED)
RECENT_CLOSED = timedelta(days=30)  # objections still matched to windows closed this recently (recorded late)
MAIL_CHANNELS = ("maildir", "imap")


_text = message_group("publicity", "publicity")


@dataclass(frozen=True)
class PurposeStates:
    """The states one purpose moves applications through."""

    eligible: State
    during: State
    passed: State
    pending: State


PURPOSES: dict[str, PurposeStates] = {
    "provincial": PurposeStates(State.DEPT_CLEARED, State.IN_PUBLICITY, State.PUBLICITY_PASSED,
                                State.OBJECTION_PENDING),
    "candidate": PurposeStates(State.CANDIDATE, State.CANDIDATE_PUBLICITY, State.CANDIDATE_CONFIRMED,
                               State.CANDIDATE_OBJECTION),
}


class PublicityError(ValueError):
    """A publicity operation that cannot be done; the message says why (and names the item)."""


class UnmatchedObjectionsError(PublicityError):
    """The window still has objections nobody has matched to an applicant."""

    def __init__(self, window_id: int, objection_ids: list[int]) -> None:
        self.window_id = window_id
        self.objection_ids = objection_ids
        super().__init__(
            f"publicity window {window_id}: objection(s) {objection_ids} are not matched to an applicant; "
            "assign them (assign_objection) or decide them before the close"
        )


def _states(purpose: str) -> PurposeStates:
    try:
        return PURPOSES[purpose]
    except KeyError:
        raise PublicityError(f"purpose: unknown publicity purpose {purpose!r} (use one of {sorted(PURPOSES)})") from None


def season_label(season: Season) -> str:
    """第五届中国质量奖."""
    return f"{season.award.edition}{season.award.name}"


def compute_window(season: Season, opened_at: datetime) -> Window:
    """The window opened at ``opened_at``: ``season.publicity.min_workdays`` working days on the shared calendar."""
    cal = default_calendar(tuple(season.calendar_overrides))
    return cal.window(opened_at, season.publicity.min_workdays, season.publicity.cutoff)


# ------------------------------------------------------------------ selecting and opening


def eligible_application_ids(session: Session, season: Season, purpose: str) -> list[int]:
    """Every application of the season in the state the purpose starts from."""
    states = _states(purpose)
    return list(session.scalars(
        select(Application.id).where(Application.season == season.season_id,
                                     Application.state == states.eligible.value).order_by(Application.submission_no)
    ))


def ids_for_submissions(session: Session, season: Season, submission_nos: list[str]) -> list[int]:
    """Application ids for submission numbers; an unknown number is an error naming it."""
    out = []
    for no in submission_nos:
        app_id = session.scalar(select(Application.id).where(Application.season == season.season_id,
                                                             Application.submission_no == no.strip()))
        if app_id is None:
            raise PublicityError(f"submission_nos: no application {no!r} in season {season.season_id}")
        out.append(app_id)
    return out


@dataclass(frozen=True)
class NoticeRow:
    """One line of the public list: no ID numbers, phones or e-mail addresses."""

    name: str
    unit: str
    city: str
    category: str
    submission_no: str = field(repr=False, compare=False, default="")


def notice_row(season: Season, app: Application) -> NoticeRow:
    """The public line of an application (individuals: name + work unit + city; teams: team + unit).

    ID numbers, phones and e-mail addresses inside these texts are masked (``identity.mask_pii_text``).
    """
    fields = app.fields or {}
    label = season.categories[app.category].label if app.category in season.categories else app.category
    name = app.applicant.name
    unit = ""
    if app.category == "individual":
        unit = str(fields.get("employer") or "")
    elif app.category == "team":
        name = str(fields.get("team_name") or name)
        unit = str(fields.get("org_name") or "")
    # free text typed by the applicant may carry an ID number, a phone or an e-mail: masked before publishing
    return NoticeRow(name=mask_pii_text(name), unit=mask_pii_text(unit),
                     city=mask_pii_text(app.city or app.applicant.city or ""), category=label,
                     submission_no=app.submission_no)


@dataclass(frozen=True)
class Notice:
    """The rendered notice."""

    title: str
    docx: bytes
    html: str


def render_notice(season: Season, window: PublicityWindow, rows: list[NoticeRow]) -> Notice:
    """Render the notice from templates/publicity/ as .docx (python-docx) and HTML."""
    ctx = dict(season=season, unit=season.recommending_unit, publicity=season.publicity, window=window,
               purpose=window.purpose)
    text = yaml.safe_load(render("publicity/notice.yaml.j2", **ctx))
    html = render("publicity/notice.html.j2", notice=text, rows=rows)
    return Notice(title=text["title"], docx=_notice_docx(text, rows), html=html)


NOTICE_TABLE_WIDTHS_MM = (12, 50, 44, 22, 28)  # 156 mm: the type area of A4 (award.officialdoc)


def _notice_docx(text: dict[str, Any], rows: list[NoticeRow]) -> bytes:
    from award.officialdoc import OfficialDocument

    doc = OfficialDocument(title=text["title"])
    doc.heading(text["title"])
    doc.body(text["intro"])
    values = [[str(i), r.name, r.unit or "—", r.city or "—", r.category] for i, r in enumerate(rows, start=1)]
    doc.table([text["columns"], *values], widths_mm=NOTICE_TABLE_WIDTHS_MM)
    doc.blank()
    doc.body(text["outro"])
    doc.closing(signature=text["signature"], date=text["date"])
    return doc.to_bytes()


def notice_key(season: Season, window_id: int, filename: str) -> str:
    """Shared-storage key ``<publicity.location>/<season>/<window id>/<filename>``."""
    base = season.publicity.location.strip("/") or "publicity"
    return f"{base}/{season.season_id}/{window_id}/{filename}"


def _existing_window(session: Session, application_ids: list[int], purpose: str) -> PublicityWindow | None:
    """An open window of ``purpose`` listing exactly these applications (a re-run of the same opening)."""
    for window in session.scalars(select(PublicityWindow).where(PublicityWindow.status == "open",
                                                                 PublicityWindow.purpose == purpose)):
        if {e.application_id for e in window.entries} == set(application_ids):
            return window
    return None


def open_window(
    session: Session,
    rt: Runtime,
    application_ids: list[int],
    purpose: str,
    opened_at: datetime | None = None,
    actor: str = ACTOR,
) -> int:
    """Open a publicity window over ``application_ids`` and return its id.

    Moves each application from the purpose's eligible state into publicity, renders the notice (.docx and
    HTML), archives both in the blob store, publishes them to shared storage under
    ``publicity/<season>/<window id>/`` and queues the "publicity started" e-mails. Calling it again with the
    same list while that window is open returns the same window (safe to retry).
    """
    states = _states(purpose)
    season = rt.season
    ids = sorted(set(application_ids))
    if not ids:
        raise PublicityError(f"application_ids: no applications to publish for purpose {purpose!r}")
    existing = _existing_window(session, ids, purpose)
    if existing is not None:
        return existing.id
    apps = [session.get(Application, i) for i in ids]
    for app_id, app in zip(ids, apps, strict=True):
        if app is None:
            raise PublicityError(f"application_ids: no application with id {app_id}")
        if app.season != season.season_id:
            raise PublicityError(f"application {app.submission_no}: belongs to season {app.season}")
        if app.state != states.eligible.value:
            raise PublicityError(
                f"application {app.submission_no}: state is {app.state}, {purpose} publicity needs "
                f"{states.eligible.value}"
            )
    opened = opened_at or now()
    win = compute_window(season, opened)
    window = PublicityWindow(season=season.season_id, purpose=purpose, opened_at=win.opened_at,
                             start_date=win.start, end_date=win.end, end_at=win.end_at,
                             workdays=len(win.workdays), status="open")
    session.add(window)
    session.flush()
    ordered = sorted((a for a in apps if a is not None), key=lambda a: (a.category, a.city or "", a.submission_no))
    for app in ordered:
        session.add(PublicityEntry(window_id=window.id, application_id=app.id))
        transition(session, app, states.during, actor=actor, reason=_text("reason.listed", window_id=window.id),
                   details={"window_id": window.id, "purpose": purpose})
    notice = render_notice(season, window, [notice_row(season, a) for a in ordered])
    html_bytes = notice.html.encode("utf-8")
    window.notice_docx_sha256 = rt.blobs.put_bytes(notice.docx).sha256
    window.notice_html_sha256 = rt.blobs.put_bytes(html_bytes).sha256
    docx_uri = rt.shared.write(notice_key(season, window.id, f"{notice.title}.docx"), notice.docx)
    html_uri = rt.shared.write(notice_key(season, window.id, f"{notice.title}.html"), html_bytes)
    audit(session, actor=actor, entity_type="publicity_window", entity_id=window.id, action="publicity_opened",
          reason=notice.title, details={"purpose": purpose, "applications": len(ordered),
                                        "start": win.start.isoformat(), "end": win.end.isoformat(),
                                        "end_at": win.end_at.isoformat(), "docx": docx_uri, "html": html_uri})
    for app in ordered:
        _mail_applicant(session, season, app, "publicity_started", str(window.id), dict(
            title=notice.title, start_date=window.start_date, end_date=window.end_date, workdays=window.workdays,
        ))
    log.info("publicity window %s opened: %s applications, ends %s", window.id, len(ordered), win.end_at)
    return window.id


def _applicant_email(app: Application) -> str | None:
    return app.applicant.email or (app.fields or {}).get("email") or None


def _mail_applicant(session: Session, season: Season, app: Application, template: str, discriminator: str,
                    extra: dict[str, Any]) -> None:
    to = _applicant_email(app)
    if not to:
        audit(session, actor=ACTOR, entity_type="application", entity_id=app.id, action="mail_skipped",
              reason=f"{template}: no e-mail address")
        return
    row = notice_row(season, app)
    ctx = {"greeting": app.applicant.contact_name or row.name, "unit": season.recommending_unit,
           "season_label": season_label(season), "submission_no": app.submission_no, "applicant_name": row.name,
           **extra}
    enqueue(session, key=f"publicity:{template}:{app.id}:{discriminator}", template=template, to=[to],
            context=ctx, application_id=app.id)


# ------------------------------------------------------------------ objections


def _flat(text: str) -> str:
    """NFKC, no whitespace: for finding names and codes in free text."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


def _candidate_windows(session: Session, season: Season, received_at: datetime) -> list[PublicityWindow]:
    """Open windows first, then windows that closed (or ended) recently, newest first."""
    windows = list(session.scalars(
        select(PublicityWindow).where(PublicityWindow.season == season.season_id,
                                      PublicityWindow.opened_at <= received_at)
        .order_by(PublicityWindow.opened_at.desc())
    ))
    return [w for w in windows if w.status == "open"] + [
        w for w in windows if w.status != "open" and received_at - w.end_at <= RECENT_CLOSED
    ]


def match_applications(session: Session, season: Season, text: str, received_at: datetime
                       ) -> list[tuple[Application, PublicityWindow]]:
    """Applications of open or recently closed windows named in ``text``.

    By submission number or code (credit code / ID number: the applicant's key) first; otherwise by name
    (a name contained in a longer matched name is dropped). Each application is paired with its newest window.
    """
    flat = _flat(text)
    codes = normalize(flat)
    by_code: dict[int, tuple[Application, PublicityWindow]] = {}
    by_name: dict[int, tuple[Application, PublicityWindow]] = {}
    names: dict[int, str] = {}
    for window in _candidate_windows(session, season, received_at):
        for entry in window.entries:
            app = session.get(Application, entry.application_id)
            if app is None or app.id in by_code or app.id in by_name:
                continue
            keys = [normalize(app.submission_no), normalize(app.applicant.key or "")]
            if any(k and len(k) >= 6 and k in codes for k in keys):
                by_code[app.id] = (app, window)
                continue
            for name in {app.applicant.name, notice_row(season, app).name}:
                name = _flat(name)
                if len(name) >= 2 and name in flat:
                    by_name[app.id] = (app, window)
                    names[app.id] = name
                    break
    if by_code:
        return list(by_code.values())
    keep = [i for i in by_name if not any(names[i] != names[j] and names[i] in names[j] for j in by_name)]
    return [by_name[i] for i in keep]


def _pdf_text(data: bytes) -> str:
    try:
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    except Exception:  # noqa: BLE001 - a scan without text layer or a damaged PDF: match on the name only
        return ""


@dataclass
class IngestResult:
    """What one objection intake did."""

    inbound_item_id: int
    objection_ids: list[int] = field(default_factory=list)
    matched: list[int] = field(default_factory=list)  # application ids
    late: bool = False
    unmatched: bool = False
    already: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"inbound_item_id": self.inbound_item_id, "objection_ids": self.objection_ids,
                "matched": self.matched, "late": self.late, "unmatched": self.unmatched, "already": self.already}


def ingest_objection(session: Session, rt: Runtime, inbound_item_id: int, extra_text: str = "") -> IngestResult:
    """Record an archived objection (an .eml from the objection mailbox or a scanned file).

    Matched to applicants of open / recently closed windows by submission number, code or name; one
    Objection row per matched application (status open; ``late`` when received after the window's end_at,
    staff told). Nothing matched: one row with status ``unmatched`` and staff asked to assign it. The objector
    (mail only) gets an acknowledgement. Idempotent: an inbound item already recorded is not recorded again.
    """
    season = rt.season
    item = session.get(InboundItem, inbound_item_id)
    if item is None:
        raise PublicityError(f"inbound_item_id: no inbound item {inbound_item_id}")
    result = IngestResult(inbound_item_id)
    done = list(session.scalars(select(Objection.id).where(Objection.inbound_item_id == item.id)))
    if done:
        result.objection_ids, result.already = done, True
        return result
    data = rt.blobs.get_bytes(item.sha256)
    objector_name = objector_email = None
    if item.channel in MAIL_CHANNELS:
        from award.inbound.mime import parse_message

        msg = parse_message(data)
        objector_name, objector_email = msg.sender_name or None, msg.sender_addr or None
        names = " ".join(a.filename for a in msg.attachments)
        texts = [_pdf_text(a.data) for a in msg.attachments if a.filename.lower().endswith(".pdf")]
        text = "\n".join([msg.subject, msg.body_text, names, *texts, extra_text])
        source = _text("source.mail")
    else:
        name = PurePosixPath(item.filename or item.source_key).name
        text = "\n".join([name, _pdf_text(data) if name.lower().endswith(".pdf") else "", extra_text])
        source = _text("source.scanned")
    received = item.received_at
    matches = match_applications(session, season, text, received)
    stored_text = text[:20000]
    if matches:
        for app, window in matches:
            late = received > window.end_at
            obj = Objection(window_id=window.id, application_id=app.id, inbound_item_id=item.id,
                            objector_name=objector_name, objector_email=objector_email, text=stored_text,
                            received_at=received, late=late, status="open")
            session.add(obj)
            session.flush()
            result.objection_ids.append(obj.id)
            result.matched.append(app.id)
            result.late = result.late or late
            audit(session, actor=ACTOR, entity_type="objection", entity_id=obj.id,
                  action="objection_late" if late else "objection_received",
                  reason=_text("reason.objection_late") if late else _text("reason.objection_received"),
                  details={"application_id": app.id, "window_id": window.id, "inbound_item_id": item.id})
            if late:
                _staff(session, season, obj, "late", item, source, app=app, window=window)
    else:
        open_windows = [w for w in _candidate_windows(session, season, received) if w.status == "open"]
        nearest = open_windows[0] if open_windows else None
        obj = Objection(window_id=nearest.id if nearest else None, inbound_item_id=item.id,
                        objector_name=objector_name, objector_email=objector_email, text=stored_text,
                        received_at=received, late=bool(nearest and received > nearest.end_at), status="unmatched")
        session.add(obj)
        session.flush()
        result.objection_ids.append(obj.id)
        result.unmatched = True
        audit(session, actor=ACTOR, entity_type="objection", entity_id=obj.id, action="objection_unmatched",
              reason=_text("reason.objection_unmatched"),
              details={"inbound_item_id": item.id, "window_id": obj.window_id})
        _staff(session, season, obj, "unmatched", item, source)
    item.status = "parsed"
    if objector_email:
        first = matches[0][1] if matches else None
        enqueue(session, key=f"publicity:objection_ack:{item.id}:0", template="objection_ack", to=[objector_email],
                context=dict(greeting=objector_name or _text("greeting.objector"), unit=season.recommending_unit,
                             season_label=season_label(season), inbound_id=item.id, received_at=received,
                             late=result.late, end_date=first.end_date if first else None))
    log.info("objection item %s: %s objection(s), late=%s, unmatched=%s", item.id, len(result.objection_ids),
             result.late, result.unmatched)
    return result


def _staff(session: Session, season: Season, obj: Objection, kind: str, item: InboundItem, source: str,
           app: Application | None = None, window: PublicityWindow | None = None) -> None:
    enqueue(session, key=f"publicity:objection_staff:{obj.id}:{kind}", template="objection_staff",
            to=[str(season.recommending_unit.ops_email)],
            context=dict(greeting=_text("greeting.staff"), unit=season.recommending_unit, season_label=season_label(season),
                         kind=kind, inbound_id=item.id, objection_id=obj.id, source=source,
                         subject=item.subject or "", submission_no=app.submission_no if app else "",
                         end_date=window.end_date if window else None))


def archive_objection_mail(session: Session, rt: Runtime, *, channel: str, source_key: str, raw: bytes,
                           delivered_at: datetime | None = None) -> InboundItem:
    """Archive a raw objection e-mail (purpose "objection"); ``delivered_at`` (mailbox arrival) is kept."""
    from award.inbound.mime import parse_message

    msg = parse_message(raw)
    archived = archive_inbound(session, rt.blobs, season=rt.season.season_id, channel=channel,
                               source_key=source_key, data=raw, purpose="objection", filename="objection.eml",
                               sender=msg.sender_addr or None, subject=msg.subject)
    if archived.created and delivered_at is not None and delivered_at < archived.item.received_at:
        archived.item.received_at = delivered_at  # arrival in the mailbox, not our polling time, decides "late"
    return archived.item


def scan_objections(session: Session, rt: Runtime, maildir_root: str | None = None,
                    folder: str = "objections", prefix: str = "objections/",
                    source: MailSource | None = None) -> list[IngestResult]:
    """Take new objections from the objections mailbox and from shared storage ``prefix``.

    The mailbox is ``source`` (an IMAP source under Airflow) or the Maildir folder ``folder``: each message is
    archived with its arrival time in the mailbox (which decides "late", not our polling time), committed, then
    moved to the processed folder (never deleted). A ``.txt`` file next to a scanned file with the same stem is
    read as its accompanying text.
    """
    from pathlib import Path

    from award.inbound.sources import MaildirSource
    from award.runtime import maildir

    results: list[IngestResult] = []
    if source is None:
        source = MaildirSource(Path(maildir_root) if maildir_root else maildir(), folder)
    items = list(source.messages(session))
    for item in items:
        archived = archive_objection_mail(session, rt, channel=source.channel, source_key=item.source_key,
                                          raw=item.data, delivered_at=item.delivered_at)
        results.append(ingest_objection(session, rt, archived.id))
    if items:
        source.advance(session, items)
        session.commit()  # recorded before the messages leave the folder
        source.mark_processed(items)
    objects = rt.shared.list(prefix)
    texts = {o.key[:-4]: o for o in objects if o.key.lower().endswith(".txt")}
    stems = {o.key.rsplit(".", 1)[0] for o in objects if not o.key.lower().endswith(".txt")}
    for obj in objects:
        stem = obj.key.rsplit(".", 1)[0]
        if obj.key.lower().endswith(".txt") and stem in stems:
            continue  # accompanying text of a scan
        data = rt.shared.read(obj.key)
        scan = archive_inbound(session, rt.blobs, season=rt.season.season_id, channel="shared",
                               source_key=f"shared:{obj.key}@{obj.etag}", data=data, purpose="objection",
                               filename=PurePosixPath(obj.key).name)
        side = texts.get(stem) if not obj.key.lower().endswith(".txt") else None
        extra = rt.shared.read(side.key).decode("utf-8", "replace") if side else ""
        results.append(ingest_objection(session, rt, scan.item.id, extra_text=extra))
    return results


def assign_objection(session: Session, rt: Runtime, objection_id: int, submission_no: str,
                     actor: str) -> Objection:
    """Staff match an unmatched objection to an application (by submission number) in one of its windows."""
    obj = session.get(Objection, objection_id)
    if obj is None:
        raise PublicityError(f"objection_id: no objection {objection_id}")
    if obj.status != "unmatched":
        raise PublicityError(f"objection {objection_id}: already {obj.status}, only unmatched ones are assigned")
    (app_id,) = ids_for_submissions(session, rt.season, [submission_no])
    entry = session.scalar(
        select(PublicityEntry).join(PublicityWindow).where(PublicityEntry.application_id == app_id)
        .order_by((PublicityWindow.id == obj.window_id).desc(), PublicityWindow.opened_at.desc())
    )
    if entry is None:
        raise PublicityError(f"submission_no: {submission_no} is not listed in any publicity window")
    window = entry.window
    obj.application_id, obj.window_id, obj.status = app_id, window.id, "open"
    obj.late = obj.received_at > window.end_at
    audit(session, actor=actor, entity_type="objection", entity_id=obj.id, action="objection_assigned",
          reason=_text("reason.objection_assigned", submission_no=submission_no),
          details={"application_id": app_id, "window_id": window.id, "late": obj.late})
    if obj.late:
        item = session.get(InboundItem, obj.inbound_item_id) if obj.inbound_item_id else None
        if item is not None:
            _staff(session, rt.season, obj, "late", item, _text("source.assigned"), app=session.get(Application, app_id),
                   window=window)
    return obj


# ------------------------------------------------------------------ closing and deciding


def blocking_objections(session: Session, application_id: int) -> list[Objection]:
    """Open, non-late objections against an application: while any exists, it does not move on."""
    return list(session.scalars(select(Objection).where(Objection.application_id == application_id,
                                                        Objection.status == "open",
                                                        Objection.late.is_(False))))


@dataclass
class CloseResult:
    """What closing a window did."""

    window_id: int
    passed: list[int] = field(default_factory=list)  # application ids
    pending: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # left the publicity state meanwhile (e.g. withdrawn)
    objection_ids: list[int] = field(default_factory=list)  # open objections awaiting a decision

    def as_dict(self) -> dict[str, Any]:
        return {"window_id": self.window_id, "passed": self.passed, "pending": self.pending,
                "skipped": self.skipped, "objection_ids": self.objection_ids}


def close_window(session: Session, rt: Runtime, window_id: int, actor: str = ACTOR) -> CloseResult:
    """Close a window at (or after) its end_at.

    Applicants without open objections pass; those with open objections move to the purpose's objection state
    and wait for :func:`resolve_objection`. Refuses before end_at and while unmatched objections of the window
    wait for staff. Closing a closed window returns its result again.
    """
    window = session.get(PublicityWindow, window_id)
    if window is None:
        raise PublicityError(f"window_id: no publicity window {window_id}")
    states = _states(window.purpose)
    result = CloseResult(window.id)
    if window.status == "open":
        if now() <= window.end_at:
            raise PublicityError(f"publicity window {window.id} runs until {window.end_at.isoformat()}")
        unmatched = list(session.scalars(select(Objection.id).where(Objection.window_id == window.id,
                                                                    Objection.status == "unmatched",
                                                                    Objection.late.is_(False))))
        if unmatched:
            raise UnmatchedObjectionsError(window.id, unmatched)
    for entry in sorted(window.entries, key=lambda e: e.id):
        app = session.get(Application, entry.application_id)
        assert app is not None
        blocking = [o.id for o in blocking_objections(session, app.id)]
        if app.state == states.during.value:
            if blocking:
                transition(session, app, states.pending, actor=actor, reason=_text("reason.objection_pending", window_id=window.id),
                           details={"window_id": window.id, "objection_ids": blocking})
            else:
                transition(session, app, states.passed, actor=actor, reason=_text("reason.passed", window_id=window.id),
                           details={"window_id": window.id})
                entry.outcome = "passed"
        if app.state == states.pending.value:
            result.pending.append(app.id)
            result.objection_ids.extend(blocking)
        elif app.state == states.passed.value or entry.outcome == "passed":
            result.passed.append(app.id)
        else:
            result.skipped.append(app.id)
    if window.status == "open":
        window.status, window.closed_at = "closed", now()
        audit(session, actor=actor, entity_type="publicity_window", entity_id=window.id, action="publicity_closed",
              reason=_text("reason.closed"), details=result.as_dict())
    return result


def objections_to_decide(session: Session, window_id: int) -> list[Objection]:
    """Open (non-late) objections of a window, oldest first: one human decision each."""
    return list(session.scalars(select(Objection).where(Objection.window_id == window_id,
                                                        Objection.status == "open", Objection.late.is_(False))
                                .order_by(Objection.id)))


def unmatched_objections(session: Session, window_id: int) -> list[Objection]:
    """Objections received during a window that nobody has matched yet (they hold the close)."""
    return list(session.scalars(select(Objection).where(Objection.window_id == window_id,
                                                        Objection.status == "unmatched",
                                                        Objection.late.is_(False)).order_by(Objection.id)))


def resolve_objection(
    session: Session,
    rt: Runtime,
    objection_id: int,
    decision: str,
    reason: str,
    decided_by: str,
    submission_no: str | None = None,
) -> Objection:
    """Record the decision on an objection (upheld | dismissed) with reason, decision maker and time.

    Upheld: the application is REMOVED. Dismissed: it passes once no other open objection remains (while
    its window is still open it simply stays in publicity). Late objections: the decision is recorded and
    mailed, the application's state is not changed. An unmatched objection needs ``submission_no`` to be
    upheld (it is assigned first); dismissed without one, it concerns nobody on the list. The applicant and
    the objector are e-mailed. Deciding an already decided objection the same way again is a no-op.
    """
    if decision not in DECISIONS:
        raise PublicityError(f"decision: must be one of {DECISIONS}, got {decision!r}")
    if not (reason or "").strip():
        raise PublicityError("reason: a decision needs a reason")
    if not (decided_by or "").strip():
        raise PublicityError("decided_by: a decision needs the name of who decided")
    season = rt.season
    obj = session.get(Objection, objection_id)
    if obj is None:
        raise PublicityError(f"objection_id: no objection {objection_id}")
    if obj.status in DECISIONS:
        if obj.status == decision:
            return obj
        raise PublicityError(f"objection {objection_id}: already decided ({obj.status}) by {obj.decided_by}")
    if obj.status == "unmatched" and submission_no:
        assign_objection(session, rt, objection_id, submission_no, decided_by)
    if obj.status == "unmatched" and decision == UPHELD:
        raise PublicityError(f"objection {objection_id}: submission_no: name the application the objection concerns")
    decided_at = now()
    obj.status, obj.resolution, obj.decided_by, obj.decided_at = decision, reason.strip(), decided_by, decided_at
    audit(session, actor=decided_by, entity_type="objection", entity_id=obj.id, action=f"objection_{decision}",
          reason=reason.strip(), details={"application_id": obj.application_id, "window_id": obj.window_id,
                                          "late": obj.late, "decided_at": decided_at.isoformat()})
    app = session.get(Application, obj.application_id) if obj.application_id else None
    window = session.get(PublicityWindow, obj.window_id) if obj.window_id else None
    if app is not None and window is not None and not obj.late:
        _apply_decision(session, app, window, obj, decision, decided_by, reason.strip())
    ctx = dict(unit=season.recommending_unit, season_label=season_label(season), upheld=decision == UPHELD,
               reason=reason.strip(), decided_at=decided_at)
    if app is not None:
        _mail_applicant(session, season, app, "objection_outcome_applicant", str(obj.id), ctx)
    if obj.objector_email:
        enqueue(session, key=f"publicity:objection_outcome_objector:{obj.id}:{decision}",
                template="objection_outcome_objector", to=[obj.objector_email],
                context=dict(greeting=obj.objector_name or _text("greeting.objector"), inbound_id=obj.inbound_item_id or obj.id, **ctx))
    return obj


def _apply_decision(session: Session, app: Application, window: PublicityWindow, obj: Objection, decision: str,
                    decided_by: str, reason: str) -> None:
    states = _states(window.purpose)
    entry = session.scalar(select(PublicityEntry).where(PublicityEntry.window_id == window.id,
                                                        PublicityEntry.application_id == app.id))
    details = {"objection_id": obj.id, "window_id": window.id}
    if decision == UPHELD:
        if app.state == states.during.value:
            transition(session, app, states.pending, actor=decided_by, reason=_text("reason.upheld_pending", objection_id=obj.id),
                       details=details)
        if app.state == states.pending.value:
            transition(session, app, State.REMOVED, actor=decided_by, reason=_text("reason.upheld", reason=reason),
                       details=details)
            if entry is not None:
                entry.outcome = "removed"
        return
    if app.state == states.pending.value and not blocking_objections(session, app.id):
        transition(session, app, states.passed, actor=decided_by, reason=_text("reason.dismissed", reason=reason),
                   details=details)
        if entry is not None:
            entry.outcome = "passed"


def window_summary(session: Session, window_id: int) -> dict[str, Any]:
    """Ids, dates, status and counts of a window (small: fit for XCom)."""
    window = session.get(PublicityWindow, window_id)
    if window is None:
        raise PublicityError(f"window_id: no publicity window {window_id}")
    return {"window_id": window.id, "purpose": window.purpose, "status": window.status,
            "start": window.start_date.isoformat(), "end": window.end_date.isoformat(),
            "end_at": window.end_at.isoformat(), "applications": len(window.entries)}


def decision_request(session: Session, season: Season, objection_id: int) -> dict[str, str]:
    """Subject and body (Markdown) of the human decision on one objection, from templates/publicity/."""
    obj = session.get(Objection, objection_id)
    if obj is None:
        raise PublicityError(f"objection_id: no objection {objection_id}")
    app = session.get(Application, obj.application_id) if obj.application_id else None
    text = render("publicity/decision_request.md.j2", objection=obj, app=app,
                  row=notice_row(season, app) if app is not None else None)
    subject, _, body = text.strip().partition("\n")
    return {"subject": subject.strip(), "body": body.strip()}

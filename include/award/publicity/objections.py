"""Objections (异议) during publicity: taken from the mailbox and the scans folder, matched, acknowledged, assigned.

Objections are archived first and handed to :func:`ingest_objection`: matched by submission number, credit code /
ID number, or name to the applications of open or recently closed windows; acknowledged; recorded open, or late
after the window's ``end_at``; unmatched ones go to staff, who match them with :func:`assign_objection`.

Late objections: the notice says objections must be raised within the window, so an objection received after
``end_at`` is recorded (``late=True``), acknowledged and forwarded to staff, but it does NOT block the applicant.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from award.config import Season
from award.enums import InboundPurpose, InboundStatus, ObjectionStatus, WindowStatus
from award.identity import normalize
from award.inbound.archive import archive_inbound
from award.inbound.mime import parse_message
from award.inbound.sources import MAIL_CHANNELS, MaildirSource, MailSource
from award.publicity.errors import PublicityError
from award.publicity.mails import mail_objector_ack, mail_staff
from award.publicity.notice import notice_row
from award.publicity.purposes import ACTOR
from award.publicity.windows import ids_for_submissions
from award.runtime import Runtime, maildir
from award.states import audit
from award.store.models import Application, InboundItem, Objection, PublicityEntry, PublicityWindow
from award.templating import message_group

log = logging.getLogger(__name__)

_text = message_group("publicity", "publicity")

RECENT_CLOSED = timedelta(days=30)  # objections still matched to windows closed this recently (recorded late)


# ------------------------------------------------------------------ matching


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
    return [w for w in windows if w.status == WindowStatus.OPEN] + [
        w for w in windows if w.status != WindowStatus.OPEN and received_at - w.end_at <= RECENT_CLOSED
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
        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    except Exception:  # noqa: BLE001 - a scan without text layer or a damaged PDF: match on the name only
        return ""


# ------------------------------------------------------------------ recording


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
                            received_at=received, late=late, status=ObjectionStatus.OPEN)
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
                mail_staff(session, season, obj, "late", item, source, app=app, window=window)
    else:
        open_windows = [w for w in _candidate_windows(session, season, received) if w.status == WindowStatus.OPEN]
        nearest = open_windows[0] if open_windows else None
        obj = Objection(window_id=nearest.id if nearest else None, inbound_item_id=item.id,
                        objector_name=objector_name, objector_email=objector_email, text=stored_text,
                        received_at=received, late=bool(nearest and received > nearest.end_at),
                        status=ObjectionStatus.UNMATCHED)
        session.add(obj)
        session.flush()
        result.objection_ids.append(obj.id)
        result.unmatched = True
        audit(session, actor=ACTOR, entity_type="objection", entity_id=obj.id, action="objection_unmatched",
              reason=_text("reason.objection_unmatched"),
              details={"inbound_item_id": item.id, "window_id": obj.window_id})
        mail_staff(session, season, obj, "unmatched", item, source)
    item.status = InboundStatus.PARSED
    if objector_email:
        first = matches[0][1] if matches else None
        mail_objector_ack(session, season, item, objector_email, objector_name, received, result.late,
                          first.end_date if first else None)
    log.info("objection item %s: %s objection(s), late=%s, unmatched=%s", item.id, len(result.objection_ids),
             result.late, result.unmatched)
    return result


# ------------------------------------------------------------------ taking them in


def archive_objection_mail(session: Session, rt: Runtime, *, channel: str, source_key: str, raw: bytes,
                           delivered_at: datetime | None = None) -> InboundItem:
    """Archive a raw objection e-mail (purpose "objection"); ``delivered_at`` (mailbox arrival) is kept."""
    msg = parse_message(raw)
    archived = archive_inbound(session, rt.blobs, season=rt.season.season_id, channel=channel,
                               source_key=source_key, data=raw, purpose=InboundPurpose.OBJECTION,
                               filename="objection.eml", sender=msg.sender_addr or None, subject=msg.subject)
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
        scan = archive_inbound(session, rt.blobs, season=rt.season.season_id, channel=rt.shared.channel,
                               source_key=f"shared:{obj.key}@{obj.etag}", data=data,
                               purpose=InboundPurpose.OBJECTION, filename=PurePosixPath(obj.key).name)
        side = texts.get(stem) if not obj.key.lower().endswith(".txt") else None
        extra = rt.shared.read(side.key).decode("utf-8", "replace") if side else ""
        results.append(ingest_objection(session, rt, scan.item.id, extra_text=extra))
    return results


def take_objections(session: Session, rt: Runtime, source: MailSource) -> dict[str, int]:
    """The DAGs' step: :func:`scan_objections` with ``source`` (closed afterwards), counted (fit for XCom)."""
    try:
        results = scan_objections(session, rt, source=source)
    finally:
        source.close()
    new = [r for r in results if not r.already]
    return {"new": len(new), "late": sum(r.late for r in new), "unmatched": sum(r.unmatched for r in new)}


# ------------------------------------------------------------------ assigning


def assign_objection(session: Session, rt: Runtime, objection_id: int, submission_no: str,
                     actor: str) -> Objection:
    """Staff match an unmatched objection to an application (by submission number) in one of its windows."""
    obj = session.get(Objection, objection_id)
    if obj is None:
        raise PublicityError(f"objection_id: no objection {objection_id}")
    if obj.status != ObjectionStatus.UNMATCHED:
        raise PublicityError(f"objection {objection_id}: already {obj.status}, only unmatched ones are assigned")
    (app_id,) = ids_for_submissions(session, rt.season, [submission_no])
    entry = session.scalar(
        select(PublicityEntry).join(PublicityWindow).where(PublicityEntry.application_id == app_id)
        .order_by((PublicityWindow.id == obj.window_id).desc(), PublicityWindow.opened_at.desc())
    )
    if entry is None:
        raise PublicityError(f"submission_no: {submission_no} is not listed in any publicity window")
    window = entry.window
    obj.application_id, obj.window_id, obj.status = app_id, window.id, ObjectionStatus.OPEN
    obj.late = obj.received_at > window.end_at
    audit(session, actor=actor, entity_type="objection", entity_id=obj.id, action="objection_assigned",
          reason=_text("reason.objection_assigned", submission_no=submission_no),
          details={"application_id": app_id, "window_id": window.id, "late": obj.late})
    if obj.late:
        item = session.get(InboundItem, obj.inbound_item_id) if obj.inbound_item_id else None
        if item is not None:
            mail_staff(session, rt.season, obj, "late", item, _text("source.assigned"),
                       app=session.get(Application, app_id), window=window)
    return obj

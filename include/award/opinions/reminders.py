"""Reminders and defaults of open requests.

A reminder goes on the working day ``workdays_before(due, n)`` for each ``n`` in ``reminder_workdays_before`` while
some listed application still has no opinion from the department; a run that missed a reminder day sends the
latest missed one only, never after the due date. From the first run after the due date, each silent department's
``default_on_silence`` is recorded (``source="default"``) on every application it did not answer.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.clock import now
from award.enums import OpinionRequestStatus, OpinionSource, Verdict
from award.mail.outbox import enqueue
from award.opinions.clearing import ACTOR, current_opinions, record_opinion
from award.opinions.departments import department, reminder_days
from award.opinions.letters import attachments, filenames, rows_of
from award.opinions.texts import base_context, sheet_texts
from award.runtime import Runtime
from award.states import audit
from award.store.models import Application, AuditEvent, OpinionRequest
from award.templating import message_group

_text = message_group("opinions", "opinions")


def send_reminders(session: Session, rt: Runtime, *, today: date | None = None, actor: str = ACTOR) -> list[int]:
    """Queue the reminders due today for requests still missing opinions; returns the outbox ids created."""
    season = rt.season
    today = today or now().date()
    created: list[int] = []
    requests = session.scalars(
        select(OpinionRequest).where(OpinionRequest.season == season.season_id,
                                     OpinionRequest.status == OpinionRequestStatus.OPEN)
        .order_by(OpinionRequest.id)
    ).all()
    for request in requests:
        dept = department(season, request.department)
        if dept is None or today > request.due_date or request.sent_at is None:
            continue
        sent_on = request.sent_at.date()
        due_now = [(n, d) for n, d in reminder_days(season, dept, request.due_date) if sent_on < d <= today]
        if not due_now:
            continue
        n, _day = due_now[-1]
        rows = [r for r in rows_of(session, season, request) if request.department not in current_opinions(
            session, r.application_id)]
        if not rows:
            continue
        letter_name, sheet_name = filenames(season, request)
        sent_audit = session.scalar(select(AuditEvent).where(
            AuditEvent.entity_type == "opinion_request", AuditEvent.entity_id == request.id,
            AuditEvent.action == "opinion_request_sent"))
        ctx = base_context(season, dept.name) | {
            "token": request.token, "due_date": request.due_date, "sent_on": sent_on, "rows": rows,
            "doc_number": (sent_audit.details or {}).get("doc_number", "") if sent_audit else "",
            "silence_meaning": sheet_texts()["silence_meaning"][dept.default_on_silence],
        }
        row, new = enqueue(session, key=f"opinions:opinion_reminder:{request.id}:{n}", template="opinion_reminder",
                           to=[str(dept.email)], context=ctx,
                           attachments=attachments(request, letter_name, sheet_name))
        if new:
            created.append(row.id)
            audit(session, actor=actor, entity_type="opinion_request", entity_id=request.id,
                  action="opinion_reminder_sent", details={"workdays_before": n, "missing": len(rows)})
    return created


def apply_defaults(session: Session, rt: Runtime, *, today: date | None = None, actor: str = ACTOR) -> list[int]:
    """After the due date, record each silent department's default on every application it did not answer.

    Returns the ids of the default opinions created; the request becomes ``defaulted`` (or ``answered``).
    """
    season = rt.season
    today = today or now().date()
    created: list[int] = []
    requests = session.scalars(
        select(OpinionRequest).where(OpinionRequest.season == season.season_id,
                                     OpinionRequest.status == OpinionRequestStatus.OPEN,
                                     OpinionRequest.due_date < today).order_by(OpinionRequest.id)
    ).all()
    for request in requests:
        dept = department(season, request.department)
        verdict = dept.default_on_silence if dept is not None else Verdict.FOLLOW_UP
        silent = []
        for item in request.items:
            if request.department in current_opinions(session, item.application_id):
                continue
            app = session.get(Application, item.application_id)
            assert app is not None
            op = record_opinion(session, rt, request, app, verdict, None, source=OpinionSource.DEFAULT,
                                source_sha256=None, received_at=now(), actor=actor)
            if op is not None:
                created.append(op.id)
                silent.append(app.id)
        request.status = OpinionRequestStatus.DEFAULTED if silent else OpinionRequestStatus.ANSWERED
        meaning = sheet_texts()["silence_meaning"][verdict]  # 无异议 / 需进一步核实…, not the code
        audit(session, actor=actor, entity_type="opinion_request", entity_id=request.id,
              action="opinion_default_applied",
              reason=_text("reason.default_applied", meaning=meaning) if silent else None,
              details={"default": verdict, "applications": silent, "due_date": request.due_date.isoformat()})
    return created

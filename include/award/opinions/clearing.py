"""Recording department opinions and clearing applications.

A new opinion of a department on an application supersedes its current one (both kept). Once every asked
department has an opinion (a reply or a default), an application in DEPT_REVIEW moves to DEPT_CLEARED if all are
``no_objection``, else to DEPT_OBJECTION; one waiting in DEPT_OBJECTION whose departments have since all said
``no_objection`` is cleared. A late adverse opinion reopens a DEPT_CLEARED application, and beyond that (publicity
and later) is only recorded, audited and reported to staff.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.enums import OpinionRequestStatus, OpinionSource, Verdict
from award.opinions.departments import department
from award.opinions.texts import notice_texts, ops_notice, verdict_label
from award.runtime import Runtime
from award.states import LABELS_ZH, State, audit, transition
from award.store.models import Application, Opinion, OpinionRequest, OpinionRequestItem
from award.templating import message_group

ACTOR = "opinions"
VERDICTS = tuple(Verdict)
ADVERSE = frozenset({Verdict.OBJECTION, Verdict.FOLLOW_UP})
# states after DEPT_CLEARED on the way to the national submission: a late objection is only reported there
_BEYOND_CLEARED = frozenset(State) - {
    State.RECEIVED, State.INCOMPLETE, State.COMPLETE, State.NEEDS_REVIEW, State.DEPT_REVIEW, State.DEPT_OBJECTION,
    State.DEPT_CLEARED,
}

_text = message_group("opinions", "opinions")


class OpinionError(ValueError):
    """Bad input to the opinions stage (unknown application, choice or reason); the message names it."""


def asked_departments(session: Session, app_id: int) -> set[str]:
    """The codes of the departments asked about an application."""
    return set(session.scalars(
        select(OpinionRequest.department).join(OpinionRequestItem).where(OpinionRequestItem.application_id == app_id)
    ))


def current_opinions(session: Session, app_id: int) -> dict[str, Opinion]:
    """The current (not superseded) opinion of each department on an application."""
    ops = session.scalars(
        select(Opinion).where(Opinion.application_id == app_id, Opinion.superseded_by_id.is_(None)).order_by(Opinion.id)
    ).all()
    return {op.department: op for op in ops}


def record_opinion(session: Session, rt: Runtime, request: OpinionRequest, app: Application, verdict: str,
                   reason: str | None, *, source: str, source_sha256: str | None, received_at: datetime,
                   actor: str = ACTOR) -> Opinion | None:
    """Record one department opinion (superseding the current one) and move the application on.

    Returns None when the same file already gave the same opinion (a repeated delivery).
    """
    if verdict not in VERDICTS:
        raise OpinionError(f"unknown verdict {verdict!r} (expected one of {', '.join(VERDICTS)})")
    current = current_opinions(session, app.id).get(request.department)
    if (current is not None and source == OpinionSource.REPLY and current.source == OpinionSource.REPLY
            and current.source_sha256 == source_sha256 and current.verdict == verdict
            and (current.reason or None) == (reason or None)):
        return None
    late = source == OpinionSource.REPLY and received_at.date() > request.due_date
    op = Opinion(request_id=request.id, application_id=app.id, department=request.department, verdict=verdict,
                 reason=reason or None, source=source, source_sha256=source_sha256, late=late, received_at=received_at)
    session.add(op)
    session.flush()
    if current is not None:
        current.superseded_by_id = op.id
    audit(session, actor=actor, entity_type="application", entity_id=app.id, action=f"dept_opinion_{source}",
          reason=reason, details={"department": request.department, "token": request.token, "verdict": verdict,
                                  "late": late, "opinion_id": op.id,
                                  "supersedes": current.id if current is not None else None})
    _after_opinion(session, rt, app, op, actor=actor)
    return op


def _after_opinion(session: Session, rt: Runtime, app: Application, op: Opinion, *, actor: str) -> None:
    state = State(app.state)
    if state in (State.DEPT_REVIEW, State.DEPT_OBJECTION):
        settle(session, app, actor=actor)
    elif state == State.DEPT_CLEARED and op.verdict in ADVERSE:
        transition(session, app, State.DEPT_OBJECTION, actor=actor,
                   reason=_text("reason.reopened", late=op.late),
                   details={"department": op.department, "opinion_id": op.id, "late": op.late})
    elif state in _BEYOND_CLEARED and state not in (State.REMOVED, State.WITHDRAWN) and op.verdict in ADVERSE:
        season = rt.season
        dept = department(season, op.department)
        audit(session, actor=actor, entity_type="application", entity_id=app.id,
              action="dept_opinion_after_clearance", reason=op.reason,
              details={"department": op.department, "opinion_id": op.id, "state": app.state})
        staff = notice_texts()["staff"]
        ops_notice(session, season, f"opinions:staff_notice:after_clearance:{op.id}", staff["after_clearance_title"],
                   staff["after_clearance_text"].format(
                       department=dept.name if dept else op.department, name=app.applicant.name,
                       submission_no=app.submission_no, verdict=verdict_label(op.verdict),
                       state=LABELS_ZH[state], reason=op.reason or ""))


def settle(session: Session, app: Application, *, actor: str = ACTOR) -> str | None:
    """Clear an application or send it to a decision once every asked department has an opinion.

    Returns the new state, or None when nothing changed (opinions missing, or a state this does not handle).
    """
    state = State(app.state)
    if state not in (State.DEPT_REVIEW, State.DEPT_OBJECTION):
        return None
    asked = asked_departments(session, app.id)
    current = current_opinions(session, app.id)
    if not asked or not asked <= set(current):
        return None
    adverse = sorted(d for d in asked if current[d].verdict in ADVERSE)
    details = {"opinions": {d: current[d].verdict for d in sorted(asked)}}
    if state == State.DEPT_REVIEW:
        if adverse:
            transition(session, app, State.DEPT_OBJECTION, actor=actor, reason=_text("reason.objection"),
                       details=details | {"adverse": adverse})
            return State.DEPT_OBJECTION.value
        transition(session, app, State.DEPT_CLEARED, actor=actor, reason=_text("reason.cleared"),
                   details=details)
        return State.DEPT_CLEARED.value
    if not adverse:
        transition(session, app, State.DEPT_CLEARED, actor=actor, reason=_text("reason.cleared_after_correction"),
                   details=details)
        return State.DEPT_CLEARED.value
    return None


def refresh_status(session: Session, request: OpinionRequest) -> None:
    """An open request whose every listed application has a reply becomes ``answered``."""
    if request.status != OpinionRequestStatus.OPEN:
        return
    answered = {op.application_id for op in session.scalars(
        select(Opinion).where(Opinion.request_id == request.id, Opinion.source == OpinionSource.REPLY)
    )}
    if {i.application_id for i in request.items} <= answered:
        request.status = OpinionRequestStatus.ANSWERED

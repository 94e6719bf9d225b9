"""Closing a window and deciding its objections, each decision audited with reason, decision maker and time.

:func:`close_window` (no earlier than ``end_at``; refuses while unmatched objections of the window wait for staff)
-> :func:`resolve_objection` per open objection (upheld: REMOVED; dismissed: passes once no other open objection
remains); the applicant and the objector are e-mailed. A late objection's decision is recorded and mailed without
changing the application's state.

The guard "nobody moves on while an objection is open" lives in :func:`award.states.transition` (it refuses every
move but to the objection/removed/withdrawn states while a non-late objection is open).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.clock import now
from award.enums import ObjectionStatus, WindowStatus
from award.publicity.errors import PublicityError, UnmatchedObjectionsError
from award.publicity.mails import mail_applicant, mail_objector_outcome
from award.publicity.objections import assign_objection
from award.publicity.purposes import ACTOR, purpose_states
from award.runtime import Runtime
from award.states import State, audit, transition
from award.store.models import Application, Objection, PublicityEntry, PublicityWindow
from award.templating import message_group

_text = message_group("publicity", "publicity")

UPHELD = ObjectionStatus.UPHELD
DISMISSED = ObjectionStatus.DISMISSED
DECISIONS = (UPHELD, DISMISSED)


# ------------------------------------------------------------------ closing


def blocking_objections(session: Session, application_id: int) -> list[Objection]:
    """Open, non-late objections against an application: while any exists, it does not move on."""
    return list(session.scalars(select(Objection).where(Objection.application_id == application_id,
                                                        Objection.status == ObjectionStatus.OPEN,
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
    states = purpose_states(window.purpose)
    result = CloseResult(window.id)
    if window.status == WindowStatus.OPEN:
        if now() <= window.end_at:
            raise PublicityError(f"publicity window {window.id} runs until {window.end_at.isoformat()}")
        unmatched = [o.id for o in unmatched_objections(session, window.id)]
        if unmatched:
            raise UnmatchedObjectionsError(window.id, unmatched)
    for entry in sorted(window.entries, key=lambda e: e.id):
        app = session.get(Application, entry.application_id)
        assert app is not None
        blocking = [o.id for o in blocking_objections(session, app.id)]
        if app.state == states.during.value:
            if blocking:
                transition(session, app, states.pending, actor=actor,
                           reason=_text("reason.objection_pending", window_id=window.id),
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
    if window.status == WindowStatus.OPEN:
        window.status, window.closed_at = WindowStatus.CLOSED, now()
        audit(session, actor=actor, entity_type="publicity_window", entity_id=window.id, action="publicity_closed",
              reason=_text("reason.closed"), details=result.as_dict())
    return result


def objections_to_decide(session: Session, window_id: int) -> list[Objection]:
    """Open (non-late) objections of a window, oldest first: one human decision each."""
    return list(session.scalars(select(Objection).where(Objection.window_id == window_id,
                                                        Objection.status == ObjectionStatus.OPEN,
                                                        Objection.late.is_(False))
                                .order_by(Objection.id)))


def unmatched_objections(session: Session, window_id: int) -> list[Objection]:
    """Objections received during a window that nobody has matched yet (they hold the close)."""
    return list(session.scalars(select(Objection).where(Objection.window_id == window_id,
                                                        Objection.status == ObjectionStatus.UNMATCHED,
                                                        Objection.late.is_(False)).order_by(Objection.id)))


def objections_to_place(session: Session, rt: Runtime, window_id: int) -> list[int]:
    """Ids of the window's unmatched objections: staff place each one before the close (``rt``: the step's shape)."""
    return [o.id for o in unmatched_objections(session, window_id)]


# ------------------------------------------------------------------ deciding


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
        raise PublicityError(f"decision: must be one of {tuple(map(str, DECISIONS))}, got {decision!r}")
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
    if obj.status == ObjectionStatus.UNMATCHED and submission_no:
        assign_objection(session, rt, objection_id, submission_no, decided_by)
    if obj.status == ObjectionStatus.UNMATCHED and decision == UPHELD:
        raise PublicityError(f"objection {objection_id}: submission_no: name the application the objection concerns")
    decided_at = now()
    obj.status, obj.resolution = ObjectionStatus(decision), reason.strip()
    obj.decided_by, obj.decided_at = decided_by, decided_at
    audit(session, actor=decided_by, entity_type="objection", entity_id=obj.id, action=f"objection_{decision}",
          reason=reason.strip(), details={"application_id": obj.application_id, "window_id": obj.window_id,
                                          "late": obj.late, "decided_at": decided_at.isoformat()})
    app = session.get(Application, obj.application_id) if obj.application_id else None
    window = session.get(PublicityWindow, obj.window_id) if obj.window_id else None
    if app is not None and window is not None and not obj.late:
        _apply_decision(session, app, window, obj, decision, decided_by, reason.strip())
    ctx = dict(unit=season.recommending_unit, season_label=season.label, upheld=decision == UPHELD,
               reason=reason.strip(), decided_at=decided_at)
    if app is not None:
        mail_applicant(session, season, app, "objection_outcome_applicant", str(obj.id), ctx)
    if obj.objector_email:
        mail_objector_outcome(session, obj, obj.objector_email, decision, ctx)
    return obj


def _apply_decision(session: Session, app: Application, window: PublicityWindow, obj: Objection, decision: str,
                    decided_by: str, reason: str) -> None:
    states = purpose_states(window.purpose)
    entry = session.scalar(select(PublicityEntry).where(PublicityEntry.window_id == window.id,
                                                        PublicityEntry.application_id == app.id))
    details = {"objection_id": obj.id, "window_id": window.id}
    if decision == UPHELD:
        if app.state == states.during.value:
            transition(session, app, states.pending, actor=decided_by,
                       reason=_text("reason.upheld_pending", objection_id=obj.id), details=details)
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

"""The one state machine of an application's life, with every transition written to the audit log.

Nothing else assigns ``Application.state``: call :func:`transition` (or :func:`create_application_state`).
The diagram in README.md is generated from ``TRANSITIONS`` (``award states --mermaid``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.clock import now
from award.enums import ObjectionStatus
from award.enums import OutboxStatus as OutboxStatus  # re-exported: the state machine names its vocabularies
from award.enums import State as State
from award.store.models import Application, AuditEvent, Objection

S = State

TRANSITIONS: dict[State, frozenset[State]] = {
    S.RECEIVED: frozenset({S.INCOMPLETE, S.COMPLETE, S.NEEDS_REVIEW, S.INELIGIBLE, S.LATE, S.WITHDRAWN}),
    S.INCOMPLETE: frozenset({S.COMPLETE, S.NEEDS_REVIEW, S.CLOSED_INCOMPLETE, S.INELIGIBLE, S.WITHDRAWN}),
    # COMPLETE -> PUBLICITY_PASSED: the recommending unit consulted and publicised (process.first_round)
    S.COMPLETE: frozenset({S.INCOMPLETE, S.NEEDS_REVIEW, S.INELIGIBLE, S.DEPT_REVIEW, S.PUBLICITY_PASSED,
                           S.WITHDRAWN}),
    S.NEEDS_REVIEW: frozenset({S.COMPLETE, S.INCOMPLETE, S.INELIGIBLE, S.WITHDRAWN}),
    S.DEPT_REVIEW: frozenset({S.DEPT_CLEARED, S.DEPT_OBJECTION, S.WITHDRAWN}),
    S.DEPT_OBJECTION: frozenset({S.DEPT_CLEARED, S.REMOVED, S.WITHDRAWN}),
    S.DEPT_CLEARED: frozenset({S.DEPT_OBJECTION, S.IN_PUBLICITY, S.WITHDRAWN}),
    S.IN_PUBLICITY: frozenset({S.OBJECTION_PENDING, S.PUBLICITY_PASSED, S.WITHDRAWN}),
    S.OBJECTION_PENDING: frozenset({S.PUBLICITY_PASSED, S.REMOVED, S.WITHDRAWN}),
    S.PUBLICITY_PASSED: frozenset({S.REVIEWED, S.WITHDRAWN}),
    S.REVIEWED: frozenset({S.CANDIDATE, S.NOT_RECOMMENDED, S.WITHDRAWN}),
    S.CANDIDATE: frozenset({S.CANDIDATE_PUBLICITY, S.NOT_RECOMMENDED, S.WITHDRAWN}),
    S.CANDIDATE_PUBLICITY: frozenset({S.CANDIDATE_OBJECTION, S.CANDIDATE_CONFIRMED, S.WITHDRAWN}),
    S.CANDIDATE_OBJECTION: frozenset({S.CANDIDATE_CONFIRMED, S.REMOVED, S.WITHDRAWN}),
    S.CANDIDATE_CONFIRMED: frozenset({S.RECOMMENDED, S.NOT_RECOMMENDED, S.WITHDRAWN}),
    S.RECOMMENDED: frozenset({S.EXPORTED, S.NOT_RECOMMENDED, S.WITHDRAWN}),
    # terminal states
    S.CLOSED_INCOMPLETE: frozenset(),
    S.INELIGIBLE: frozenset(),
    S.LATE: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.REMOVED: frozenset(),
    S.NOT_RECOMMENDED: frozenset(),
    S.EXPORTED: frozenset(),
}

TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
INITIAL_STATES = frozenset({S.RECEIVED, S.LATE, S.INELIGIBLE})

LABELS_ZH: dict[State, str] = {
    S.RECEIVED: "已接收",
    S.INCOMPLETE: "待补正",
    S.COMPLETE: "形式审查通过",
    S.NEEDS_REVIEW: "待人工核对",
    S.CLOSED_INCOMPLETE: "逾期未补正",
    S.INELIGIBLE: "不符合申报条件",
    S.LATE: "逾期不予受理",
    S.WITHDRAWN: "已撤回",
    S.DEPT_REVIEW: "征求部门意见中",
    S.DEPT_OBJECTION: "部门有异议待决定",
    S.DEPT_CLEARED: "部门无异议",
    S.IN_PUBLICITY: "公示中",
    S.OBJECTION_PENDING: "公示异议待处理",
    S.PUBLICITY_PASSED: "公示通过待评审",
    S.REVIEWED: "已评审",
    S.CANDIDATE: "拟推荐",
    S.CANDIDATE_PUBLICITY: "拟推荐名单公示中",
    S.CANDIDATE_OBJECTION: "拟推荐公示异议待处理",
    S.CANDIDATE_CONFIRMED: "待领导小组审定",
    S.RECOMMENDED: "推荐",
    S.NOT_RECOMMENDED: "未推荐",
    S.REMOVED: "已取消",
    S.EXPORTED: "已报送",
}


class IllegalTransition(ValueError):
    """A transition the state machine does not allow."""


_O = OutboxStatus

OUTBOX_TRANSITIONS: dict[OutboxStatus, frozenset[OutboxStatus]] = {
    _O.PENDING: frozenset({_O.SENDING}),
    _O.SENDING: frozenset({_O.SENT, _O.PENDING, _O.UNKNOWN, _O.FAILED}),
    _O.UNKNOWN: frozenset({_O.SENT, _O.PENDING}),  # found in the sent folder / not found, or ops decided
    _O.FAILED: frozenset({_O.PENDING}),  # ``award outbox retry --failed``
    _O.SENT: frozenset(),
}


# While an objection (异议) is open and not late, an application may only go to these states (award.publicity.decisions).
OBJECTION_SAFE = frozenset({S.OBJECTION_PENDING, S.CANDIDATE_OBJECTION, S.REMOVED, S.WITHDRAWN})


class ObjectionOpen(IllegalTransition):
    """The application has an open objection: nobody moves on until it is decided."""


def _open_objection_ids(session: Session, app: Application) -> list[int]:
    if app.id is None or not hasattr(session, "scalars"):
        return []
    return list(session.scalars(select(Objection.id).where(
        Objection.application_id == app.id, Objection.status == ObjectionStatus.OPEN, Objection.late.is_(False))))


def can_transition(current: str | State, target: str | State) -> bool:
    """Whether ``current -> target`` is allowed."""
    return State(target) in TRANSITIONS[State(current)]


def audit(
    session: Session,
    *,
    actor: str,
    entity_type: str,
    entity_id: int | None,
    action: str,
    reason: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the audit log (in the caller's transaction)."""
    event = AuditEvent(
        at=now(), actor=actor, entity_type=entity_type, entity_id=entity_id, action=action, reason=reason,
        from_state=from_state, to_state=to_state, details=details or {},
    )
    session.add(event)
    return event


def create_application_state(
    session: Session, app: Application, state: State, *, actor: str, reason: str, details: dict[str, Any] | None = None
) -> None:
    """Give a new application its first state and audit it (flushes to get the id)."""
    create_application_states(session, [(app, state, reason, details)], actor=actor)


def create_application_states(
    session: Session, entries: list[tuple[Application, State, str, dict[str, Any] | None]], *, actor: str
) -> None:
    """Give new applications their first states and audit each: ``(app, state, reason, details)``.

    One flush for all of them (the ids for the audit events): intake creates a batch's applications at once.
    """
    at = now()
    for app, state, _reason, _details in entries:
        if state not in INITIAL_STATES:
            raise IllegalTransition(f"an application cannot start in {state.value!r}")
        app.state = state.value
        app.state_changed_at = at
        session.add(app)
    session.flush()
    for app, state, reason, details in entries:
        audit(session, actor=actor, entity_type="application", entity_id=app.id, action="create",
              to_state=state.value, reason=reason, details=details)


def transition(
    session: Session,
    app: Application,
    target: State | str,
    *,
    actor: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> bool:
    """Move ``app`` to ``target`` and audit it. Same state: no-op, returns False. Illegal: raises."""
    target = State(target)
    current = State(app.state)
    if current == target:
        return False
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"application {app.submission_no or app.id}: {current.value} -> {target.value} is not allowed"
        )
    if not reason or not actor:
        raise ValueError("a transition needs an actor and a reason")
    if target not in OBJECTION_SAFE and (open_ids := _open_objection_ids(session, app)):
        raise ObjectionOpen(
            f"application {app.submission_no or app.id}: objection(s) {open_ids} still open; decide them first"
        )
    app.state = target.value
    app.state_changed_at = now()
    audit(session, actor=actor, entity_type="application", entity_id=app.id, action="transition",
          from_state=current.value, to_state=target.value, reason=reason, details=details)
    return True


def mermaid() -> str:
    """The state diagram as Mermaid text (for the README)."""
    lines = ["stateDiagram-v2", "    [*] --> received", "    [*] --> late", "    [*] --> ineligible"]
    for source, targets in TRANSITIONS.items():
        for target in sorted(targets, key=lambda t: list(State).index(t)):
            if target is S.WITHDRAWN and source is not S.RECEIVED:
                continue  # drawn once below to keep the diagram readable
            lines.append(f"    {source.value} --> {target.value}")
    lines.append("    note right of withdrawn: reachable from every non-terminal state")
    for state in sorted(TERMINAL, key=lambda t: list(State).index(t)):
        lines.append(f"    {state.value} --> [*]")
    return "\n".join(lines)

"""tests.factories reaches every state of the machine through allowed, audited transitions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from award.states import INITIAL_STATES, TRANSITIONS, State
from award.store import session_scope
from award.store.models import AuditEvent
from tests.factories import make_application, path_to, shortest_path


@pytest.mark.parametrize("target", list(State), ids=[s.value for s in State])
def test_every_state_is_reached_through_the_machine(sqlite_url: str, season, target: State) -> None:  # type: ignore[no-untyped-def]
    with session_scope(sqlite_url) as session:
        app = make_application(session, season, target)
        assert app.state == target.value and app.submission_no == "GS-2023-0001"
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == app.id)
                                 .order_by(AuditEvent.id)).all()
    first, steps = path_to(target)
    assert [e.to_state for e in events] == [first.value, *(s.value for s in steps)]
    assert first in INITIAL_STATES
    for event in events[1:]:
        assert State(event.to_state) in TRANSITIONS[State(event.from_state)]


def test_via_forces_the_provincial_route() -> None:
    assert shortest_path(State.COMPLETE, State.PUBLICITY_PASSED) == [State.PUBLICITY_PASSED]
    _, steps = path_to(State.PUBLICITY_PASSED, via=[State.IN_PUBLICITY])
    assert steps == [State.COMPLETE, State.DEPT_REVIEW, State.DEPT_CLEARED, State.IN_PUBLICITY,
                     State.PUBLICITY_PASSED]


def test_numbers_follow_the_store(sqlite_url: str, season) -> None:  # type: ignore[no-untyped-def]
    with session_scope(sqlite_url) as session:
        numbers = [make_application(session, season, category=c).submission_no for c in ("organization", "individual")]
    assert numbers == ["GS-2023-0001", "GS-2023-0002"]

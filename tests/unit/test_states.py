"""The state machine: every allowed transition works, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from award.states import TERMINAL, TRANSITIONS, IllegalTransition, State, can_transition, mermaid, transition
from award.store.models import Application


class FakeSession:
    """Collects what would be added (the store tests cover the real database)."""

    def __init__(self) -> None:
        self.added: list[object] = []

    def add(self, obj: object) -> None:
        self.added.append(obj)


ALL_PAIRS = list(itertools.product(State, State))
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if a != b and b not in TRANSITIONS[a]]


def _app(state: State) -> Application:
    return Application(id=1, submission_no="GS-2023-0001", state=state.value)


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_allowed(source: State, target: State) -> None:
    session = FakeSession()
    app = _app(source)
    assert transition(session, app, target, actor="t", reason="r")  # type: ignore[arg-type]
    assert app.state == target.value
    (event,) = session.added
    assert (event.from_state, event.to_state, event.actor, event.reason) == (source, target, "t", "r")


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal(source: State, target: State) -> None:
    session = FakeSession()
    app = _app(source)
    with pytest.raises(IllegalTransition):
        transition(session, app, target, actor="t", reason="r")  # type: ignore[arg-type]
    assert app.state == source.value and not session.added


def test_same_state_is_a_no_op() -> None:
    session = FakeSession()
    assert transition(session, _app(State.COMPLETE), State.COMPLETE, actor="t", reason="r") is False  # type: ignore[arg-type]
    assert not session.added


def test_reason_is_required() -> None:
    with pytest.raises(ValueError):
        transition(FakeSession(), _app(State.RECEIVED), State.COMPLETE, actor="t", reason="")  # type: ignore[arg-type]


def test_every_state_is_reachable_and_terminals_are_final() -> None:
    reachable = {State.RECEIVED, State.LATE, State.INELIGIBLE}
    frontier = list(reachable)
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(State)
    assert State.EXPORTED in TERMINAL and not can_transition(State.EXPORTED, State.RECOMMENDED)
    assert "received --> incomplete" in mermaid()

"""One factory for applications in any state, moved there through the real state machine.

``make_application(session, season, state=State.DEPT_CLEARED)`` creates an applicant and an application and walks
the shortest path from its first state to ``state`` through ``award.states.TRANSITIONS`` (breadth-first search, so a
new state or transition needs no edit here). Every step is a real ``transition`` call, audited as production does.

``via`` forces the path through given states in order (e.g. the provincial route through ``DEPT_REVIEW`` rather
than the recommending unit's short cut ``COMPLETE -> PUBLICITY_PASSED``); ``on_enter(app, state)`` is called
before each step, for the data a stage leaves behind (a review score before ``REVIEWED``, say).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from award.config import Season
from award.states import INITIAL_STATES, TRANSITIONS, State, create_application_state, transition
from award.store.models import Applicant, Application

START = State.RECEIVED


def shortest_path(source: State, target: State) -> list[State]:
    """The states after ``source`` on a shortest allowed path to ``target`` (empty when they are equal)."""
    if source == target:
        return []
    previous: dict[State, State] = {}
    queue = deque([source])
    while queue:
        state = queue.popleft()
        for nxt in sorted(TRANSITIONS[state], key=list(State).index):  # deterministic among equal-length paths
            if nxt in previous or nxt == source:
                continue
            previous[nxt] = state
            if nxt == target:
                path = [nxt]
                while previous[path[-1]] != source:
                    path.append(previous[path[-1]])
                return path[::-1]
            queue.append(nxt)
    raise ValueError(f"no path from {source.value} to {target.value} in award.states.TRANSITIONS")


def path_to(target: State, via: Iterable[State] = ()) -> tuple[State, list[State]]:
    """The first state and the steps after it to reach ``target`` (through ``via`` in order)."""
    waypoints = [*via, target]
    first = target if len(waypoints) == 1 and target in INITIAL_STATES else START
    steps: list[State] = []
    here = first
    for point in waypoints:
        steps += shortest_path(here, point)
        here = point
    return first, steps


def _next_number(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Application)) or 0) + 1


def make_application(
    session: Session,
    season: Season | str,
    state: State | str = START,
    category: str = "organization",
    *,
    n: int | None = None,
    applicant: Applicant | None = None,
    name: str | None = None,
    key: str | None = None,
    city: str | None = None,
    email: str | None = None,
    via: Iterable[State] = (),
    on_enter: Callable[[Application, State], None] | None = None,
    actor: str = "test",
    reason: str = "测试数据",
    **columns: Any,
) -> Application:
    """An application of ``season`` (a Season or its id) in ``state``; ``columns`` are further Application columns.

    ``n`` numbers the applicant and the submission (``GS-2023-0001``); by default the next one in the store.
    The application is flushed (it has an id) but not committed.
    """
    n = _next_number(session) if n is None else n
    person = category == "individual"
    if isinstance(season, Season):
        season_id, prefix, year = season.season_id, season.submission_prefix, season.year
        city = city or season.province.cities[n % len(season.province.cities)]
    else:
        season_id, prefix, year = season, "GS", 2023
    if applicant is None:
        applicant = Applicant(
            kind="person" if person else "organization",
            key=key or (f"62010219800101{n:03d}X" if person else f"91620100MA{n:07d}X"),
            name=name or (f"测试人员{n:03d}" if person else f"测试单位{n:03d}有限公司"),
            city=city, email=email, contact_name=None if person else "联系人",
        )
        session.add(applicant)
        session.flush()
    columns.setdefault("submission_no", f"{prefix}-{year}-{n:04d}")
    columns.setdefault("channel", "mail")
    columns.setdefault("channels", [columns["channel"]])
    columns.setdefault("city", city)
    app = Application(season=season_id, applicant=applicant, category=category, **columns)
    first, steps = path_to(State(state), via)
    create_application_state(session, app, first, actor=actor, reason=reason)
    for step in steps:
        if on_enter is not None:
            on_enter(app, step)
        transition(session, app, step, actor=actor, reason=reason)
    session.flush()
    return app

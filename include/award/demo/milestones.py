"""The demo season's milestones: where ``award demo advance`` moves the demo clock, and which DAGs react.

Each milestone is a moment computed from the season's schedule and, for the stages the office starts itself, from
the store (the correction deadlines sent out, the departments' due dates, the publicity windows opened). A stage
whose moment is not known yet (no letter sent, no window open) has none. Times are Asia/Shanghai; a working-day
moment is 08:30 (the completeness sweep) or 09:00 (the opinions and recommendation runs) on the working-day calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from award.calendar import default_calendar
from award.clock import TZ
from award.store.models import Application, OpinionRequest, PublicityWindow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from award.calendar import WorkCalendar
    from award.config import Season

STAGES = ("intake_deadline", "correction_end", "opinions_deadline", "publicity_end", "scores",
          "candidate_publicity_end", "approval", "national_deadline")
# the DAGs that react when the clock reaches a stage (intake first, the outbox last)
REACTING: dict[str, tuple[str, ...]] = {
    "intake_deadline": ("intake", "completeness", "outbox"),
    "correction_end": ("completeness", "opinions", "outbox"),
    "opinions_deadline": ("intake", "opinions", "outbox"),
    "publicity_end": ("publicity_objections", "outbox"),
    "scores": ("recommendation", "outbox"),
    "candidate_publicity_end": ("publicity_objections", "outbox"),
    "approval": ("recommendation", "outbox"),
    "national_deadline": ("recommendation", "outbox"),
}
DATE_REACTING = ("intake", "completeness", "opinions", "recommendation", "outbox")
SWEEP_AT = time(8, 30)
RUN_AT = time(9, 0)


class MilestoneError(ValueError):
    """A milestone that cannot be reached (unknown stage, not known yet, or in the demo clock's past)."""


class PastMilestoneError(MilestoneError):
    """The milestone is in the demo clock's past (the clock never goes back)."""


@dataclass(frozen=True)
class Milestone:
    """A stage of the season and the moment it is reached (None: not known yet)."""

    stage: str
    at: datetime | None


def _at(day: date, at: time) -> datetime:
    return datetime.combine(day, at, TZ)


def _next_workday_at(cal: WorkCalendar, day: date, at: time) -> datetime:
    return _at(cal.workdays_after(day, 1), at)


def milestones(session: Session, season: Season) -> list[Milestone]:
    """Every stage with its moment, in the season's order."""

    cal = default_calendar(tuple(season.calendar_overrides))
    sid = season.season_id
    deadline = season.dates.provincial_deadline
    intake_end = deadline + timedelta(minutes=1)
    last_correction = session.scalar(select(func.max(Application.correction_due)).where(Application.season == sid))
    correction_day = max(last_correction or deadline.date(), deadline.date())
    last_due = session.scalar(select(func.max(OpinionRequest.due_date)).where(OpinionRequest.season == sid))

    def window_end(purpose: str) -> datetime | None:
        end = session.scalar(select(func.max(PublicityWindow.end_at)).where(
            PublicityWindow.season == sid, PublicityWindow.purpose == purpose))
        return end.astimezone(TZ) + timedelta(minutes=1) if end is not None else None

    provincial_end = window_end("provincial")
    candidate_end = window_end("candidate")
    return [
        Milestone("intake_deadline", intake_end),
        Milestone("correction_end", max(_next_workday_at(cal, correction_day, SWEEP_AT), intake_end)),
        Milestone("opinions_deadline", _next_workday_at(cal, last_due, RUN_AT) if last_due else None),
        Milestone("publicity_end", provincial_end),
        Milestone("scores", _next_workday_at(cal, provincial_end.date(), RUN_AT) if provincial_end else None),
        Milestone("candidate_publicity_end", candidate_end),
        Milestone("approval", _next_workday_at(cal, candidate_end.date(), RUN_AT) if candidate_end else None),
        Milestone("national_deadline", season.dates.national_deadline.astimezone(TZ)),
    ]


def parse_target(text: str) -> datetime:
    """An ISO date (09:00 that day) or datetime (Asia/Shanghai when it names no zone)."""
    try:
        if len(text.strip()) == 10:
            return _at(date.fromisoformat(text.strip()), RUN_AT)
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MilestoneError(f"not a stage ({', '.join(STAGES)}) nor an ISO date/datetime: {text!r}") from None
    return value.replace(tzinfo=TZ) if value.tzinfo is None else value.astimezone(TZ)


def resolve(session: Session, season: Season, current: datetime, to: str | None) -> tuple[str | None, datetime]:
    """Where to move the clock: (stage or None for a date, moment). Without ``to``: the next known milestone."""
    known = milestones(session, season)
    if to is None:
        for m in known:
            if m.at is not None and m.at > current:
                return m.stage, m.at
        raise MilestoneError("the season has no milestone after the demo clock's time")
    if to in STAGES:
        (m,) = [m for m in known if m.stage == to]
        if m.at is None:
            raise MilestoneError(f"stage {to}: its date is not known yet (the step before it has not run)")
        if m.at < current:
            raise PastMilestoneError(f"stage {to} ({m.at.isoformat()}) is before the demo clock "
                                     f"({current.isoformat()})")
        return to, m.at
    target = parse_target(to)
    if target < current:
        raise PastMilestoneError(f"{target.isoformat()} is before the demo clock ({current.isoformat()})")
    return None, target


def reacting_dags(stage: str | None) -> tuple[str, ...]:
    """The DAGs to trigger once the clock reaches ``stage`` (a plain date: every daily DAG)."""
    return REACTING.get(stage or "", DATE_REACTING)

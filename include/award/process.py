"""Who does what after the provincial deadline, and whether the season's stages fit before the national one.

The season's ``process`` section says which steps the province runs itself (``first_round``: ``province`` runs
征求意见 and a first 公示; ``recommending_unit`` leaves both to the recommending units, whose 审核推荐意见 proves
them) and how many working days each of the province's stages takes. :func:`simulate` walks an application
completed on the provincial deadline day through those stages on the working-day calendar and compares the end
with the export due time (``export_lead_workdays`` before the national deadline); ``award season check`` fails
when it does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from award.calendar import WorkCalendar, default_calendar
from award.recommendation.alerts import export_due_at
from award.units import unit_for

if TYPE_CHECKING:
    from award.config import Season

DEFAULT_WORKDAYS = {"completeness": 1, "consultation": 5, "first_publicity": 5, "scores": 3,
                    "candidate_publicity": 5, "approval": 1, "package": 1}
FIRST_ROUND = ("consultation", "first_publicity")


@dataclass(frozen=True)
class SimulatedStage:
    """One stage of the simulation: its working days and the dates it starts and ends."""

    id: str
    workdays: int
    start: date
    end: date


@dataclass(frozen=True)
class Simulation:
    """The province's stages for an application completed on the provincial deadline day."""

    stages: list[SimulatedStage]
    completed: date
    export_due: datetime
    national_deadline: datetime

    @property
    def end(self) -> date:
        return self.stages[-1].end if self.stages else self.completed

    @property
    def fits(self) -> bool:
        """Whether the last stage ends before the export is due (the due day starts at 09:00)."""
        return self.end < self.export_due.date()

    def as_dict(self) -> dict[str, Any]:
        return {"completed": self.completed.isoformat(), "export_due": self.export_due.isoformat(),
                "national_deadline": self.national_deadline.isoformat(), "fits": self.fits,
                "stages": [{"id": s.id, "workdays": s.workdays, "start": s.start.isoformat(),
                            "end": s.end.isoformat()} for s in self.stages]}


def stage_plan(season: Season) -> list[tuple[str, int]]:
    """(stage id, working days) in order: the season's list, with the first round where the province runs it.

    A publicity stage lasts at least ``publicity.min_workdays``; the consultation at least the longest
    department reply time.
    """
    listed: list[tuple[str, int]] = [(s.id, s.workdays) for s in season.process.stages] or [
        (sid, DEFAULT_WORKDAYS[sid]) for sid in ("completeness", "scores", "candidate_publicity", "approval", "package")]
    ids: list[str] = [sid for sid, _ in listed]
    runs_first_round = season.process.first_round == "province" or "province" in season.process.by_unit.values()
    if runs_first_round:
        at = ids.index("completeness") + 1 if "completeness" in ids else 0
        for sid in FIRST_ROUND:
            if sid not in ids:
                listed.insert(at, (sid, DEFAULT_WORKDAYS[sid]))
                ids.insert(at, sid)
            at = ids.index(sid) + 1
    minimum = {"first_publicity": season.publicity.min_workdays, "candidate_publicity": season.publicity.min_workdays,
               "consultation": max((d.reply_workdays for d in season.departments), default=0)}
    return [(sid, max(days, minimum.get(sid, 0))) for sid, days in listed]


def simulate(season: Season, calendar: WorkCalendar | None = None) -> Simulation:
    """Walk the stage plan from the provincial deadline day (UnknownYearError for a year without holiday data)."""
    cal = calendar or default_calendar(tuple(season.calendar_overrides))
    completed = season.dates.provincial_deadline.date()
    end = completed
    stages = []
    for sid, days in stage_plan(season):
        start = cal.workdays_after(end, 1)
        if days > 0:
            end = cal.add_workdays(start, days)
        stages.append(SimulatedStage(sid, days, start if days > 0 else end, end))
    return Simulation(stages, completed, export_due_at(season), season.dates.national_deadline)


def advance_proven(session: Any, season: Season, *, today: date, actor: str = "process") -> list[int]:
    """After the provincial deadline, move complete applications whose recommending unit ran the first round
    (征求意见 and 公示, proven by its 审核推荐意见) on to the third-party scores (``publicity_passed``), audited.

    Before the deadline nothing moves (corrections may still come); an application of a unit whose first round
    the province runs stays ``complete`` for the ``opinions`` stage. Returns the ids moved; safe to re-run.
    """
    # the database and template stack loads only when applications are moved: `award season check` and the demo
    # set-up import this module for simulate and stage_plan, which need neither
    from sqlalchemy import select  # noqa: PLC0415 - sqlalchemy only when applications are moved

    from award.states import State, transition  # noqa: PLC0415 - award.states loads the ORM models (sqlalchemy.orm)
    from award.store.models import Application  # noqa: PLC0415 - sqlalchemy.orm only when applications are moved
    from award.templating import message_group  # noqa: PLC0415 - jinja2 only when applications are moved

    _text = message_group("process", "process")
    if today <= season.dates.provincial_deadline.date():
        return []
    moved = []
    for app in session.scalars(select(Application).where(Application.season == season.season_id,
                                                         Application.state == State.COMPLETE.value)):
        unit = unit_for(season, app)
        if season.first_round_for(unit.id if unit else None) != "recommending_unit":
            continue
        transition(session, app, State.PUBLICITY_PASSED, actor=actor, reason=_text("proven_first_round"),
                   details={"recommending_unit": unit.name if unit else None})
        moved.append(app.id)
    return moved

"""Airflow plugin: ``WorkdayTimetable``, one run at a fixed local time on each Chinese working day.

Statutory holidays are skipped and adjusted weekend working days (调休上班) are included, using the
pipeline's shared calendar (``award.calendar.WorkCalendar``).

Airflow loads files in the plugins folder as top-level modules (this one as ``workday_timetable``)
and looks custom timetables up by that import path when it (de)serialises a DAG. DAG files must
therefore import it as::

    from workday_timetable import WorkdayTimetable   # not "plugins.workday_timetable"

    with DAG(..., schedule=WorkdayTimetable(at=time(9, 0))): ...

When the calendar does not know a year (no chinesecalendar data, no override file), the timetable
stops scheduling (``next_dagrun_info`` returns None) and logs a warning instead of crashing the
scheduler; add the override file and the next evaluation picks it up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pendulum
from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, Timetable

from award.calendar import CalendarOverrideError, UnknownYearError, WorkCalendar, env_override_paths

if TYPE_CHECKING:
    from airflow.timetables.base import TimeRestriction
    from pendulum import DateTime

log = logging.getLogger(__name__)

DEFAULT_AT = time(9, 0)
DEFAULT_TIMEZONE = "Asia/Shanghai"


def _utcnow() -> datetime:
    """The current time (a seam for tests)."""
    return datetime.now(UTC)


class WorkdayTimetable(Timetable):
    """Run once at ``at`` (local time in ``timezone``) on every Chinese working day.

    Each run's data interval is the exact run time (like ``CronTriggerTimetable`` with no interval).
    ``catchup=True`` creates every missed working-day run from ``start_date``; ``catchup=False``
    creates only the most recent missed one, as Airflow's cron trigger timetable does.
    ``overrides`` are extra calendar override files/folders (see ``award.calendar``).
    """

    def __init__(
        self,
        at: time | str = DEFAULT_AT,
        timezone: str = DEFAULT_TIMEZONE,
        overrides: Sequence[str | Path] | None = None,
    ) -> None:
        if isinstance(at, str):
            try:
                at = time.fromisoformat(at)
            except ValueError:
                raise ValueError(f"WorkdayTimetable: at={at!r} is not a time (HH:MM)") from None
        if not isinstance(at, time) or at.tzinfo is not None:
            raise ValueError(f"WorkdayTimetable: at must be a naive local time, got {at!r}")
        try:
            self._tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"WorkdayTimetable: unknown timezone {timezone!r}") from None
        self.at = at
        self.timezone = timezone
        self.overrides = [str(p) for p in overrides or ()]
        self.description = f"每个中国工作日 {self._at_text()}（{self._zone_text()}），法定节假日不运行，调休上班日运行"

    # --- identity / serialisation --------------------------------------------------------------

    def _at_text(self) -> str:
        return self.at.strftime("%H:%M:%S" if self.at.second or self.at.microsecond else "%H:%M")

    def _zone_text(self) -> str:
        return "北京时间" if self.timezone == DEFAULT_TIMEZONE else self.timezone

    @property
    def summary(self) -> str:
        """Short text for the UI."""
        return f"工作日 {self._at_text()}（{self._zone_text()}）"

    def serialize(self) -> dict[str, Any]:
        """JSON-compatible form stored in the serialised DAG."""
        return {"at": self.at.isoformat(), "timezone": self.timezone, "overrides": list(self.overrides)}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> WorkdayTimetable:
        """Rebuild from :meth:`serialize`'s output."""
        return cls(
            at=time.fromisoformat(data.get("at", DEFAULT_AT.isoformat())),
            timezone=data.get("timezone", DEFAULT_TIMEZONE),
            overrides=data.get("overrides") or None,
        )

    def __eq__(self, other: object) -> bool:
        # by name, not isinstance: Airflow's plugin loader may import this file a second time as another module
        if type(other).__qualname__ != type(self).__qualname__ or not hasattr(other, "serialize"):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((self.at, self.timezone, tuple(self.overrides)))

    def __repr__(self) -> str:
        return f"WorkdayTimetable(at={self._at_text()!r}, timezone={self.timezone!r}, overrides={self.overrides!r})"

    def validate(self) -> None:
        """Fail DAG parsing early when an override file is missing or malformed."""
        from airflow.exceptions import AirflowTimetableInvalid

        try:
            self._calendar()
        except CalendarOverrideError as exc:
            raise AirflowTimetableInvalid(str(exc)) from exc

    # --- calendar arithmetic -------------------------------------------------------------------

    def _calendar(self) -> WorkCalendar:
        # Built per evaluation (a few tiny YAML files) so that a newly added override file is
        # picked up without restarting the scheduler.
        return WorkCalendar([*env_override_paths(), *self.overrides])

    def _run_at(self, d: date) -> datetime:
        return datetime.combine(d, self.at, tzinfo=self._tz)

    def _forward(self, cal: WorkCalendar, d: date) -> Iterator[datetime]:
        return (self._run_at(day) for day in cal.iter_workdays(d, inclusive=True))

    def _align_to_next(self, cal: WorkCalendar, moment: datetime) -> datetime:
        """The first scheduled time at or after ``moment``."""
        local_day = moment.astimezone(self._tz).date()
        return next(t for t in self._forward(cal, local_day) if t >= moment)

    def _get_next(self, cal: WorkCalendar, moment: datetime) -> datetime:
        """The first scheduled time strictly after ``moment``."""
        local_day = moment.astimezone(self._tz).date()
        return next(t for t in self._forward(cal, local_day) if t > moment)

    def _align_to_prev(self, cal: WorkCalendar, moment: datetime) -> datetime:
        """The last scheduled time at or before ``moment``."""
        local_day = moment.astimezone(self._tz).date()
        backwards = (self._run_at(d) for d in cal.iter_workdays(local_day, inclusive=True, step=-1))
        return next(t for t in backwards if t <= moment)

    @staticmethod
    def _to_pendulum(value: datetime) -> DateTime:
        return pendulum.instance(value.astimezone(UTC))

    # --- Timetable protocol --------------------------------------------------------------------

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        """A manual run covers exactly its trigger time."""
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """The next working-day run, or None past ``end_date`` or when the calendar lacks a year."""
        try:
            cal = self._calendar()
            earliest = restriction.earliest
            last_end = last_automated_data_interval.end if last_automated_data_interval else None
            if restriction.catchup:
                if last_end is not None:
                    next_at = self._get_next(cal, last_end)
                else:
                    next_at = self._align_to_next(cal, earliest if earliest is not None else _utcnow())
            else:
                now = _utcnow()
                candidates = [self._align_to_prev(cal, now)]
                if last_end is not None:
                    candidates.append(self._get_next(cal, last_end))
                elif earliest is None:
                    candidates.append(self._align_to_next(cal, now))
                if earliest is not None:
                    candidates.append(self._align_to_next(cal, earliest))
                next_at = max(candidates)
        except UnknownYearError as exc:
            log.warning("WorkdayTimetable: not scheduling further runs: %s", exc)
            return None
        if restriction.latest is not None and next_at > restriction.latest:
            return None
        return DagRunInfo.exact(self._to_pendulum(next_at))


class WorkdayTimetablePlugin(AirflowPlugin):
    """Registers :class:`WorkdayTimetable` so serialised DAGs can be deserialised."""

    name = "workday_timetable"
    timetables = [WorkdayTimetable]

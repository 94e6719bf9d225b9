"""The Chinese working-day calendar: one implementation shared by the whole pipeline.

Statutory holidays and adjusted working days (调休) come from ``chinesecalendar`` (2004-2026 in 1.11).
Any other year must be defined by an override file; a date in a year nobody defines raises
``UnknownYearError`` -- the calendar never guesses.

Override files (YAML) map a year to its complete schedule; a year present in an override is fully
defined by it (it replaces the library's data for that year; weekends are rest days unless listed
under ``workdays``)::

    2027:
      complete: true                  # required: a year is always defined in full
      source: 国务院办公厅关于2027年部分节假日安排的通知   # optional, free text
      holidays:                       # rest days (weekend days inside a holiday may be listed too)
        2027-01-01: 元旦
      workdays:                       # adjusted working days (调休上班), usually weekend days
        2027-02-06: 春节

Files are read from ``include/award/calendar_overrides/*.yaml`` (shipped; ``*.sample`` files are not
loaded), then from the paths given to ``WorkCalendar`` and, for ``default_calendar()``, from
``$AWARD_CALENDAR_OVERRIDES`` (paths separated by ``os.pathsep``; files or directories).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import chinese_calendar
import yaml
from chinese_calendar import constants as _cc

from award.clock import TZ

__all__ = [
    "DEFAULT_OVERRIDES_DIR",
    "OVERRIDES_ENV",
    "TZ",
    "CalendarOverrideError",
    "DayInfo",
    "UnknownYearError",
    "Window",
    "WorkCalendar",
    "default_calendar",
]

DEFAULT_OVERRIDES_DIR = Path(__file__).resolve().parent / "calendar_overrides"
OVERRIDES_ENV = "AWARD_CALENDAR_OVERRIDES"

# Reasons reported by day_info() for days that are not holidays.
REASON_ADJUSTED_WORKDAY = "调休上班"
REASON_WEEKEND = "周末"
REASON_WORKDAY = "工作日"

# chinesecalendar ships Chinese names on its Holiday enum; the official notices use the full forms.
_FULL_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}

# The library's coverage, read from its own data rather than hard-coded.
_LIBRARY_YEARS = range(min(_cc.holidays).year, max(_cc.holidays).year + 1)


class UnknownYearError(ValueError):
    """A date lies in a year that neither chinesecalendar nor any override file defines."""

    def __init__(self, year: int, sources: Iterable[Path] = ()) -> None:
        self.year = year
        loaded = ", ".join(str(p) for p in sources) or "none"
        super().__init__(
            f"no Chinese working-day data for year {year}: chinesecalendar "
            f"{getattr(chinese_calendar, '__version__', '')} covers "
            f"{_LIBRARY_YEARS.start}-{_LIBRARY_YEARS.stop - 1} and no override file defines {year} "
            f"(override files loaded: {loaded}). Add the State Council's {year} holiday schedule as a "
            f"YAML override (format: {DEFAULT_OVERRIDES_DIR / 'example.yaml.sample'}) in "
            f"{DEFAULT_OVERRIDES_DIR}/ or in a file named by ${OVERRIDES_ENV} or the season's "
            "calendar_overrides."
        )


class CalendarOverrideError(ValueError):
    """An override file is unreadable or malformed; the message names the file and the key."""


@dataclass(frozen=True)
class DayInfo:
    """One day's status: ``reason`` is the holiday's Chinese name, 调休上班, 周末 or 工作日."""

    date: date
    workday: bool
    reason: str


@dataclass(frozen=True)
class Window:
    """A publicity (or similar) window of working days.

    ``start``/``end`` are the first and last counted working days, ``end_at`` is the last instant of
    ``end`` (23:59:59.999999 Asia/Shanghai) and ``opened_at`` the aware opening time.
    """

    start: date
    end: date
    end_at: datetime
    workdays: list[date]
    opened_at: datetime


@dataclass(frozen=True)
class _YearSpec:
    holidays: dict[date, str]
    workdays: dict[date, str]
    source: Path
    note: str | None = None


@dataclass
class _Overrides:
    years: dict[int, _YearSpec] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        raise CalendarOverrideError(f"{where}: expected a date (YYYY-MM-DD), got a datetime {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise CalendarOverrideError(f"{where}: expected a date (YYYY-MM-DD), got {value!r}")


def _parse_days(raw: Any, year: int, where: str) -> dict[date, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CalendarOverrideError(f"{where}: expected a mapping of date: name")
    out: dict[date, str] = {}
    for key, name in raw.items():
        d = _as_date(key, f"{where}: {key!r}")
        if d.year != year:
            raise CalendarOverrideError(f"{where}: {d.isoformat()} is not in year {year}")
        if not isinstance(name, str) or not name.strip():
            raise CalendarOverrideError(f"{where}: {d.isoformat()}: the name must be a non-empty string")
        out[d] = name.strip()
    return out


def _parse_file(path: Path) -> dict[int, _YearSpec]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalendarOverrideError(f"{path}: calendar override file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarOverrideError(f"{path}: cannot read calendar override file: {exc}") from None
    except yaml.YAMLError as exc:
        raise CalendarOverrideError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CalendarOverrideError(f"{path}: expected a mapping of year: {{complete, holidays, workdays}}")
    years: dict[int, _YearSpec] = {}
    for raw_year, spec in data.items():
        try:
            year = int(raw_year)
        except (TypeError, ValueError):
            raise CalendarOverrideError(f"{path}: {raw_year!r}: top-level keys must be years") from None
        where = f"{path}: {year}"
        if not isinstance(spec, dict):
            raise CalendarOverrideError(f"{where}: expected a mapping with complete/holidays/workdays")
        unknown = set(spec) - {"complete", "holidays", "workdays", "source"}
        if unknown:
            raise CalendarOverrideError(f"{where}: unknown key(s) {sorted(map(str, unknown))} (typo?)")
        if spec.get("complete") is not True:
            raise CalendarOverrideError(
                f"{where}.complete: must be true -- an override defines the whole year "
                "(partial years are not supported: the calendar never guesses)"
            )
        holidays = _parse_days(spec.get("holidays"), year, f"{where}.holidays")
        workdays = _parse_days(spec.get("workdays"), year, f"{where}.workdays")
        both = sorted(set(holidays) & set(workdays))
        if both:
            raise CalendarOverrideError(
                f"{where}: {both[0].isoformat()} is listed both as a holiday and as a workday"
            )
        note = spec.get("source")
        years[year] = _YearSpec(holidays, workdays, path, None if note is None else str(note))
    return years


def _expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            yield from sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        else:
            yield p


def _load_overrides(paths: Iterable[str | Path]) -> _Overrides:
    result = _Overrides()
    seen: set[Path] = set()
    for path in _expand(paths):
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        result.files.append(path)
        for year, spec in _parse_file(path).items():
            previous = result.years.get(year)
            if previous is not None and (previous.holidays, previous.workdays) != (
                spec.holidays,
                spec.workdays,
            ):
                raise CalendarOverrideError(
                    f"{path}: {year}: conflicts with the definition of {year} in {previous.source}; "
                    "keep one of them"
                )
            result.years.setdefault(year, spec)
    return result


def _library_holiday_name(english: str) -> str:
    try:
        chinese = _cc.Holiday(english).chinese
    except ValueError:
        return english
    return str(_FULL_NAMES.get(chinese, chinese))


def _aware(value: datetime) -> datetime:
    """Naive datetimes are Asia/Shanghai; aware ones are converted to it."""
    return value.replace(tzinfo=TZ) if value.tzinfo is None else value.astimezone(TZ)


def _check_n(n: int, name: str = "n") -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")


class WorkCalendar:
    """Chinese working days (statutory holidays, 调休 and weekends) with override files for other years."""

    def __init__(
        self,
        overrides: Iterable[str | Path] | None = None,
        *,
        default_dir: Path | None = DEFAULT_OVERRIDES_DIR,
    ) -> None:
        """Load the default override directory (unless ``default_dir=None``) and then ``overrides``."""
        paths: list[str | Path] = []
        if default_dir is not None and default_dir.is_dir():
            paths.append(default_dir)
        paths.extend(overrides or ())
        self._overrides = _load_overrides(paths)

    @property
    def override_files(self) -> list[Path]:
        """The override files that were loaded, in order."""
        return list(self._overrides.files)

    def known_years(self) -> list[int]:
        """Every year this calendar can answer for."""
        return sorted(set(_LIBRARY_YEARS) | set(self._overrides.years))

    def is_known_year(self, year: int) -> bool:
        """True when the library or an override defines ``year``."""
        return year in self._overrides.years or year in _LIBRARY_YEARS

    def day_info(self, d: date) -> DayInfo:
        """Whether ``d`` is a working day and why; raises UnknownYearError for an undefined year."""
        if isinstance(d, datetime):
            d = d.date()
        spec = self._overrides.years.get(d.year)
        if spec is not None:
            if d in spec.holidays:
                return DayInfo(d, False, spec.holidays[d])
            if d in spec.workdays:
                return DayInfo(d, True, REASON_ADJUSTED_WORKDAY)
        elif d.year in _LIBRARY_YEARS:
            if d in _cc.holidays:
                return DayInfo(d, False, _library_holiday_name(_cc.holidays[d]))
            if d in _cc.workdays:
                return DayInfo(d, True, REASON_ADJUSTED_WORKDAY)
        else:
            raise UnknownYearError(d.year, self._overrides.files)
        if d.weekday() >= 5:
            return DayInfo(d, False, REASON_WEEKEND)
        return DayInfo(d, True, REASON_WORKDAY)

    def is_workday(self, d: date) -> bool:
        """True when ``d`` is a Chinese working day."""
        return self.day_info(d).workday

    def iter_workdays(self, start: date, *, inclusive: bool = True, step: int = 1) -> Iterator[date]:
        """Working days from ``start`` onwards (``step=-1``: backwards); stops with UnknownYearError."""
        if step not in (1, -1):
            raise ValueError("step must be 1 or -1")
        d = start if inclusive else start + timedelta(days=step)
        while True:
            if self.is_workday(d):
                yield d
            d += timedelta(days=step)

    def next_workday(self, d: date, inclusive: bool = False) -> date:
        """The first working day after ``d`` (or ``d`` itself when ``inclusive`` and it is one)."""
        return next(self.iter_workdays(d, inclusive=inclusive))

    def add_workdays(self, start: date, n: int) -> date:
        """The n-th working day counting ``start`` as day 1 when it is a working day (n >= 1).

        ``add_workdays(monday, 1) == monday``; from a holiday, day 1 is the next working day.
        """
        _check_n(n)
        for i, d in enumerate(self.iter_workdays(start, inclusive=True), start=1):
            if i == n:
                return d
        raise AssertionError("unreachable")  # pragma: no cover

    def workdays_after(self, d: date, n: int) -> date:
        """The n-th working day strictly after ``d`` (``d`` itself never counts); n >= 1."""
        _check_n(n)
        return self.add_workdays(self.next_workday(d), n)

    def workdays_before(self, d: date, n: int) -> date:
        """The n-th working day strictly before ``d`` (n >= 1).

        For reminders: two working days before a Wednesday due date is the Monday.
        """
        _check_n(n)
        for i, day in enumerate(self.iter_workdays(d, inclusive=False, step=-1), start=1):
            if i == n:
                return day
        raise AssertionError("unreachable")  # pragma: no cover

    def subtract_workdays(self, end: date, n: int) -> date:
        """Alias of :meth:`workdays_before`: the n-th working day strictly before ``end``."""
        return self.workdays_before(end, n)

    def workdays_between(self, start: date, end: date) -> list[date]:
        """The working days from ``start`` to ``end``, both inclusive (``end >= start``)."""
        if end < start:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        days = (start + timedelta(days=i) for i in range((end - start).days + 1))
        return [d for d in days if self.is_workday(d)]

    def count_workdays(self, start: date, end: date) -> int:
        """How many working days lie between ``start`` and ``end``, both inclusive."""
        return len(self.workdays_between(start, end))

    def window(self, opened_at: datetime, n: int, cutoff: time = time(12, 0)) -> Window:
        """The window of ``n`` working days opened at ``opened_at``.

        The opening day counts only when it is a working day and the window opens strictly before
        ``cutoff`` (local time); otherwise counting starts on the next working day. Naive datetimes
        are taken as Asia/Shanghai, aware ones are converted. The window ends at the end of its last
        working day (23:59:59.999999 Asia/Shanghai).
        """
        if not isinstance(opened_at, datetime):
            raise TypeError(f"opened_at must be a datetime, got {type(opened_at).__name__}")
        _check_n(n)
        local = _aware(opened_at)
        opening_day = local.date()
        counts_today = local.time() < cutoff and self.is_workday(opening_day)
        first = opening_day if counts_today else self.next_workday(opening_day)
        workdays: list[date] = []
        for d in self.iter_workdays(first, inclusive=True):
            workdays.append(d)
            if len(workdays) == n:
                break
        end = workdays[-1]
        return Window(
            start=first,
            end=end,
            end_at=datetime.combine(end, time.max, tzinfo=TZ),
            workdays=workdays,
            opened_at=local,
        )

    def correction_deadline(self, notified: date, n: int, hard_limit: date) -> date:
        """The last day to submit corrections: ``min(n-th working day after notified, hard_limit)``.

        The notification day itself is never counted (notified on Monday with n=5 -> the following
        Monday, absent holidays). The hard limit (e.g. the provincial deadline's date) always wins,
        even if it is not a working day or already lies before ``notified``; days after it are never
        looked up, so a hard limit inside a known year avoids UnknownYearError.
        """
        _check_n(n)
        if hard_limit <= notified:
            return hard_limit
        count = 0
        d = notified
        while True:
            d += timedelta(days=1)
            if d >= hard_limit:
                return hard_limit
            if self.is_workday(d):
                count += 1
                if count == n:
                    return d


def env_override_paths() -> list[Path]:
    """The override paths named by ``$AWARD_CALENDAR_OVERRIDES`` (``os.pathsep``-separated)."""
    raw = os.environ.get(OVERRIDES_ENV, "")
    return [Path(p) for p in raw.split(os.pathsep) if p.strip()]


@lru_cache(maxsize=16)
def default_calendar(extra_overrides: tuple[str, ...] = ()) -> WorkCalendar:
    """The shared calendar: shipped overrides + ``$AWARD_CALENDAR_OVERRIDES`` + ``extra_overrides``.

    Cached per argument (pass e.g. ``tuple(season.calendar_overrides)``); call
    ``default_calendar.cache_clear()`` after changing the environment.
    """
    return WorkCalendar([*env_override_paths(), *extra_overrides])

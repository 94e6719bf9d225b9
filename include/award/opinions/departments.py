"""Which departments are asked about an application, and their working days (``award.calendar``, Asia/Shanghai).

The send day never counts: the due date is the ``reply_workdays``-th working day after it, and replies are on time
until the end of that day (judged by when the office archived the reply, ``InboundItem.received_at``). Reminders
fall on the n-th working day before the due date, for each n in ``reminder_workdays_before``.
"""

from __future__ import annotations

from datetime import date

from award.calendar import WorkCalendar, default_calendar
from award.config import Department, Season


def calendar_for(season: Season) -> WorkCalendar:
    """The shared working-day calendar with the season's override files."""
    return default_calendar(tuple(season.calendar_overrides))


def departments_for(season: Season, category: str) -> list[Department]:
    """The departments asked about applications of ``category``."""
    return [d for d in season.departments if category in d.categories]


def department(season: Season, code: str) -> Department | None:
    """A configured department by code (None if the season no longer lists it)."""
    return next((d for d in season.departments if d.code == code), None)


def due_date_for(season: Season, dept: Department, sent_on: date) -> date:
    """The last day to reply: the ``reply_workdays``-th working day after the send day (which never counts)."""
    return calendar_for(season).workdays_after(sent_on, dept.reply_workdays)


def reminder_days(season: Season, dept: Department, due: date) -> list[tuple[int, date]]:
    """``(n, day)`` for each configured reminder: the n-th working day before the due date."""
    cal = calendar_for(season)
    return sorted(((n, cal.workdays_before(due, n)) for n in set(dept.reminder_workdays_before)),
                  key=lambda p: p[1])

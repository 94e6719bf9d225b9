"""The export schedule and its deadline alert, and what the recommendation DAG file reads at parse time.

The export is due at 09:00 on the ``export_lead_workdays``-th working day before the national deadline
(``export_due_at``); ``export_state`` says whether the current content has been sent; the Airflow deadline alert's
callback (``export_overdue_alert``) warns ops through the outbox when it has not. The callback is imported by path
in the triggerer (and resolved when DAG files are parsed), and the DAG file builds its approval step from
``approval_form``, so this module imports nothing heavy at module level: the season facts it reads come through a
Protocol, the form with libyaml, and the store only inside the functions that read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from award.calendar import default_calendar
from award.clock import TZ, now
from award.seasonfile import yaml_load

if TYPE_CHECKING:
    from award.runtime import Runtime

APPROVAL_FORM = Path(__file__).resolve().parent / "templates" / "recommendation" / "approval.yaml"


class _ExportDates(Protocol):
    @property
    def national_deadline(self) -> datetime: ...
    @property
    def export_lead_workdays(self) -> int: ...


class ExportSchedule(Protocol):
    """What the export schedule reads of a season: ``award.config.Season``, or ``award.seasonfile.ParseFacts`` at
    DAG parse time."""

    @property
    def dates(self) -> _ExportDates: ...
    @property
    def calendar_overrides(self) -> Sequence[str]: ...


def export_due_at(season: ExportSchedule) -> datetime:
    """When the export is due: 09:00 on the ``export_lead_workdays``-th working day before the national deadline."""
    deadline = season.dates.national_deadline
    lead = season.dates.export_lead_workdays
    day = deadline.date() if lead == 0 else default_calendar(tuple(season.calendar_overrides)).workdays_before(
        deadline.date(), lead)
    return datetime.combine(day, time(9, 0), tzinfo=TZ)


def alert_interval(season: ExportSchedule) -> timedelta:
    """The deadline alert's offset from the national deadline (negative: it fires at the export due time).

    A year the working-day calendar does not know falls back to the deadline itself (never fails a DAG parse).
    """
    try:
        return export_due_at(season) - season.dates.national_deadline
    except ValueError:
        return timedelta(0)


@cache
def approval_form() -> dict[str, Any]:
    """The approval step's options, form fields and document-number rule (templates/recommendation/approval.yaml).

    ``{"options": {"approve", "reject"}, "fields": {name: {"title", "description"}}, "doc_number": {...}}``.
    """
    form: dict[str, Any] = yaml_load(APPROVAL_FORM.read_bytes())
    return form


def export_state(rt: Runtime) -> dict[str, Any]:
    """Whether the current content has been sent: {"sent", "due_at", "overdue", "latest_version", ...}."""
    from award.enums import PackageStatus  # noqa: PLC0415 - keeps the DAG parse within its allowed modules
    from award.recommendation.proposal import pending_work  # noqa: PLC0415 - keeps the DAG parse cheap (the store)

    work = pending_work(rt)
    sent = work.get("latest_status") == PackageStatus.SENT and not work["needed"] and "package_id" in work
    due = export_due_at(rt.season)
    return {"sent": sent, "due_at": due.isoformat(), "overdue": (not sent) and now() >= due,
            "candidates": work["count"], "latest_version": work["latest_version"], "reason": work["reason"]}


def _enqueue_overdue(season_file: str | None) -> str:
    # the run-time modules below stay out of DAG parsing, which imports this module
    from award.config import load_season  # noqa: PLC0415 - keeps the DAG parse cheap (pydantic)
    from award.mail.outbox import enqueue  # noqa: PLC0415 - keeps the DAG parse cheap (SQLAlchemy ORM)
    from award.runtime import Runtime  # noqa: PLC0415 - keeps the DAG parse cheap
    from award.store import session_scope  # noqa: PLC0415 - keeps the DAG parse cheap (SQLAlchemy ORM)
    from award.templating import message  # noqa: PLC0415 - keeps the DAG parse cheap (Jinja2)

    season = load_season(season_file)
    state = export_state(Runtime.from_env(season_file=season_file))
    if state["sent"]:
        return "already exported"
    unit = season.recommending_unit
    with session_scope(Runtime.from_env(season_file=season_file).db_url) as session:
        row, _ = enqueue(
            session, key=f"recommendation:staff_notice:export-overdue:{season.season_id}:{now().date().isoformat()}",
            template="staff_notice", to=[str(unit.ops_email)],
            context={"greeting": message("recommendation", "staff_notice.greeting"), "unit": unit,
                     "season_label": season.label,
                     "title": message("recommendation", "alerts.overdue_title"),
                     "text": message("recommendation", "alerts.overdue_text",
                                     deadline=f"{season.dates.national_deadline:%Y-%m-%d %H:%M}",
                                     due=f"{export_due_at(season):%Y-%m-%d %H:%M}", reason=state["reason"]),
                     "items": []},
        )
        return f"outbox e-mail {row.id}"


async def export_overdue_alert(season_file: str | None = None, context: Any = None) -> str:
    """Airflow deadline-alert callback (runs in the triggerer): queue a staff notice to ops via the outbox."""
    return await asyncio.to_thread(_enqueue_overdue, season_file)

"""Selecting and opening a publicity window (公示) on Chinese working days.

:func:`open_window` takes applications from the purpose's eligible state into publicity, renders the notice
(.docx and HTML), archives both in the blob store, publishes them to shared storage and queues the applicants'
e-mails; :func:`open_publicity` is the DAG's step (the trigger form's parameters in, a small summary out).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.calendar import Window, default_calendar
from award.clock import TZ, now
from award.config import Season
from award.enums import WindowStatus
from award.publicity.errors import PublicityError
from award.publicity.mails import mail_applicant
from award.publicity.notice import notice_key, notice_row, render_notice
from award.publicity.purposes import ACTOR, purpose_states
from award.runtime import Runtime
from award.states import audit, transition
from award.store.models import Application, PublicityEntry, PublicityWindow
from award.templating import message_group

log = logging.getLogger(__name__)

_text = message_group("publicity", "publicity")


def compute_window(season: Season, opened_at: datetime) -> Window:
    """The window opened at ``opened_at``: ``season.publicity.min_workdays`` working days on the shared calendar."""
    cal = default_calendar(tuple(season.calendar_overrides))
    return cal.window(opened_at, season.publicity.min_workdays, season.publicity.cutoff)


# ------------------------------------------------------------------ selecting


def eligible_application_ids(session: Session, season: Season, purpose: str) -> list[int]:
    """Every application of the season in the state the purpose starts from."""
    states = purpose_states(purpose)
    return list(session.scalars(
        select(Application.id).where(Application.season == season.season_id,
                                     Application.state == states.eligible.value).order_by(Application.submission_no)
    ))


def ids_for_submissions(session: Session, season: Season, submission_nos: list[str]) -> list[int]:
    """Application ids for submission numbers; an unknown number is an error naming it."""
    out = []
    for no in submission_nos:
        app_id = session.scalar(select(Application.id).where(Application.season == season.season_id,
                                                             Application.submission_no == no.strip()))
        if app_id is None:
            raise PublicityError(f"submission_nos: no application {no!r} in season {season.season_id}")
        out.append(app_id)
    return out


# ------------------------------------------------------------------ opening


def _existing_window(session: Session, application_ids: list[int], purpose: str) -> PublicityWindow | None:
    """An open window of ``purpose`` listing exactly these applications (a re-run of the same opening)."""
    for window in session.scalars(select(PublicityWindow).where(PublicityWindow.status == WindowStatus.OPEN,
                                                                 PublicityWindow.purpose == purpose)):
        if {e.application_id for e in window.entries} == set(application_ids):
            return window
    return None


def open_window(
    session: Session,
    rt: Runtime,
    application_ids: list[int],
    purpose: str,
    opened_at: datetime | None = None,
    actor: str = ACTOR,
) -> int:
    """Open a publicity window over ``application_ids`` and return its id.

    Moves each application from the purpose's eligible state into publicity, renders the notice (.docx and
    HTML), archives both in the blob store, publishes them to shared storage under
    ``publicity/<season>/<window id>/`` and queues the "publicity started" e-mails. Calling it again with the
    same list while that window is open returns the same window (safe to retry).
    """
    states = purpose_states(purpose)
    season = rt.season
    ids = sorted(set(application_ids))
    if not ids:
        raise PublicityError(f"application_ids: no applications to publish for purpose {purpose!r}")
    existing = _existing_window(session, ids, purpose)
    if existing is not None:
        return existing.id
    apps = [session.get(Application, i) for i in ids]
    for app_id, app in zip(ids, apps, strict=True):
        if app is None:
            raise PublicityError(f"application_ids: no application with id {app_id}")
        if app.season != season.season_id:
            raise PublicityError(f"application {app.submission_no}: belongs to season {app.season}")
        if app.state != states.eligible.value:
            raise PublicityError(
                f"application {app.submission_no}: state is {app.state}, {purpose} publicity needs "
                f"{states.eligible.value}"
            )
    opened = opened_at or now()
    win = compute_window(season, opened)
    window = PublicityWindow(season=season.season_id, purpose=purpose, opened_at=win.opened_at,
                             start_date=win.start, end_date=win.end, end_at=win.end_at,
                             workdays=len(win.workdays), status=WindowStatus.OPEN)
    session.add(window)
    session.flush()
    ordered = sorted((a for a in apps if a is not None), key=lambda a: (a.category, a.city or "", a.submission_no))
    for app in ordered:
        session.add(PublicityEntry(window_id=window.id, application_id=app.id))
        transition(session, app, states.during, actor=actor, reason=_text("reason.listed", window_id=window.id),
                   details={"window_id": window.id, "purpose": purpose})
    notice = render_notice(season, window, [notice_row(season, a) for a in ordered])
    html_bytes = notice.html.encode("utf-8")
    window.notice_docx_sha256 = rt.blobs.put_bytes(notice.docx).sha256
    window.notice_html_sha256 = rt.blobs.put_bytes(html_bytes).sha256
    docx_uri = rt.shared.write(notice_key(season, window.id, f"{notice.title}.docx"), notice.docx)
    html_uri = rt.shared.write(notice_key(season, window.id, f"{notice.title}.html"), html_bytes)
    audit(session, actor=actor, entity_type="publicity_window", entity_id=window.id, action="publicity_opened",
          reason=notice.title, details={"purpose": purpose, "applications": len(ordered),
                                        "start": win.start.isoformat(), "end": win.end.isoformat(),
                                        "end_at": win.end_at.isoformat(), "docx": docx_uri, "html": html_uri})
    for app in ordered:
        mail_applicant(session, season, app, "publicity_started", str(window.id), dict(
            title=notice.title, start_date=window.start_date, end_date=window.end_date, workdays=window.workdays,
        ))
    log.info("publicity window %s opened: %s applications, ends %s", window.id, len(ordered), win.end_at)
    return window.id


def window_summary(session: Session, window_id: int) -> dict[str, Any]:
    """Ids, dates, status and counts of a window (small: fit for XCom)."""
    window = session.get(PublicityWindow, window_id)
    if window is None:
        raise PublicityError(f"window_id: no publicity window {window_id}")
    return {"window_id": window.id, "purpose": str(window.purpose), "status": str(window.status),
            "start": window.start_date.isoformat(), "end": window.end_date.isoformat(),
            "end_at": window.end_at.isoformat(), "applications": len(window.entries)}


def open_publicity(session: Session, rt: Runtime, purpose: str, submission_nos: list[str] | None = None,
                   opened_at: str | None = None, actor: str = ACTOR) -> dict[str, Any]:
    """Open the window the DAG's trigger form asks for and return its :func:`window_summary`.

    ``submission_nos`` names the applications (default: every application eligible for ``purpose``);
    ``opened_at`` is an ISO time (Asia/Shanghai when it has no zone; default: now).
    """
    opened = None
    if opened_at:
        opened = datetime.fromisoformat(opened_at)
        opened = opened.replace(tzinfo=TZ) if opened.tzinfo is None else opened
    ids = (ids_for_submissions(session, rt.season, submission_nos) if submission_nos
           else eligible_application_ids(session, rt.season, purpose))
    window_id = open_window(session, rt, ids, purpose, opened_at=opened, actor=actor)
    return window_summary(session, window_id)

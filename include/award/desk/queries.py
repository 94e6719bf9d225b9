"""The desk's queries: the season overview, the applications list, one application, the documents.

Everything returned is plain data (dicts, lists, ISO strings) so that the same result feeds the desk's Jinja2
pages and ``award show --json``. ``application_view`` is that command's stable contract (``SCHEMA``): keys are
only ever added, never renamed or removed. ID numbers and phones are masked unless ``show_pii`` is True.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from award.calendar import UnknownYearError, WorkCalendar, default_calendar
from award.clock import now
from award.config import Season
from award.enums import (
    CheckOutcome,
    InboundStatus,
    ObjectionStatus,
    OutboxStatus,
    Verdict,
    WindowStatus,
)
from award.identity import mask_id_number, mask_phone, validate_id_number, validate_phone
from award.paper import paper_state
from award.recommendation.alerts import export_due_at
from award.states import LABELS_ZH, TERMINAL, State
from award.store.models import (
    Applicant,
    Application,
    AuditEvent,
    CheckRun,
    InboundItem,
    Material,
    Objection,
    Opinion,
    OpinionRequest,
    OutboxEmail,
    Problem,
    PublicityEntry,
    PublicityWindow,
)
from award.templating import message_group
from award.units import FORM_KEYS, unit_for

SCHEMA = "award.show/1"
_text = message_group("desk", "desk")

# Applications waiting for a person at the office (the "waiting for me" filter): a staff review of the form, a
# department's objection, an objection in publicity, the leadership group's approval.
WAITING_STATES: frozenset[str] = frozenset({
    State.NEEDS_REVIEW.value, State.DEPT_OBJECTION.value, State.OBJECTION_PENDING.value, State.CANDIDATE_OBJECTION.value,
    State.CANDIDATE_CONFIRMED.value,
})
UNDELIVERED = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.UNKNOWN, OutboxStatus.FAILED)
PAGE_SIZE = 50
PII_KEYS = re.compile(r"(id_?number|phone|mobile|tel)", re.IGNORECASE)


class ApplicationNotFound(LookupError):
    """No application with that submission number in the season."""


# ------------------------------------------------------------------ helpers


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def mask_value(key: str, value: Any) -> Any:
    """Mask one parsed field: ID numbers and phones by key, and any value that is a valid ID number or phone."""
    if not isinstance(value, str) or not value:
        return value
    if validate_id_number(value).valid:
        return mask_id_number(value)
    if validate_phone(value).valid:
        return mask_phone(value)
    if PII_KEYS.search(key):  # an invalid ID number or phone is still personal data
        return mask_id_number(value) if re.search(r"id", key, re.IGNORECASE) else mask_phone(value)
    return value


def masked_fields(fields: dict[str, Any], show_pii: bool) -> dict[str, Any]:
    """The parsed form fields, with ID numbers and phones masked unless ``show_pii``."""
    if show_pii:
        return dict(fields)
    return {k: (masked_fields(v, False) if isinstance(v, dict) else
                [mask_value(k, x) for x in v] if isinstance(v, list) else mask_value(k, v))
            for k, v in fields.items()}


def applicant_key(applicant: Applicant, show_pii: bool, category: str | None = None) -> str:
    """A person's key is an ID number (masked); an organisation's is its credit code (public); a stand-in key
    (the form's key could not be read) is shown as 待核实 naming the field of the application's ``category``."""
    from award.intake.keyentry import is_pending, pending_text  # noqa: PLC0415 - keyentry pulls in award.forms (python-docx, lxml, pypdf); the desk's web server and `award show` import queries for every page

    if is_pending(applicant.key):
        return pending_text(category or ("individual" if applicant.kind == "person" else "organization"))
    if show_pii or applicant.kind != "person":
        return applicant.key
    return mask_id_number(applicant.key)


def unit_names(season: Season) -> list[str]:
    """The season's recommending units (names, in the season's order); a season without them: its cities."""
    return [u.name for u in season.recommending_units] or list(season.province.cities)


def recommending_unit(season: Season, app: Any) -> str:
    """The recommending unit an application came through, as the season names it (``award.units.unit_for``);
    its city when no known unit is named."""
    unit = unit_for(season, app)
    return unit.name if unit is not None else str(app.city or (app.fields or {}).get("city") or "")


def unit_index(session: Session, season: Season, where: Any = None) -> dict[int, str]:
    """Application id -> recommending unit name for the season's applications (optionally filtered).

    The unit is derived from the channel, the city folder and the form's fields (``award.units``), so it is
    computed here from those columns alone; applications that name the same things share one look-up.
    """
    query = select(Application.id, Application.channel, Application.channels, Application.city,
                   Application.fields).where(Application.season == season.season_id)
    if where is not None:
        query = query.where(where)
    seen: dict[tuple[Any, ...], str] = {}
    out: dict[int, str] = {}
    for app_id, channel, channels, city, fields in session.execute(query):
        fields = fields or {}
        key = (channel, "city" in (channels or []), city, *(str(fields.get(k) or "") for k in FORM_KEYS))
        if key not in seen:
            seen[key] = recommending_unit(season, SimpleNamespace(channel=channel, channels=channels or [],
                                                                  city=city, fields=fields, applicant=None))
        out[app_id] = seen[key]
    return out


def channel_label(channel: str) -> str:
    """The Chinese name of an intake channel (mail, city, local, paper, usb); others as they are."""
    return _text(f"channel.{channel}") if channel in CHANNELS else channel


def _category_label(season: Season, category: str) -> str:
    cat = season.find_category(category)
    return cat.label if cat is not None else category


def _state_label(state: str) -> str:
    try:
        return LABELS_ZH[State(state)]
    except ValueError:
        return state


def _calendar(season: Season) -> WorkCalendar:
    return default_calendar(tuple(season.calendar_overrides))


def workdays_left(calendar: WorkCalendar, today: date, until: date) -> int | None:
    """Working days from today (inclusive) to ``until`` (inclusive); 0 once passed, None if the calendar lacks data."""
    if until < today:
        return 0
    try:
        return calendar.count_workdays(today, until)
    except UnknownYearError:
        return None


# ------------------------------------------------------------------ overview


def key_dates(season: Season, at: datetime) -> list[dict[str, Any]]:
    """The season's key dates with working days left (Asia/Shanghai)."""
    cal = _calendar(season)
    today = at.date()
    dates: list[tuple[str, datetime | date]] = [
        ("application_open", season.dates.application_open),
        ("provincial_deadline", season.dates.provincial_deadline),
        ("export_due", export_due_at(season)),
        ("national_deadline", season.dates.national_deadline),
    ]
    out = []
    for key, when in dates:
        day = when.date() if isinstance(when, datetime) else when
        out.append({"key": key, "label": _text(f"key_date.{key}"), "at": _iso(when),
                    "passed": (when < at) if isinstance(when, datetime) else day < today,
                    "workdays_left": workdays_left(cal, today, day)})
    return out


def overview(session: Session, season: Season, *, at: datetime | None = None) -> dict[str, Any]:
    """The season at a glance: counts by state × category × recommending unit, key dates, open correction
    periods and publicity windows, objections waiting, mails not yet delivered."""
    at = at or now()
    sid = season.season_id
    units_by_app = unit_index(session, season)
    merged: dict[tuple[str, str, str], int] = {}
    for app_id, st, cat in session.execute(
        select(Application.id, Application.state, Application.category).where(Application.season == sid)
    ):
        key = (st, cat, units_by_app.get(app_id, ""))
        merged[key] = merged.get(key, 0) + 1
    state_order = {st.value: i for i, st in enumerate(State)}
    cat_order: dict[str, int] = {str(c): i for i, c in enumerate(season.categories)}
    keys = sorted(merged, key=lambda k: (state_order.get(k[0], 99), cat_order.get(k[1], 99), k[2]))
    counts = [{"state": st, "state_label": _state_label(st), "category": c,
               "category_label": _category_label(season, c), "unit": u, "count": merged[(st, c, u)]}
              for st, c, u in keys]
    by_state: dict[str, int] = {}
    by_category: dict[str, int] = {}
    by_unit: dict[str, int] = {}
    matrix: dict[str, dict[str, dict[str, int]]] = {}
    for st, c, u in keys:
        n = merged[(st, c, u)]
        by_state[st] = by_state.get(st, 0) + n
        by_category[c] = by_category.get(c, 0) + n
        by_unit[u] = by_unit.get(u, 0) + n
        matrix.setdefault(st, {}).setdefault(c, {})[u] = n
    known = unit_names(season)
    units = [u for u in known if u in by_unit] + sorted(u for u in by_unit if u not in known)
    categories = [c for c in season.categories if c in by_category] + sorted(c for c in by_category
                                                                             if c not in season.categories)
    states = sorted(by_state, key=lambda st: state_order.get(st, 99))

    cal = _calendar(season)
    corrections = []
    for app_id, no, name, due in session.execute(
        select(Application.id, Application.submission_no, Applicant.name, Application.correction_due)
        .join(Applicant, Applicant.id == Application.applicant_id)
        .where(Application.season == sid, Application.state == State.INCOMPLETE.value)
        .order_by(Application.correction_due, Application.submission_no)
    ):
        corrections.append({"application_id": app_id, "submission_no": no, "name": name,
                            "unit": units_by_app.get(app_id, ""),
                            "due": _iso(due),
                            "workdays_left": workdays_left(cal, at.date(), due) if due else None})
    windows = []
    for w, n in session.execute(
        select(PublicityWindow, func.count(PublicityEntry.id))
        .outerjoin(PublicityEntry, PublicityEntry.window_id == PublicityWindow.id)
        .where(PublicityWindow.season == sid, PublicityWindow.status == WindowStatus.OPEN)
        .group_by(PublicityWindow.id).order_by(PublicityWindow.end_at)
    ):
        windows.append({"id": w.id, "purpose": w.purpose, "purpose_label": _text(f"purpose.{w.purpose}"),
                        "start": _iso(w.start_date), "end": _iso(w.end_date), "end_at": _iso(w.end_at),
                        "applications": n, "workdays_left": workdays_left(cal, at.date(), w.end_date)})
    objections = [_objection(o, no) for o, no in session.execute(
        select(Objection, Application.submission_no)
        .outerjoin(Application, Application.id == Objection.application_id)
        .outerjoin(PublicityWindow, PublicityWindow.id == Objection.window_id)
        .where(Objection.status.in_((ObjectionStatus.OPEN, ObjectionStatus.UNMATCHED)),
               or_(Application.season == sid, PublicityWindow.season == sid,
                   (Objection.application_id.is_(None) & Objection.window_id.is_(None))))
        .order_by(Objection.id)
    )]
    mails = [_mail(m, no, show_pii=False) for m, no in session.execute(
        select(OutboxEmail, Application.submission_no)
        .outerjoin(Application, Application.id == OutboxEmail.application_id)
        .where(OutboxEmail.status.in_(UNDELIVERED), or_(Application.season == sid, OutboxEmail.application_id.is_(None)))
        .order_by(OutboxEmail.id)
    )]
    held = [{"id": i.id, "submission_no": no, "sender": i.sender, "subject": i.subject,
             "received_at": _iso(i.received_at)} for i, no in session.execute(
        select(InboundItem, Application.submission_no)
        .outerjoin(Application, Application.id == InboundItem.application_id)
        .where(InboundItem.season == sid, InboundItem.status == InboundStatus.HELD).order_by(InboundItem.id))]
    waiting = session.scalar(select(func.count()).select_from(Application).where(
        Application.season == sid, Application.state.in_(WAITING_STATES))) or 0
    return {
        "season": sid, "at": _iso(at), "total": sum(by_state.values()),
        "award": f"{season.award.edition}{season.award.name}", "province": season.province.name,
        "recommending_unit": season.recommending_unit.name,
        "counts": counts, "matrix": matrix, "states": [{"state": s, "label": _state_label(s), "count": by_state[s]}
                                                       for s in states],
        "categories": [{"category": c, "label": _category_label(season, c), "count": by_category[c]}
                       for c in categories],
        "units": [{"unit": u, "count": by_unit[u]} for u in units],
        "key_dates": key_dates(season, at), "corrections": corrections, "publicity_windows": windows,
        "objections": objections, "undelivered_mails": mails, "waiting_for_staff": waiting, "held": held,
    }


# ------------------------------------------------------------------ list


@dataclass(frozen=True)
class ApplicationFilter:
    """The list's filters; empty values mean "any"."""

    state: str = ""
    category: str = ""
    unit: str = ""
    channel: str = ""
    waiting: bool = False
    q: str = ""
    page: int = 1


def list_applications(session: Session, season: Season, flt: ApplicationFilter | None = None, *,
                      show_pii: bool = False, page_size: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of the season's applications matching the filters, and the total count."""
    flt = flt or ApplicationFilter()
    cond: list[Any] = [Application.season == season.season_id]
    if flt.state:
        cond.append(Application.state == flt.state)
    if flt.category:
        cond.append(Application.category == flt.category)
    if flt.unit:
        cond.append(Application.id.in_([i for i, u in unit_index(session, season).items() if u == flt.unit]))
    if flt.channel:
        cond.append(Application.channel == flt.channel)
    if flt.waiting:
        cond.append(Application.state.in_(WAITING_STATES))
    q = flt.q.strip()
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        cond.append(or_(Application.submission_no.ilike(like, escape="\\"), Applicant.name.ilike(like, escape="\\"),
                        (Applicant.kind == "organization") & Applicant.key.ilike(like, escape="\\"),
                        (Applicant.kind == "person") & (Applicant.key == q.upper())))
    base = select(Application, Applicant).join(Applicant, Applicant.id == Application.applicant_id).where(*cond)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = max(1, flt.page)
    rows = session.execute(base.order_by(Application.submission_no).offset((page - 1) * page_size).limit(page_size))
    items = []
    for app, applicant in rows:
        items.append({
            "submission_no": app.submission_no, "name": applicant.name, "key": applicant_key(applicant, show_pii, app.category),
            "kind": applicant.kind, "category": app.category, "category_label": _category_label(season, app.category),
            "unit": recommending_unit(season, app), "channel": app.channel, "channels": list(app.channels or []),
            "channel_labels": [channel_label(c) for c in (app.channels or [app.channel])],
            "multi_channel": app.multi_channel, "state": app.state, "state_label": _state_label(app.state),
            "waiting": app.state in WAITING_STATES, "received_at": _iso(app.received_at),
            "state_changed_at": _iso(app.state_changed_at), "correction_due": _iso(app.correction_due),
            "phone": (applicant.phone if show_pii else mask_phone(applicant.phone)) if applicant.phone else None,
        })
    return {"total": total, "page": page, "pages": max(1, -(-total // page_size)), "items": items}


def filter_choices(session: Session, season: Season) -> dict[str, list[dict[str, str]]]:
    """The values the list's filters offer: states, categories, units and channels."""
    known = unit_names(season)
    seen = {u for u in unit_index(session, season).values() if u}
    channels = sorted(c for (c,) in session.execute(select(Application.channel).where(
        Application.season == season.season_id).distinct()) if c)
    return {
        "states": [{"value": s.value, "label": LABELS_ZH[s]} for s in State],
        "categories": [{"value": c, "label": cat.label} for c, cat in season.categories.items()],
        "units": [{"value": u, "label": u} for u in [*known, *sorted(seen - set(known))]],
        "channels": [{"value": c, "label": channel_label(c)} for c in channels],
    }


CHANNELS = ("mail", "city", "local", "paper", "usb")


# ------------------------------------------------------------------ one application


def _objection(o: Objection, submission_no: str | None) -> dict[str, Any]:
    return {"id": o.id, "submission_no": submission_no, "status": o.status, "late": o.late,
            "window_id": o.window_id, "received_at": _iso(o.received_at), "objector": o.objector_name,
            "objector_email": o.objector_email, "text": o.text, "resolution": o.resolution,
            "decided_by": o.decided_by, "decided_at": _iso(o.decided_at)}


def _mail(m: OutboxEmail, submission_no: str | None, *, show_pii: bool) -> dict[str, Any]:
    return {"id": m.id, "submission_no": submission_no, "template": m.template, "subject": m.subject,
            "to": list(m.to_addrs or []), "cc": list(m.cc_addrs or []),
            "status": m.status, "status_label": _text(f"mail_status.{m.status}") if m.status in MAIL_STATUSES
            else m.status, "attempts": m.attempts, "last_error": m.last_error, "created_at": _iso(m.created_at),
            "next_attempt_at": _iso(m.next_attempt_at) if m.status != OutboxStatus.SENT else None,
            "sent_at": _iso(m.sent_at), "message_id": m.message_id,
            "attachments": [a.get("filename") for a in m.attachments or []]}


MAIL_STATUSES = tuple(OutboxStatus)


def _find(session: Session, season: Season, submission_no: str) -> Application:
    app = session.scalar(select(Application).where(Application.season == season.season_id,
                                                   Application.submission_no == submission_no.strip()))
    if app is None:
        raise ApplicationNotFound(f"submission_no: no application {submission_no!r} in season {season.season_id}")
    return app


def _scrub(text: str | None, show_pii: bool) -> str | None:
    """Mask ID numbers and mobile phones inside free text (audit reasons, problems) unless ``show_pii``."""
    if text is None or show_pii:
        return text
    text = re.sub(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])", lambda m: mask_id_number(m.group()), text)
    return re.sub(r"(?<!\d)1[3-9]\d{9}(?!\d)", lambda m: mask_phone(m.group()), text)


def _scrub_details(value: Any, show_pii: bool) -> Any:
    if show_pii:
        return value
    if isinstance(value, str):
        return _scrub(value, False)
    if isinstance(value, dict):
        return {k: _scrub_details(v, False) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_details(v, False) for v in value]
    return value


def application_view(session: Session, season: Season, submission_no: str, *,
                     show_pii: bool = False) -> dict[str, Any]:
    """Everything about one application (``award show --json``, schema ``SCHEMA``).

    Keys: schema, submission_no, season, state, state_label, category, category_label, recommending_unit,
    channel, channels, multi_channel, received_at, state_changed_at, correction_due, waiting, applicant, fields,
    field_labels,
    timeline, files, inbound, refused, findings, opinions, objections, publicity, paper, paper_receipts, mails.
    """
    app = _find(session, season, submission_no)
    applicant = app.applicant
    timeline = []
    object_ids: dict[str, set[int]] = {"application": {app.id}}
    objections = list(session.scalars(select(Objection).where(Objection.application_id == app.id)
                                      .order_by(Objection.id)))
    object_ids["objection"] = {o.id for o in objections}
    mail_rows = list(session.scalars(select(OutboxEmail).where(OutboxEmail.application_id == app.id)
                                     .order_by(OutboxEmail.id)))
    object_ids["outbox_email"] = {m.id for m in mail_rows}
    conds = [(AuditEvent.entity_type == t) & AuditEvent.entity_id.in_(ids) for t, ids in object_ids.items() if ids]
    paper = []
    for ev in session.scalars(select(AuditEvent).where(or_(*conds)).order_by(AuditEvent.at, AuditEvent.id)):
        entry = {"at": _iso(ev.at), "actor": ev.actor, "entity": ev.entity_type, "entity_id": ev.entity_id,
                 "action": ev.action, "from_state": ev.from_state, "to_state": ev.to_state,
                 "from_label": _event_label(ev.entity_type, ev.from_state),
                 "to_label": _event_label(ev.entity_type, ev.to_state),
                 "reason": _scrub(ev.reason, show_pii), "details": _scrub_details(ev.details or {}, show_pii)}
        timeline.append(entry)
        if ev.action in PAPER_ACTIONS:
            paper.append(entry)
    materials = list(session.scalars(select(Material).where(Material.application_id == app.id)
                                     .order_by(Material.received_at, Material.id)))
    files = [{"id": m.id, "kind": m.kind, "kind_label": _text(f"material.{m.kind}") if m.kind in MATERIAL_KINDS
              else m.kind, "filename": m.filename, "sha256": m.sha256, "size": m.size,
              "content_type": m.content_type, "channel": m.source_channel,
              "channel_label": channel_label(m.source_channel), "received_at": _iso(m.received_at),
              "version": m.version, "superseded": m.superseded_by_id is not None,
              "download": f"material/{m.id}"} for m in materials]
    items = list(session.scalars(select(InboundItem).where(InboundItem.application_id == app.id)
                                 .order_by(InboundItem.received_at, InboundItem.id)))
    inbound = [{"id": i.id, "channel": i.channel, "filename": i.filename, "sender": i.sender,
                "subject": i.subject, "sha256": i.sha256, "size": i.size, "status": i.status,
                "received_at": _iso(i.received_at), "download": f"inbound/{i.id}"} for i in items]
    item_ids = [i.id for i in items]
    pconds = [Problem.application_id == app.id]
    if item_ids:
        pconds.append(Problem.inbound_item_id.in_(item_ids))
    refused = [{"id": p.id, "filename": p.filename, "code": p.code, "reason": _scrub(p.message, show_pii),
                "at": _iso(p.created_at), "inbound_id": p.inbound_item_id,
                "download": f"inbound/{p.inbound_item_id}" if p.inbound_item_id else None}
               for p in session.scalars(select(Problem).where(or_(*pconds)).order_by(Problem.id))]
    findings = []
    runs = list(session.scalars(select(CheckRun).where(CheckRun.application_id == app.id).order_by(CheckRun.id)))
    rounds = _correction_rounds(runs)
    for run, rnd in zip(runs, rounds, strict=True):
        findings.append({"round": rnd, "checked_at": _iso(run.checked_at), "outcome": run.outcome,
                         "problems": [{"rule_id": r.rule_id, "severity": r.severity,
                                       "message": _scrub(r.message, show_pii)} for r in run.results if not r.passed]})
    opinions = []
    for op, dept in session.execute(select(Opinion, OpinionRequest.department).join(
            OpinionRequest, OpinionRequest.id == Opinion.request_id).where(Opinion.application_id == app.id)
            .order_by(Opinion.id)):
        name = next((d.name for d in season.departments if d.code == dept), dept)
        opinions.append({"department": dept, "department_name": name, "verdict": op.verdict,
                         "verdict_label": _text(f"verdict.{op.verdict}") if op.verdict in VERDICTS else op.verdict,
                         "reason": op.reason, "source": op.source, "late": op.late,
                         "received_at": _iso(op.received_at), "current": op.superseded_by_id is None})
    publicity = [{"window_id": w.id, "purpose": w.purpose, "purpose_label": _text(f"purpose.{w.purpose}"),
                  "start": _iso(w.start_date), "end": _iso(w.end_date), "end_at": _iso(w.end_at),
                  "status": w.status, "outcome": e.outcome}
                 for e, w in session.execute(select(PublicityEntry, PublicityWindow).join(
                     PublicityWindow, PublicityWindow.id == PublicityEntry.window_id)
                     .where(PublicityEntry.application_id == app.id).order_by(PublicityWindow.id))]
    mails = [_mail(m, app.submission_no, show_pii=show_pii) for m in mail_rows]
    return {
        "schema": SCHEMA, "submission_no": app.submission_no, "season": app.season, "state": app.state,
        "state_label": _state_label(app.state), "terminal": State(app.state) in TERMINAL,
        "category": app.category, "category_label": _category_label(season, app.category),
        "recommending_unit": recommending_unit(season, app), "channel": app.channel, "channels": list(app.channels or []),
        "channel_labels": [channel_label(c) for c in (app.channels or [app.channel])],
        "multi_channel": app.multi_channel, "received_at": _iso(app.received_at),
        "state_changed_at": _iso(app.state_changed_at), "correction_due": _iso(app.correction_due),
        "waiting": app.state in WAITING_STATES,
        "applicant": {"kind": applicant.kind, "name": applicant.name, "key": applicant_key(applicant, show_pii, app.category),
                      "email": applicant.email, "contact_name": applicant.contact_name,
                      "phone": (applicant.phone if show_pii else mask_phone(applicant.phone))
                      if applicant.phone else None},
        "fields": masked_fields(app.fields or {}, show_pii),
        "field_labels": field_labels(app.category),
        "timeline": timeline, "files": files, "inbound": inbound, "refused": refused, "findings": findings,
        "opinions": opinions, "objections": [_objection(o, app.submission_no) for o in objections],
        "publicity": publicity, "paper": _paper(season, app), "paper_receipts": paper, "mails": mails,
    }


def field_labels(category: str) -> dict[str, str]:
    """The form's Chinese label of each field key (the form of the category), for showing parsed fields."""
    from award.forms.spec import FormError, form_for_category  # noqa: PLC0415 - award.forms (python-docx, lxml, pypdf) loads only when field labels are shown, not for every desk page

    try:
        return {f.key: f.label for f in form_for_category(category).fields}
    except (KeyError, FormError):
        return {}


def _paper(season: Season, app: Application) -> dict[str, Any] | None:
    """The paper copies and USB stick against the season's demand (award.paper), or None when nothing is asked."""
    state = paper_state(season, app)
    return state.as_dict() if state.required else None


PAPER_ACTIONS = frozenset({"paper_receipt", "usb_receipt", "physical_receipt", "receipt_recorded"})
MATERIAL_KINDS = ("form_docx", "form_pdf", "evidence", "publicity_proof", "unit_opinion", "city_recommendation",
                  "other")
VERDICTS = tuple(Verdict)


def _event_label(entity: str, state: str | None) -> str | None:
    if not state:
        return None
    if entity == "outbox_email":
        return _text(f"mail_status.{state}") if state in MAIL_STATUSES else state
    return _state_label(state)


def _correction_rounds(runs: list[CheckRun]) -> list[int]:
    """The 补正 round of each check: round 0 is the first check; each check after an "incomplete" one is the
    next round (the applicant was asked to correct in between)."""
    out = []
    rnd = 0
    for previous, _run in zip([None, *runs], runs, strict=False):
        if previous is not None and previous.outcome == CheckOutcome.INCOMPLETE:
            rnd += 1
        out.append(rnd)
    return out

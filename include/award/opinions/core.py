"""Department opinions (征求相关部门意见): solicitation letters, replies, reminders, defaults and ops decisions.

Rules (all dates are Asia/Shanghai working days from ``award.calendar``):

* **Batching** (:func:`solicit`): every COMPLETE application of the season not yet asked goes, in one letter per
  department, to each department whose ``categories`` include the application's category. Each letter is an
  ``OpinionRequest`` with the token ``YJ-<season year>-<department code>-<6 hex>``; the applications move
  COMPLETE -> DEPT_REVIEW. An application no department is asked about moves straight on to DEPT_CLEARED.
* **Due date**: ``calendar.workdays_after(send day, reply_workdays)``: the send day never counts, the due date is
  the ``reply_workdays``-th working day after it, and replies are on time until the end of that day.
  Lateness is judged by when the office archived the reply (``InboundItem.received_at``).
* **Reminders** (:func:`send_reminders`): on the working day ``calendar.workdays_before(due, n)`` for each ``n`` in
  ``reminder_workdays_before``, if some listed application still has no opinion from that department. A run that
  missed a reminder day sends the latest missed one only (one e-mail per reminder day, idempotency key
  ``opinions:opinion_reminder:<request id>:<n>``), never after the due date.
* **Defaults** (:func:`apply_defaults`): from the first run after the due date, every listed application without
  an opinion gets the department's ``default_on_silence`` recorded with ``source="default"`` (not as an answer).
  ``follow_up`` means staff must decide: it is treated like an objection (DEPT_OBJECTION, ops decision).
* **Replies** (:func:`ingest_reply`, :func:`ingest_storage`): matched by token (subject, body, sheet or file
  name). A new opinion on the same application from the same department supersedes the current one
  (``superseded_by_id``; both kept; an identical repeat of the same file is ignored). Unknown tokens or
  applicants, unreadable files and unclear texts become ``Problem`` rows and one ``staff_notice`` to ops.
* **Clearing** (:func:`settle`): once every asked department has an opinion (reply or default), an application
  in DEPT_REVIEW moves to DEPT_CLEARED if all are ``no_objection``, else to DEPT_OBJECTION. An application
  waiting in DEPT_OBJECTION whose departments have since all said ``no_objection`` is cleared.
* **Late or changed replies**: a new ``objection`` for an application in DEPT_CLEARED reopens the decision
  (DEPT_CLEARED -> DEPT_OBJECTION). If the application has moved beyond DEPT_CLEARED (publicity and later), the
  opinion is recorded, audited (``dept_opinion_after_clearance``) and staff are told; its state is not changed.
* **Decisions** (:func:`pending_decisions`, :func:`apply_decision`): applications in DEPT_OBJECTION are put to ops
  (Airflow human-in-the-loop). Continue -> DEPT_CLEARED, remove -> REMOVED; the transition's audit event carries
  who answered (actor), the reason and when they answered; the applicant is e-mailed the outcome.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.calendar import WorkCalendar, default_calendar
from award.clock import now
from award.config import Department, Season
from award.identity import listed_code
from award.inbound.archive import record_problem
from award.mail.outbox import enqueue
from award.seasonfile import yaml_load
from award.states import LABELS_ZH, State, audit, transition
from award.store.models import (
    Applicant,
    Application,
    AuditEvent,
    InboundItem,
    Opinion,
    OpinionRequest,
    OpinionRequestItem,
)
from award.templating import environment, message_group, render_mail, template_path

log = logging.getLogger(__name__)

ACTOR = "opinions"
TOKEN_RE = re.compile(r"YJ-\d{4}-[a-z0-9_]+-[0-9a-f]{6}")
VERDICTS = ("no_objection", "objection", "follow_up")
ADVERSE = frozenset({"objection", "follow_up"})
CHOICES = ("continue", "remove")
LETTER_TEMPLATE = "letters/opinion_request.docx.j2"
DECISION_TEMPLATE = "hitl/dept_decision.md.j2"
STORAGE_PREFIX = "opinions/"
# states after DEPT_CLEARED on the way to the national submission: a late objection is only reported there
_BEYOND_CLEARED = frozenset(State) - {
    State.RECEIVED, State.INCOMPLETE, State.COMPLETE, State.NEEDS_REVIEW, State.DEPT_REVIEW, State.DEPT_OBJECTION,
    State.DEPT_CLEARED,
}


class OpinionError(ValueError):
    """Bad input to the opinions stage (unknown application, choice or reason); the message names it."""


# ------------------------------------------------------------------------------------------ texts and helpers


@lru_cache(maxsize=4)
def _yaml(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml_load(template_path(name).read_text(encoding="utf-8"))
    return data


def sheet_texts() -> dict[str, Any]:
    """Labels of the reply sheet and the reply vocabulary (templates/letters/opinion_sheet.yaml)."""
    return _yaml("letters/opinion_sheet.yaml")


def notice_texts() -> dict[str, Any]:
    """Problem messages and staff notices (templates/letters/opinion_notices.yaml)."""
    return _yaml("letters/opinion_notices.yaml")


_text = message_group("opinions", "opinions")


def decision_texts() -> dict[str, Any]:
    """Option labels and the reason field of the ops decision (templates/hitl/dept_decision.yaml)."""
    return _yaml("hitl/dept_decision.yaml")


def render_blocks(name: str, **context: Any) -> dict[str, str]:
    """Render every block of a template on its own (stripped text), keyed by block name."""
    template = environment().get_template(name)
    ctx = template.new_context(context)
    return {block: "".join(render(ctx)).strip() for block, render in template.blocks.items()}


def season_label(season: Season) -> str:
    """E.g. 第五届中国质量奖."""
    return f"{season.award.edition}{season.award.name}"


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


def _today(today: date | None) -> date:
    return today or now().date()


def _base_context(season: Season, greeting: str) -> dict[str, Any]:
    return {"greeting": greeting, "unit": season.recommending_unit, "season_label": season_label(season)}


def _ops_notice(session: Session, season: Season, key: str, title: str, text: str, items: Sequence[str] = ()) -> None:
    ctx = _base_context(season, _text("greeting.staff")) | {"title": title, "text": text, "items": list(items)}
    enqueue(session, key=key, template="staff_notice", to=[str(season.recommending_unit.ops_email)], context=ctx)


@dataclass(frozen=True)
class Row:
    """One applicant as listed in a letter and a reply sheet."""

    application_id: int
    submission_no: str
    name: str
    code: str
    city: str
    category: str


def _row(season: Season, app: Application) -> Row:
    applicant = app.applicant
    code = listed_code(applicant.kind, applicant.key)
    try:
        label = season.category(app.category).label
    except KeyError:
        label = app.category
    return Row(app.id, app.submission_no, applicant.name, code, app.city or applicant.city or "", label)


def _rows(session: Session, season: Season, request: OpinionRequest) -> list[Row]:
    ids = [i.application_id for i in request.items]
    apps = session.scalars(select(Application).where(Application.id.in_(ids)).order_by(Application.id)).all()
    return [_row(season, a) for a in apps]


# ------------------------------------------------------------------------------------------ documents


LETTER_TABLE_WIDTHS_MM = (9, 29, 34, 46, 16, 22)  # 156 mm: the type area of A4 (award.officialdoc)
LETTER_ONE_LINE_COLUMNS = (0, 1, 3)  # 序号, 申报编号 and the code never wrap


def build_letter(season: Season, dept: Department, request: OpinionRequest, rows: Sequence[Row], *,
                 doc_number: str, sheet_filename: str, today: date) -> bytes:
    """The 征求意见函 as .docx bytes (GB/T 9704-2012 layout by award.officialdoc; all text from the template)."""
    from award.officialdoc import OfficialDocument

    texts = sheet_texts()
    blocks = render_blocks(
        LETTER_TEMPLATE, unit=season.recommending_unit, season_label=season_label(season), department=dept,
        doc_number=doc_number, token=request.token, due_date=request.due_date, rows=list(rows), today=today,
        sheet_filename=sheet_filename, silence_meaning=texts["silence_meaning"][dept.default_on_silence],
    )
    doc = OfficialDocument(title=blocks["title"])
    doc.letterhead(blocks["issuer"], blocks["doc_number"])
    doc.heading(blocks["title"])
    doc.addressee(blocks["addressee"])
    doc.body(_paragraphs(blocks["body"]))
    doc.closing(attachments=[blocks["list_title"], blocks["sheet_attachment"]], signature=blocks["signature"],
                date=blocks["date"], note=blocks["contact"] or None)
    doc.annex(1, blocks["list_title"])
    values = [[str(i), r.submission_no, r.name, r.code, r.city, r.category] for i, r in enumerate(rows, 1)]
    doc.table([texts["letter_columns"], *values], widths_mm=LETTER_TABLE_WIDTHS_MM, one_line=LETTER_ONE_LINE_COLUMNS)
    return doc.to_bytes()


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def build_sheet(season: Season, dept: Department, request: OpinionRequest, rows: Sequence[Row]) -> bytes:
    """The reply sheet (.xlsx): token in a header cell, one row per applicant, 意见 as a validated list."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.datavalidation import DataValidation

    t = sheet_texts()
    cols = t["columns"]
    wb = Workbook()
    ws = wb.active
    ws.title = t["sheet_name"]
    ws["A1"] = t["title"].format(season_label=season_label(season))
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells("A1:G1")
    ws["A2"], ws["B2"] = t["token_label"], request.token
    ws["D2"], ws["E2"] = t["due_label"], request.due_date.isoformat()
    ws["A3"], ws["B3"] = t["department_label"], dept.name
    ws["A4"] = t["instructions"]
    ws.merge_cells("A4:G4")
    header = [cols[k] for k in ("submission_no", "name", "code", "city", "category", "opinion", "reason")]
    ws.append([])
    ws.append(header)
    header_row = ws.max_row
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append([r.submission_no, r.name, r.code, r.city, r.category, None, None])
    last = max(ws.max_row, header_row + 1)
    choices = ",".join(t["choices"][k] for k in ("no_objection", "objection"))
    dv = DataValidation(type="list", formula1=f'"{choices}"', allow_blank=True, showErrorMessage=True)
    dv.error = t["instructions"]
    ws.add_data_validation(dv)
    dv.add(f"F{header_row + 1}:F{last}")
    for letter, width in zip("ABCDEFG", (16, 36, 24, 12, 22, 10, 40), strict=True):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=header_row + 1, max_row=last, min_col=7, max_col=7):
        row[0].alignment = Alignment(wrap_text=True)
    ws.freeze_panes = f"A{header_row + 1}"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ------------------------------------------------------------------------------------------ solicitation


@dataclass
class SolicitResult:
    """What one solicitation run did."""

    requests: list[int] = field(default_factory=list)
    applications: list[int] = field(default_factory=list)
    cleared_without_departments: list[int] = field(default_factory=list)


def make_token(season: Season, dept: Department, application_ids: Iterable[int], salt: int = 0) -> str:
    """``YJ-<year>-<dept code>-<6 hex>``, the hex derived from the batch (stable for the same batch)."""
    seed = f"{season.season_id}|{dept.code}|{sorted(application_ids)}|{salt}".encode()
    return f"YJ-{season.year}-{dept.code}-{hashlib.sha256(seed).hexdigest()[:6]}"


def _asked(session: Session, app_id: int) -> set[str]:
    return set(session.scalars(
        select(OpinionRequest.department).join(OpinionRequestItem).where(OpinionRequestItem.application_id == app_id)
    ))


def solicit(session: Session, rt: Any, *, today: date | None = None, actor: str = ACTOR) -> SolicitResult:
    """Ask every department about the season's COMPLETE applications not yet asked (one letter per department).

    Creates the requests, archives letter and sheet in the blob store (with a printable copy under
    ``documents/<season>/征求意见函/<department>/`` in shared storage), queues the e-mails (outbox) and moves the
    applications COMPLETE -> DEPT_REVIEW, all in the caller's transaction.
    """
    season: Season = rt.season
    today = _today(today)
    apps = session.scalars(
        select(Application).where(Application.season == season.season_id, Application.state == State.COMPLETE.value)
        .order_by(Application.id)
    ).all()
    result = SolicitResult()
    if not apps:
        return result
    asked = {a.id: _asked(session, a.id) for a in apps}
    tokens: dict[int, list[str]] = {a.id: [] for a in apps}
    for dept in season.departments:
        batch = [a for a in apps if a.category in dept.categories and dept.code not in asked[a.id]]
        if not batch:
            continue
        request = _create_request(session, rt, dept, batch, today=today, actor=actor)
        result.requests.append(request.id)
        for a in batch:
            tokens[a.id].append(request.token)
    for app in apps:
        if tokens[app.id]:
            transition(session, app, State.DEPT_REVIEW, actor=actor, reason=_text("reason.requested"),
                       details={"tokens": tokens[app.id]})
            result.applications.append(app.id)
        elif not asked[app.id] and not departments_for(season, app.category):
            transition(session, app, State.DEPT_REVIEW, actor=actor, reason=_text("reason.no_departments"),
                       details={"category": app.category})
            transition(session, app, State.DEPT_CLEARED, actor=actor, reason=_text("reason.no_departments"),
                       details={"category": app.category})
            result.cleared_without_departments.append(app.id)
    return result


DOCUMENTS_PREFIX = "documents"  # the season's printable documents in shared storage


def _create_request(session: Session, rt: Any, dept: Department, batch: Sequence[Application], *, today: date,
                    actor: str) -> OpinionRequest:
    season: Season = rt.season
    ids = [a.id for a in batch]
    salt = 0
    token = make_token(season, dept, ids)
    while session.scalar(select(OpinionRequest.id).where(OpinionRequest.token == token)) is not None:
        salt += 1
        token = make_token(season, dept, ids, salt)
    request = OpinionRequest(season=season.season_id, department=dept.code, token=token, sent_at=now(),
                             due_date=due_date_for(season, dept, today), status="open", created_at=now())
    session.add(request)
    session.flush()
    for a in batch:
        session.add(OpinionRequestItem(request_id=request.id, application_id=a.id))
    session.flush()
    session.refresh(request)
    count = len(session.scalars(select(OpinionRequest.id).where(OpinionRequest.season == season.season_id)).all())
    doc_number = _text("doc_number", prefix=season.recommending_unit.doc_prefix, count=count)
    rows = [_row(season, a) for a in batch]
    letter_name, sheet_name = _filenames(season, dept, request)
    letter = build_letter(season, dept, request, rows, doc_number=doc_number, sheet_filename=sheet_name, today=today)
    sheet = build_sheet(season, dept, request, rows)
    request.letter_sha256 = rt.blobs.put_bytes(letter).sha256
    request.sheet_sha256 = rt.blobs.put_bytes(sheet).sha256
    folder = f"{DOCUMENTS_PREFIX}/{season.season_id}/{_text('filenames.folder')}/{dept.name}"
    rt.shared.write(f"{folder}/{letter_name}", letter)  # a copy staff can print; the blob stays the record
    rt.shared.write(f"{folder}/{sheet_name}", sheet)
    ctx = _base_context(season, dept.name) | {
        "token": token, "doc_number": doc_number, "due_date": request.due_date, "rows": rows,
        "silence_meaning": sheet_texts()["silence_meaning"][dept.default_on_silence],
    }
    enqueue(session, key=f"opinions:opinion_request:{request.id}:{token}", template="opinion_request",
            to=[str(dept.email)], context=ctx, attachments=_attachments(request, letter_name, sheet_name))
    audit(session, actor=actor, entity_type="opinion_request", entity_id=request.id, action="opinion_request_sent",
          reason=_text("reason.request_sent", department=dept.name), details={
              "token": token, "department": dept.code, "doc_number": doc_number, "due_date": request.due_date.isoformat(),
              "applications": ids, "letter_sha256": request.letter_sha256, "sheet_sha256": request.sheet_sha256})
    log.info("opinion request %s to %s: %d applications, due %s", token, dept.code, len(ids), request.due_date)
    return request


def _filenames(season: Season, dept: Department, request: OpinionRequest) -> tuple[str, str]:
    return (_text("filenames.letter", season_label=season_label(season), token=request.token),
            _text("filenames.sheet", token=request.token))


def _attachments(request: OpinionRequest, letter_name: str, sheet_name: str) -> list[dict[str, str]]:
    return [{"sha256": request.letter_sha256 or "", "filename": letter_name},
            {"sha256": request.sheet_sha256 or "", "filename": sheet_name}]


# ------------------------------------------------------------------------------------------ opinions and clearing


def current_opinions(session: Session, app_id: int) -> dict[str, Opinion]:
    """The current (not superseded) opinion of each department on an application."""
    ops = session.scalars(
        select(Opinion).where(Opinion.application_id == app_id, Opinion.superseded_by_id.is_(None)).order_by(Opinion.id)
    ).all()
    return {op.department: op for op in ops}


def record_opinion(session: Session, rt: Any, request: OpinionRequest, app: Application, verdict: str,
                   reason: str | None, *, source: str, source_sha256: str | None, received_at: datetime,
                   actor: str = ACTOR) -> Opinion | None:
    """Record one department opinion (superseding the current one) and move the application on.

    Returns None when the same file already gave the same opinion (a repeated delivery).
    """
    if verdict not in VERDICTS:
        raise OpinionError(f"unknown verdict {verdict!r} (expected one of {', '.join(VERDICTS)})")
    current = current_opinions(session, app.id).get(request.department)
    if (current is not None and source == "reply" and current.source == "reply"
            and current.source_sha256 == source_sha256 and current.verdict == verdict
            and (current.reason or None) == (reason or None)):
        return None
    late = source == "reply" and received_at.date() > request.due_date
    op = Opinion(request_id=request.id, application_id=app.id, department=request.department, verdict=verdict,
                 reason=reason or None, source=source, source_sha256=source_sha256, late=late, received_at=received_at)
    session.add(op)
    session.flush()
    if current is not None:
        current.superseded_by_id = op.id
    audit(session, actor=actor, entity_type="application", entity_id=app.id, action=f"dept_opinion_{source}",
          reason=reason, details={"department": request.department, "token": request.token, "verdict": verdict,
                                  "late": late, "opinion_id": op.id,
                                  "supersedes": current.id if current is not None else None})
    _after_opinion(session, rt, app, op, actor=actor)
    return op


def _after_opinion(session: Session, rt: Any, app: Application, op: Opinion, *, actor: str) -> None:
    state = State(app.state)
    if state in (State.DEPT_REVIEW, State.DEPT_OBJECTION):
        settle(session, app, actor=actor)
    elif state == State.DEPT_CLEARED and op.verdict in ADVERSE:
        transition(session, app, State.DEPT_OBJECTION, actor=actor,
                   reason=_text("reason.reopened", late=op.late),
                   details={"department": op.department, "opinion_id": op.id, "late": op.late})
    elif state in _BEYOND_CLEARED and state not in (State.REMOVED, State.WITHDRAWN) and op.verdict in ADVERSE:
        season: Season = rt.season
        dept = department(season, op.department)
        audit(session, actor=actor, entity_type="application", entity_id=app.id,
              action="dept_opinion_after_clearance", reason=op.reason,
              details={"department": op.department, "opinion_id": op.id, "state": app.state})
        staff = notice_texts()["staff"]
        _ops_notice(session, season, f"opinions:staff_notice:after_clearance:{op.id}", staff["after_clearance_title"],
                    staff["after_clearance_text"].format(
                        department=dept.name if dept else op.department, name=app.applicant.name,
                        submission_no=app.submission_no, verdict=_verdict_label(op.verdict),
                        state=LABELS_ZH[state], reason=op.reason or ""))


def _verdict_label(verdict: str) -> str:
    return str(sheet_texts()["verdict_labels"][verdict])


def settle(session: Session, app: Application, *, actor: str = ACTOR) -> str | None:
    """Clear an application or send it to a decision once every asked department has an opinion.

    Returns the new state, or None when nothing changed (opinions missing, or a state this does not handle).
    """
    state = State(app.state)
    if state not in (State.DEPT_REVIEW, State.DEPT_OBJECTION):
        return None
    asked = _asked(session, app.id)
    current = current_opinions(session, app.id)
    if not asked or not asked <= set(current):
        return None
    adverse = sorted(d for d in asked if current[d].verdict in ADVERSE)
    details = {"opinions": {d: current[d].verdict for d in sorted(asked)}}
    if state == State.DEPT_REVIEW:
        if adverse:
            transition(session, app, State.DEPT_OBJECTION, actor=actor, reason=_text("reason.objection"),
                       details=details | {"adverse": adverse})
            return State.DEPT_OBJECTION.value
        transition(session, app, State.DEPT_CLEARED, actor=actor, reason=_text("reason.cleared"),
                   details=details)
        return State.DEPT_CLEARED.value
    if not adverse:
        transition(session, app, State.DEPT_CLEARED, actor=actor, reason=_text("reason.cleared_after_correction"),
                   details=details)
        return State.DEPT_CLEARED.value
    return None


def _refresh_status(session: Session, request: OpinionRequest) -> None:
    if request.status != "open":
        return
    answered = {op.application_id for op in session.scalars(
        select(Opinion).where(Opinion.request_id == request.id, Opinion.source == "reply")
    )}
    if {i.application_id for i in request.items} <= answered:
        request.status = "answered"


# ------------------------------------------------------------------------------------------ reading replies


@dataclass(frozen=True)
class SheetRow:
    """One filled row of a reply sheet."""

    row: int
    submission_no: str
    name: str
    opinion: str
    reason: str


@dataclass
class SheetReply:
    """A reply sheet read back: its token and the rows."""

    token: str | None
    rows: list[SheetRow]


def _cell(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def read_sheet(data: bytes) -> SheetReply:
    """Read a (filled) reply sheet: the token from the header cells, then every row under the heading row."""
    from openpyxl import load_workbook

    cols = sheet_texts()["columns"]
    wb = load_workbook(io.BytesIO(data), data_only=True)
    token: str | None = None
    rows: list[SheetRow] = []
    for ws in wb.worksheets:
        heading: dict[str, int] | None = None
        for r_idx, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            if heading is None:
                if token is None:
                    found = next((m.group(0) for c in cells if (m := TOKEN_RE.search(c))), None)
                    token = found
                if cols["submission_no"] in cells and cols["opinion"] in cells:
                    heading = {k: cells.index(label) for k, label in cols.items() if label in cells}
                continue

            def get(key: str, cells: list[str] = cells, heading: dict[str, int] = heading) -> str:
                i = heading.get(key)
                return cells[i] if i is not None and i < len(cells) else ""

            if not any(cells):
                continue
            rows.append(SheetRow(r_idx, get("submission_no"), get("name"), get("opinion"), get("reason")))
        if heading is not None:
            break
    return SheetReply(token, rows)


def _phrase_re() -> re.Pattern[str]:
    phrases = sheet_texts()["phrases"]
    words = sorted({*phrases["no_objection"], *phrases["objection"]}, key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in words))


def _classify(text: str) -> tuple[str | None, int]:
    """The verdict a piece of text states (the first phrase found) and where the phrase ends."""
    phrases = sheet_texts()["phrases"]
    for m in _phrase_re().finditer(text):
        verdict = "objection" if m.group(0) in phrases["objection"] else "no_objection"
        return verdict, m.end()
    return None, -1


def strip_quoted(text: str) -> str:
    """The new text of a reply: quoted lines (``>``) dropped, everything from a quote marker on cut."""
    markers = [re.compile(p, re.IGNORECASE) for p in sheet_texts()["quote_markers"]]
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if any(m.search(stripped) for m in markers):
            break
        if stripped.startswith(">"):
            continue
        out.append(stripped)
    return "\n".join(out)


@dataclass
class TextReply:
    """Opinions read from free text: per application id, plus the problems found."""

    opinions: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_text(text: str, rows: Sequence[Row], token: str) -> TextReply:
    """Read a reply written as text against the applicants of one request.

    A line naming an applicant (by submission number or name) with 有异议 objects to it, the reason being the
    rest of the line after the phrase; with 无异议 it clears it. A 无异议 line naming nobody clears every
    applicant not named elsewhere ("均无异议", "其余无异议"). An objection naming nobody is a problem.
    """
    problems = notice_texts()["problems"]
    result = TextReply()
    general: list[str] = []
    for line in (ln for ln in strip_quoted(text).splitlines() if ln):
        named = [r for r in rows if r.submission_no in line or r.name in line]
        verdict, end = _classify(line)
        if not named:
            if verdict:
                general.append(verdict)
            continue
        if verdict is None:
            continue
        reason = None
        if verdict == "objection":
            # parsing, not a message: strips a leading 理由/原因 label and punctuation from the objector's words
            reason = re.sub(r"^[\s，,。.：:；;、]*(理由|原因)?[\s，,。.：:；;、是为]*", "", line[end:]).strip() or line
        for r in named:
            result.opinions[r.application_id] = (verdict, reason)
    if "objection" in general:
        result.problems.append(problems["objection_unnamed"].format(token=token))
    if "no_objection" in general:
        for r in rows:
            result.opinions.setdefault(r.application_id, ("no_objection", None))
    if not result.opinions and not result.problems:
        result.problems.append(problems["not_understood"].format(token=token))
    return result


def _docx_text(data: bytes) -> str:
    from docx import Document

    doc = Document(io.BytesIO(data))
    lines = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            lines.append(" ".join(c.text for c in row.cells))
    return "\n".join(lines)


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


# ------------------------------------------------------------------------------------------ ingesting replies


@dataclass
class ReplyOutcome:
    """What ingesting one reply did."""

    item_id: int
    tokens: list[str] = field(default_factory=list)
    opinions: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: bool = False


@dataclass
class _Part:
    """One readable piece of a reply: a sheet, or text with an optional token."""

    kind: str  # sheet | text
    sha256: str
    token: str | None
    sheet: SheetReply | None = None
    text: str = ""


def ingest_reply(session: Session, rt: Any, inbound_item_id: int, *, actor: str = ACTOR) -> ReplyOutcome:
    """Match an archived department reply (an e-mail, or a file from opinions/<dept code>/) and record its opinions.

    Items that are not ``archived`` any more were handled before and are skipped. The item ends ``parsed``
    (possibly with problems recorded for some rows) or ``failed``; staff get one notice listing the problems.
    """
    item = session.get(InboundItem, inbound_item_id)
    if item is None:
        raise OpinionError(f"inbound item {inbound_item_id} does not exist")
    outcome = ReplyOutcome(item.id)
    if item.status != "archived":
        outcome.skipped = True
        return outcome
    texts = notice_texts()["problems"]
    data = rt.blobs.get_bytes(item.sha256)
    try:
        parts = _reply_parts(rt, item, data)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is recorded, the original stays archived
        parts = []
        outcome.problems.append(texts["unreadable"].format(filename=item.filename or item.subject or item.id,
                                                           error=type(exc).__name__))
    if not parts and not outcome.problems:
        outcome.problems.append(texts["unsupported"].format(filename=item.filename or item.subject or item.id))
    for part in parts:
        _apply_part(session, rt, item, part, outcome, actor=actor)
    for problem in outcome.problems:
        record_problem(session, code="opinion_reply", message=problem, inbound_item=item, filename=item.filename,
                       status=None)
    item.status = "parsed" if outcome.opinions or (parts and not outcome.problems) else "failed"
    if outcome.problems:
        staff = notice_texts()["staff"]
        source = item.subject or item.filename or f"#{item.id}"
        _ops_notice(session, rt.season, f"opinions:staff_notice:reply:{item.id}", staff["problems_title"],
                    staff["problems_text"].format(source=source), outcome.problems)
    audit(session, actor=actor, entity_type="inbound_item", entity_id=item.id, action="opinion_reply_ingested",
          details={"tokens": outcome.tokens, "opinions": outcome.opinions, "problems": len(outcome.problems),
                   "sender": item.sender})
    return outcome


def _reply_parts(rt: Any, item: InboundItem, data: bytes) -> list[_Part]:
    from award.storage.blobs import sha256_bytes

    name = (item.filename or "").lower()
    file_token = m.group(0) if (m := TOKEN_RE.search(item.filename or "")) else None
    if item.channel in ("local", "s3") and not name.endswith(".eml"):
        sha = item.sha256
        if name.endswith(".xlsx"):
            sheet = read_sheet(data)
            return [_Part("sheet", sha, sheet.token or file_token, sheet=sheet)]
        if name.endswith(".docx"):
            text = _docx_text(data)
        elif name.endswith(".pdf"):
            text = _pdf_text(data)
        elif name.endswith(".txt"):
            text = data.decode("utf-8", errors="replace")
        else:
            return []
        token = m.group(0) if (m := TOKEN_RE.search(text)) else file_token
        return [_Part("text", sha, token, text=text)] if text.strip() else []

    from award.inbound.mime import parse_message

    msg = parse_message(data)
    subject_token = m.group(0) if (m := TOKEN_RE.search(msg.subject or "")) else None
    parts: list[_Part] = []
    for att in msg.attachments:
        if att.filename.lower().endswith(".xlsx"):
            sheet = read_sheet(att.data)
            rt.blobs.put_bytes(att.data)  # the sheet is kept as its own blob (opinion source)
            parts.append(_Part("sheet", sha256_bytes(att.data), sheet.token or subject_token, sheet=sheet))
    if parts:
        return parts
    token = subject_token or (m.group(0) if (m := TOKEN_RE.search(msg.body_text or "")) else None)
    return [_Part("text", item.sha256, token, text=msg.body_text or "")]


def _apply_part(session: Session, rt: Any, item: InboundItem, part: _Part, outcome: ReplyOutcome, *,
                actor: str) -> None:
    texts = notice_texts()["problems"]
    if part.token is None:
        outcome.problems.append(texts["no_token"])
        return
    request = session.scalar(select(OpinionRequest).where(OpinionRequest.token == part.token))
    if request is None or request.season != rt.season.season_id:
        outcome.problems.append(texts["unknown_token"].format(token=part.token))
        return
    outcome.tokens.append(part.token)
    rows = _rows(session, rt.season, request)
    found: dict[int, tuple[str, str | None]] = {}
    if part.kind == "sheet" and part.sheet is not None:
        choices = {v: k for k, v in sheet_texts()["choices"].items()}
        by_no = {r.submission_no: r for r in rows}
        by_name = {r.name: r for r in rows}
        for srow in part.sheet.rows:
            who = srow.submission_no or srow.name
            target = by_no.get(srow.submission_no) or by_name.get(srow.name)
            if target is None:
                outcome.problems.append(texts["unknown_applicant"].format(token=part.token, who=who))
                continue
            if not srow.opinion:
                if srow.reason:
                    outcome.problems.append(texts["bad_opinion"].format(token=part.token, who=who, value=""))
                continue
            verdict = choices.get(srow.opinion) or _classify(srow.opinion)[0]
            if verdict is None:
                outcome.problems.append(texts["bad_opinion"].format(token=part.token, who=who, value=srow.opinion))
                continue
            found[target.application_id] = (verdict, srow.reason or None)
    else:
        text_reply = read_text(part.text, rows, part.token)
        outcome.problems.extend(text_reply.problems)
        found = text_reply.opinions
    apps = {a.id: a for a in session.scalars(select(Application).where(Application.id.in_(list(found))))}
    for app_id, (verdict, reason) in found.items():
        op = record_opinion(session, rt, request, apps[app_id], verdict, reason, source="reply",
                            source_sha256=part.sha256, received_at=item.received_at, actor=actor)
        if op is not None:
            outcome.opinions.append(op.id)
    _refresh_status(session, request)


def ingest_pending(session: Session, rt: Any, *, limit: int = 500, actor: str = ACTOR) -> list[ReplyOutcome]:
    """Ingest every archived, not yet handled reply of the season (purpose ``opinion``), oldest first."""
    ids = session.scalars(
        select(InboundItem.id).where(InboundItem.season == rt.season.season_id, InboundItem.purpose == "opinion",
                                     InboundItem.status == "archived").order_by(InboundItem.id).limit(limit)
    ).all()
    return [ingest_reply(session, rt, i, actor=actor) for i in ids]


def ingest_storage(session: Session, rt: Any, *, prefix: str = STORAGE_PREFIX, actor: str = ACTOR) -> list[ReplyOutcome]:
    """Archive the files under ``opinions/<dept code>/`` in shared storage (once per key and ETag) and ingest them."""
    from award.inbound.sources import fetch_storage

    fetch_storage(session, rt, prefix, purpose="opinion")
    return ingest_pending(session, rt, actor=actor)


def storage_department(key: str) -> str | None:
    """The department code of a shared-storage key ``opinions/<code>/...``."""
    parts = PurePosixPath(key).parts
    return parts[1] if len(parts) > 2 and parts[0] == STORAGE_PREFIX.strip("/") else None


# ------------------------------------------------------------------------------------------ reminders and defaults


def send_reminders(session: Session, rt: Any, *, today: date | None = None, actor: str = ACTOR) -> list[int]:
    """Queue the reminders due today for requests still missing opinions; returns the outbox ids created."""
    season: Season = rt.season
    today = _today(today)
    created: list[int] = []
    requests = session.scalars(
        select(OpinionRequest).where(OpinionRequest.season == season.season_id, OpinionRequest.status == "open")
        .order_by(OpinionRequest.id)
    ).all()
    for request in requests:
        dept = department(season, request.department)
        if dept is None or today > request.due_date or request.sent_at is None:
            continue
        sent_on = request.sent_at.date()
        due_now = [(n, d) for n, d in reminder_days(season, dept, request.due_date) if sent_on < d <= today]
        if not due_now:
            continue
        n, _day = due_now[-1]
        rows = [r for r in _rows(session, season, request) if request.department not in current_opinions(
            session, r.application_id)]
        if not rows:
            continue
        letter_name, sheet_name = _filenames(season, dept, request)
        sent_audit = session.scalar(select(AuditEvent).where(
            AuditEvent.entity_type == "opinion_request", AuditEvent.entity_id == request.id,
            AuditEvent.action == "opinion_request_sent"))
        ctx = _base_context(season, dept.name) | {
            "token": request.token, "due_date": request.due_date, "sent_on": sent_on, "rows": rows,
            "doc_number": (sent_audit.details or {}).get("doc_number", "") if sent_audit else "",
            "silence_meaning": sheet_texts()["silence_meaning"][dept.default_on_silence],
        }
        row, new = enqueue(session, key=f"opinions:opinion_reminder:{request.id}:{n}", template="opinion_reminder",
                           to=[str(dept.email)], context=ctx,
                           attachments=_attachments(request, letter_name, sheet_name))
        if new:
            created.append(row.id)
            audit(session, actor=actor, entity_type="opinion_request", entity_id=request.id,
                  action="opinion_reminder_sent", details={"workdays_before": n, "missing": len(rows)})
    return created


def apply_defaults(session: Session, rt: Any, *, today: date | None = None, actor: str = ACTOR) -> list[int]:
    """After the due date, record each silent department's default on every application it did not answer.

    Returns the ids of the default opinions created; the request becomes ``defaulted`` (or ``answered``).
    """
    season: Season = rt.season
    today = _today(today)
    created: list[int] = []
    requests = session.scalars(
        select(OpinionRequest).where(OpinionRequest.season == season.season_id, OpinionRequest.status == "open",
                                     OpinionRequest.due_date < today).order_by(OpinionRequest.id)
    ).all()
    for request in requests:
        dept = department(season, request.department)
        verdict = dept.default_on_silence if dept is not None else "follow_up"
        silent = []
        for item in request.items:
            if request.department in current_opinions(session, item.application_id):
                continue
            app = session.get(Application, item.application_id)
            assert app is not None
            op = record_opinion(session, rt, request, app, verdict, None, source="default", source_sha256=None,
                                received_at=now(), actor=actor)
            if op is not None:
                created.append(op.id)
                silent.append(app.id)
        request.status = "defaulted" if silent else "answered"
        meaning = sheet_texts()["silence_meaning"][verdict]  # 无异议 / 需进一步核实…, not the code
        audit(session, actor=actor, entity_type="opinion_request", entity_id=request.id,
              action="opinion_default_applied", reason=_text("reason.default_applied", meaning=meaning) if silent else None,
              details={"default": verdict, "applications": silent, "due_date": request.due_date.isoformat()})
    return created


# ------------------------------------------------------------------------------------------ ops decisions


def _round(session: Session, app_id: int) -> int:
    """The audit id of the application's latest move into DEPT_OBJECTION (one decision per round)."""
    return session.scalar(
        select(AuditEvent.id).where(AuditEvent.entity_type == "application", AuditEvent.entity_id == app_id,
                                    AuditEvent.action == "transition",
                                    AuditEvent.to_state == State.DEPT_OBJECTION.value)
        .order_by(AuditEvent.id.desc()).limit(1)
    ) or 0


def pending_decisions(session: Session, rt: Any, *, ref: str, still_waiting: Callable[[str], bool],
                      limit: int = 1000, actor: str = ACTOR) -> list[dict[str, Any]]:
    """Applications in DEPT_OBJECTION to put to ops in the run ``ref`` (an Airflow run id).

    An application already put to ops in this round by another run that ``still_waiting(ref)`` is skipped (its
    question is still open there); one asked by this same run is returned again (a retried task). Each item is
    ``{"application_id", "round_id", "subject", "body"}``; the request is audited (``dept_decision_requested``).
    """
    season: Season = rt.season
    apps = session.scalars(
        select(Application).where(Application.season == season.season_id,
                                  Application.state == State.DEPT_OBJECTION.value).order_by(Application.id)
    ).all()
    out: list[dict[str, Any]] = []
    for app in apps:
        if len(out) >= limit:
            break
        round_id = _round(session, app.id)
        asked = session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "application", AuditEvent.entity_id == app.id,
                                     AuditEvent.action == "dept_decision_requested", AuditEvent.id > round_id)
            .order_by(AuditEvent.id.desc())
        ).first()
        previous = (asked.details or {}).get("ref") if asked is not None else None
        if previous is not None and previous != ref and still_waiting(previous):
            continue
        if previous != ref:
            audit(session, actor=actor, entity_type="application", entity_id=app.id, action="dept_decision_requested",
                  details={"ref": ref, "round": round_id, "replaces": previous})
        out.append({"application_id": app.id, "round_id": round_id} | decision_prompt(session, season, app))
    return out


def decision_prompt(session: Session, season: Season, app: Application) -> dict[str, str]:
    """Subject and Markdown body of the ops question for one application (from hitl/dept_decision.md.j2)."""
    opinions = []
    for code, op in sorted(current_opinions(session, app.id).items()):
        dept = department(season, code)
        opinions.append({"department_name": dept.name if dept else code, "verdict_label": _verdict_label(op.verdict),
                         "reason": op.reason, "source": op.source, "late": op.late})
    try:
        label = season.category(app.category).label
    except KeyError:
        label = app.category
    blocks = render_blocks(DECISION_TEMPLATE, app=app, opinions=opinions, category_label=label)
    return {"subject": blocks["subject"], "body": blocks["body"]}


def choice_from_label(label: str) -> str:
    """``continue`` / ``remove`` from the option label the ops user chose (hitl/dept_decision.yaml)."""
    for key, text in decision_texts()["options"].items():
        if label in (key, text):
            return str(key)
    raise OpinionError(f"unknown decision option {label!r}")


def apply_decision(session: Session, rt: Any, application_id: int, *, round_id: int, choice: str, reason: str,
                   user: str, responded_at: datetime | None = None, user_id: str | None = None,
                   ref: str | None = None) -> str:
    """Apply an ops decision on a department objection; returns ``cleared``, ``removed`` or ``ignored``.

    ``continue`` -> DEPT_CLEARED, ``remove`` -> REMOVED, audited with ``user`` as actor, the reason and when
    they answered; the applicant is e-mailed the outcome (staff are told when there is no address). A decision
    for an application no longer in DEPT_OBJECTION, or for an earlier round, is not applied (audited, staff told).
    """
    season: Season = rt.season
    if choice not in CHOICES:
        raise OpinionError(f"decision: unknown choice {choice!r} (expected continue or remove)")
    if not reason or not reason.strip():
        raise OpinionError("decision: the reason is required")
    if not user:
        raise OpinionError("decision: the responding user is required")
    app = session.get(Application, application_id)
    if app is None:
        raise OpinionError(f"decision: application {application_id} does not exist")
    answered = (responded_at or now()).astimezone(now().tzinfo).isoformat()
    details = {"decision": choice, "responded_at": answered, "user_id": user_id, "ref": ref, "round": round_id,
               "via": "airflow-hitl"}
    staff = notice_texts()["staff"]
    option = decision_texts()["options"][choice]
    if app.state != State.DEPT_OBJECTION.value or _round(session, app.id) != round_id:
        audit(session, actor=user, entity_type="application", entity_id=app.id, action="dept_decision_ignored",
              reason=reason, details=details | {"state": app.state})
        _ops_notice(session, season, f"opinions:staff_notice:decision_ignored:{app.id}:{round_id}:{choice}",
                    staff["decision_ignored_title"], staff["decision_ignored_text"].format(
                        name=app.applicant.name, submission_no=app.submission_no, choice=option, user=user,
                        state=LABELS_ZH[State(app.state)]))
        return "ignored"
    target = State.DEPT_CLEARED if choice == "continue" else State.REMOVED
    transition(session, app, target, actor=user, reason=reason.strip(), details=details)
    template = "dept_outcome_continue" if choice == "continue" else "dept_outcome_removed"
    applicant: Applicant = app.applicant
    if applicant.email:
        ctx = _base_context(season, applicant.contact_name or applicant.name) | {
            "submission_no": app.submission_no, "applicant_name": applicant.name, "reason": reason.strip()}
        enqueue(session, key=f"opinions:{template}:{app.id}:{round_id}", template=template, to=[applicant.email],
                context=ctx, application_id=app.id)
    else:
        _ops_notice(session, season, f"opinions:staff_notice:no_email:{app.id}:{round_id}", staff["no_email_title"],
                    staff["no_email_text"].format(name=applicant.name, submission_no=app.submission_no, choice=option))
    return "cleared" if choice == "continue" else "removed"


def mail_preview(template: str, **context: Any) -> tuple[str, str]:
    """Render a mail template of this stage (subject, body) -- for the CLI and tests."""
    return render_mail(f"mail/{template}.txt.j2", **context)


__all__ = [
    "ACTOR", "TOKEN_RE", "OpinionError", "ReplyOutcome", "Row", "SolicitResult", "apply_decision", "apply_defaults",
    "build_letter", "build_sheet", "calendar_for", "choice_from_label", "current_opinions", "decision_prompt",
    "decision_texts", "departments_for", "due_date_for", "ingest_pending", "ingest_reply", "ingest_storage",
    "make_token", "pending_decisions", "read_sheet", "read_text", "record_opinion", "reminder_days", "render_blocks",
    "send_reminders", "settle", "solicit", "storage_department",
]

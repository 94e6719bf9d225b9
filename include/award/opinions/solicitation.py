"""Solicitation: every COMPLETE application of the season not yet asked goes, in one letter per department, to
each department whose ``categories`` include its category.

Each letter is an ``OpinionRequest`` with the token ``YJ-<season year>-<department code>-<6 hex>``, due on the
``reply_workdays``-th working day after the send day (``award.opinions.departments``); the applications move
COMPLETE -> DEPT_REVIEW. An application no department is asked about moves straight on to DEPT_CLEARED.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.clock import now
from award.config import Department
from award.enums import OpinionRequestStatus
from award.mail.outbox import enqueue
from award.opinions.clearing import ACTOR, asked_departments
from award.opinions.departments import departments_for, due_date_for
from award.opinions.letters import attachments, build_letter, build_sheet, filenames, make_token, row_of
from award.opinions.texts import base_context, sheet_texts
from award.runtime import Runtime
from award.states import State, audit, transition
from award.store.models import Application, OpinionRequest, OpinionRequestItem
from award.templating import message_group

log = logging.getLogger(__name__)

DOCUMENTS_PREFIX = "documents"  # the season's printable documents in shared storage

_text = message_group("opinions", "opinions")


@dataclass
class SolicitResult:
    """What one solicitation run did."""

    requests: list[int] = field(default_factory=list)
    applications: list[int] = field(default_factory=list)
    cleared_without_departments: list[int] = field(default_factory=list)


def solicit(session: Session, rt: Runtime, *, today: date | None = None, actor: str = ACTOR) -> SolicitResult:
    """Ask every department about the season's COMPLETE applications not yet asked (one letter per department).

    Creates the requests, archives letter and sheet in the blob store (with a printable copy under
    ``documents/<season>/征求意见函/<department>/`` in shared storage), queues the e-mails (outbox) and moves the
    applications COMPLETE -> DEPT_REVIEW, all in the caller's transaction.
    """
    season = rt.season
    today = today or now().date()
    apps = session.scalars(
        select(Application).where(Application.season == season.season_id, Application.state == State.COMPLETE.value)
        .order_by(Application.id)
    ).all()
    result = SolicitResult()
    if not apps:
        return result
    asked = {a.id: asked_departments(session, a.id) for a in apps}
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


def _create_request(session: Session, rt: Runtime, dept: Department, batch: Sequence[Application], *, today: date,
                    actor: str) -> OpinionRequest:
    season = rt.season
    ids = [a.id for a in batch]
    salt = 0
    token = make_token(season, dept, ids)
    while session.scalar(select(OpinionRequest.id).where(OpinionRequest.token == token)) is not None:
        salt += 1
        token = make_token(season, dept, ids, salt)
    request = OpinionRequest(season=season.season_id, department=dept.code, token=token, sent_at=now(),
                             due_date=due_date_for(season, dept, today), status=OpinionRequestStatus.OPEN,
                             created_at=now())
    session.add(request)
    session.flush()
    for a in batch:
        session.add(OpinionRequestItem(request_id=request.id, application_id=a.id))
    session.flush()
    session.refresh(request)
    count = len(session.scalars(select(OpinionRequest.id).where(OpinionRequest.season == season.season_id)).all())
    doc_number = _text("doc_number", prefix=season.recommending_unit.doc_prefix, count=count)
    rows = [row_of(season, a) for a in batch]
    letter_name, sheet_name = filenames(season, request)
    letter = build_letter(season, dept, request, rows, doc_number=doc_number, sheet_filename=sheet_name, today=today)
    sheet = build_sheet(season, dept, request, rows)
    request.letter_sha256 = rt.blobs.put_bytes(letter).sha256
    request.sheet_sha256 = rt.blobs.put_bytes(sheet).sha256
    folder = f"{DOCUMENTS_PREFIX}/{season.season_id}/{_text('filenames.folder')}/{dept.name}"
    rt.shared.write(f"{folder}/{letter_name}", letter)  # a copy staff can print; the blob stays the record
    rt.shared.write(f"{folder}/{sheet_name}", sheet)
    ctx = base_context(season, dept.name) | {
        "token": token, "doc_number": doc_number, "due_date": request.due_date, "rows": rows,
        "silence_meaning": sheet_texts()["silence_meaning"][dept.default_on_silence],
    }
    enqueue(session, key=f"opinions:opinion_request:{request.id}:{token}", template="opinion_request",
            to=[str(dept.email)], context=ctx, attachments=attachments(request, letter_name, sheet_name))
    audit(session, actor=actor, entity_type="opinion_request", entity_id=request.id, action="opinion_request_sent",
          reason=_text("reason.request_sent", department=dept.name), details={
              "token": token, "department": dept.code, "doc_number": doc_number, "due_date": request.due_date.isoformat(),
              "applications": ids, "letter_sha256": request.letter_sha256, "sheet_sha256": request.sheet_sha256})
    log.info("opinion request %s to %s: %d applications, due %s", token, dept.code, len(ids), request.due_date)
    return request

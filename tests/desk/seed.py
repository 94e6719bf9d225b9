"""A season on the desk: applications in many states with files, refused files, checks, opinions, objections,
publicity and mails, written through the state machine and the blob store (used by the desk tests, the browser
test and the desk bench). Every place name comes from the season."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from award.clock import TZ
from award.config import Season
from award.identity import make_credit_code, make_id_number
from award.states import State, audit, create_application_state, transition
from award.storage.blobs import BlobStore
from award.store.models import (
    Applicant,
    Application,
    CheckResult,
    CheckRun,
    InboundItem,
    Material,
    Objection,
    Opinion,
    OpinionRequest,
    OpinionRequestItem,
    OutboxEmail,
    Problem,
    PublicityEntry,
    PublicityWindow,
)

T0 = datetime(2023, 5, 10, 9, 0, tzinfo=TZ)
# Paths through the state machine; an application stops at the i-th state of its path.
PATH = [State.INCOMPLETE, State.COMPLETE, State.DEPT_REVIEW, State.DEPT_OBJECTION]
PUBLICITY_PATH = [State.COMPLETE, State.DEPT_REVIEW, State.DEPT_CLEARED, State.IN_PUBLICITY, State.OBJECTION_PENDING]
CATEGORIES = ["organization", "education", "sme", "team", "individual"]


@dataclass
class Seeded:
    """What the seed wrote: submission numbers by role, and the personal data that must stay masked."""

    numbers: list[str] = field(default_factory=list)
    incomplete: str = ""
    person: str = ""
    objection: str = ""
    dept_objection: str = ""
    id_numbers: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    window_id: int = 0
    failed_mail_id: int = 0
    unmatched_objection_id: int = 0


def _fields(category: str, name: str, key: str, phone: str, city: str) -> dict[str, Any]:
    if category == "individual":
        return {"name": name, "id_number": key, "phone": phone, "city": city}
    return {"org_name": name, "credit_code": key, "contact": "李四", "contact_phone": phone, "city": city}


def seed_season(session: Any, season: Season, blobs: BlobStore, count: int = 12, seed: int = 14) -> Seeded:
    """``count`` applications of the season; the first ones play the roles of ``Seeded``."""
    rng = random.Random(seed)
    cities = season.province.cities
    out = Seeded()
    window = PublicityWindow(season=season.season_id, purpose="provincial", opened_at=T0, start_date=T0.date(),
                             end_date=date(2023, 5, 17), end_at=datetime(2023, 5, 17, 23, 59, 59, tzinfo=TZ),
                             workdays=5, status="open")
    session.add(window)
    request = OpinionRequest(season=season.season_id, department=season.departments[0].code if season.departments
                             else "dept", token="tok-desk-1", sent_at=T0, due_date=date(2023, 5, 17))
    session.add(request)
    session.flush()
    out.window_id = window.id
    for n in range(1, count + 1):
        category = CATEGORIES[n % len(CATEGORIES)] if n > 2 else ("organization", "individual")[n - 1]
        person = category == "individual"
        city = cities[n % len(cities)]
        key = make_id_number(rng) if person else make_credit_code(rng)
        phone = f"139{rng.randint(10_000_000, 99_999_999)}"
        name = f"{city}示例{'人员' if person else '企业'}{n:04d}" + ("" if person else "有限公司")
        applicant = Applicant(kind="person" if person else "organization", key=key, name=name, city=city,
                              email=f"app{n}@example.com", phone=phone, contact_name=None if person else "李四")
        session.add(applicant)
        session.flush()
        at = T0 + timedelta(minutes=n)
        no = f"{season.submission_prefix}-{season.year}-{n:04d}"
        channel = "city" if n % 3 == 0 else "mail"
        app = Application(season=season.season_id, applicant_id=applicant.id, category=category, submission_no=no,
                          channel=channel, channels=[channel], city=city,
                          fields=_fields(category, name, key, phone, city), received_at=at, changed_at=at)
        app.applicant = applicant
        create_application_state(session, app, State.RECEIVED, actor="intake", reason="收到申报材料")
        out.numbers.append(no)
        if person:
            out.id_numbers.append(key)
        out.phones.append(phone)
        # the raw inbound item and its files
        raw = f"From: app{n}@example.com\nSubject: {no}\n\n{name}".encode()
        ref = blobs.put_bytes(raw)
        item = InboundItem(season=season.season_id, channel="maildir" if channel == "mail" else "local",
                           source_key=f"desk:{n}", sha256=ref.sha256, size=ref.size, storage_uri=ref.uri,
                           filename=None if channel == "mail" else f"{name}.zip", sender=f"app{n}@example.com",
                           subject=no, status="parsed", received_at=at, application_id=app.id)
        session.add(item)
        session.flush()
        for kind, filename in (("form_docx", f"{name}申报表.docx"), ("evidence", "证实性材料.pdf")):
            data = f"{kind}:{no}:{name}".encode()
            mref = blobs.put_bytes(data)
            session.add(Material(application_id=app.id, kind=kind, filename=filename, sha256=mref.sha256,
                                 size=mref.size, content_type=None, source_channel=channel, inbound_item_id=item.id,
                                 storage_uri=mref.uri, received_at=at))
        path = PUBLICITY_PATH if n % 4 == 3 else PATH
        stop = (n % len(path)) if n > 4 else {1: 0, 2: 1, 3: 4, 4: 3}[n]
        if n == 1:  # the incomplete one: two checks, a refused file, a correction due date, a failed mail
            session.add(Problem(inbound_item_id=item.id, application_id=app.id, filename="宏.docm",
                                code="active_content", message="附件“宏.docm”含有宏，不予接收。", created_at=at))
        for target in path[:stop + 1]:
            if target in (State.INCOMPLETE, State.COMPLETE):
                _check(session, app, "incomplete" if target == State.INCOMPLETE else "complete", at)
            if target == State.IN_PUBLICITY:
                session.add(PublicityEntry(window_id=window.id, application_id=app.id))
            if target == State.OBJECTION_PENDING:
                obj = Objection(window_id=window.id, application_id=app.id, objector_name="王五",
                                objector_email="objector@example.com", text="对申报材料真实性有异议",
                                received_at=at + timedelta(days=2), status="open")
                session.add(obj)
                session.flush()
                audit(session, actor="publicity", entity_type="objection", entity_id=obj.id,
                      action="objection_received", reason="收到异议")
            if target == State.DEPT_REVIEW:
                session.add(OpinionRequestItem(request_id=request.id, application_id=app.id))
            if target == State.DEPT_OBJECTION:
                session.add(Opinion(request_id=request.id, application_id=app.id, department=request.department,
                                    verdict="objection", reason="存在未结案件", source="reply", received_at=at))
            transition(session, app, target, actor="completeness" if target in (State.INCOMPLETE, State.COMPLETE)
                       else "pipeline", reason="测试流转")
        if app.state == State.INCOMPLETE.value:
            app.correction_due = date(2023, 5, 17)
        status = "failed" if n == 1 else ("pending" if n == 2 else "sent")
        mail = OutboxEmail(idempotency_key=f"desk:ack:{n}", template="ack", application_id=app.id,
                           to_addrs=[applicant.email], subject=f"【{season.award.name}】已收到申报材料 {no}",
                           body_text="…", status=status, attempts=5 if status == "failed" else 1,
                           last_error="SMTP 550" if status == "failed" else None, next_attempt_at=at,
                           created_at=at, sent_at=at if status == "sent" else None)
        session.add(mail)
        session.flush()
        if n == 1:
            out.incomplete, out.failed_mail_id = no, mail.id
        if person and not out.person:
            out.person = no
        if app.state == State.OBJECTION_PENDING.value and not out.objection:
            out.objection = no
        if app.state == State.DEPT_OBJECTION.value and not out.dept_objection:
            out.dept_objection = no
    unmatched = Objection(window_id=window.id, application_id=None, objector_name="匿名",
                          text="对某单位有异议（未写明编号）", received_at=T0 + timedelta(days=3), status="unmatched")
    session.add(unmatched)
    session.flush()
    out.unmatched_objection_id = unmatched.id
    return out


def _check(session: Any, app: Application, outcome: str, at: datetime) -> None:
    run = CheckRun(application_id=app.id, checked_at=at, outcome=outcome, input_hash="0" * 64,
                   problems_hash="0" * 64)
    session.add(run)
    session.flush()
    session.add(CheckResult(check_run_id=run.id, rule_id="materials.required", severity="blocking",
                            passed=outcome == "complete",
                            message=None if outcome == "complete" else "缺少内部公示证明"))

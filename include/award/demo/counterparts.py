"""The demo season's counterparts (``award demo reply``), answering through the real channels.

* Departments (征求意见): each department's reply follows ``counterparts.yaml``: 省生态环境厅 e-mails 均无异议 to the
  office mailbox; the tax bureau fills in the reply sheet the office sent and puts it under ``opinions/tax/`` in
  shared storage, with one objection; 省应急管理厅 stays silent, so its default applies after the due date.
* The third-party agency fills in the score sheet the office generated (``score_sheets/``) and drops it under
  ``scores/``, where the recommendation DAG imports scores.
* One publicity objection arrives by e-mail in the objections mailbox.

Everything is deterministic (the same demo gives the same replies) and safe to call again: a counterpart that has
answered does not answer twice.
"""

from __future__ import annotations

import hashlib
import io
import mailbox
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from award.clock import now
from award.enums import WindowPurpose, WindowStatus
from award.publicity.notice import notice_row
from award.recommendation.score_sheet import score_sheet_key
from award.recommendation.scores import SCORE_PREFIX
from award.seasonfile import yaml_load
from award.store.models import Application, OpinionRequest, PublicityEntry, PublicityWindow

TEXTS_FILE = Path(__file__).resolve().parent / "counterparts.yaml"
FIRST_ROW = 7  # the reply sheet's first applicant row (row 6 is the heading)


def texts() -> dict[str, Any]:
    """The counterparts' catalogue."""
    return dict(yaml_load(TEXTS_FILE.read_bytes()))


def _date_zh() -> str:
    today = now().date()
    return f"{today.year}年{today.month}月{today.day}日"


def _deliver(maildir: Path, folder: str, msg: EmailMessage) -> None:
    box = mailbox.Maildir(maildir / folder, create=True)
    box.add(bytes(msg))


def _mail(sender: str, sender_name: str, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now())
    msg["Message-ID"] = make_msgid(domain=sender.partition("@")[2] or "example")
    msg.set_content(body, charset="utf-8")
    return msg


def _marker(rt: Any, name: str) -> str:
    return f"demo/replied/{rt.season.season_id}/{name}"


def _done(rt: Any, name: str) -> bool:
    try:
        rt.shared.read(_marker(rt, name))
    except Exception:  # noqa: BLE001 - no marker (each storage backend has its own "no such key" error)
        return False
    return True


def _mark(rt: Any, name: str) -> None:
    rt.shared.write(_marker(rt, name), now().isoformat().encode())


def fill_reply_sheet(sheet: bytes, objection_row: int | None, text: dict[str, Any]) -> bytes:
    """The department's reply sheet filled in: 无异议 everywhere, 有异议 with a reason on ``objection_row``."""

    wb = load_workbook(io.BytesIO(sheet))
    ws = wb.active
    for r in range(FIRST_ROW, ws.max_row + 1):
        if not ws.cell(row=r, column=1).value:
            continue
        objecting = r == objection_row
        ws.cell(row=r, column=6).value = text["objection"] if objecting else text["no_objection"]
        ws.cell(row=r, column=7).value = text["reason"] if objecting else None
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def department_replies(session: Session, rt: Any, maildir: Path) -> list[str]:
    """Every asked department answers as its catalogue entry says (once); returns what was sent."""

    catalogue = texts()["departments"]
    season = rt.season
    names = {d.code: d for d in season.departments}
    done: list[str] = []
    requests = session.scalars(select(OpinionRequest).where(OpinionRequest.season == season.season_id)
                               .order_by(OpinionRequest.id)).all()
    for request in requests:
        entry = catalogue.get(request.department) or {"channel": "silent"}
        dept = names.get(request.department)
        key = f"opinion-{request.token}"
        if dept is None or entry["channel"] == "silent" or _done(rt, key):
            continue
        if entry["channel"] == "mail":
            body = entry["body"].format(office=season.recommending_unit.name, department=dept.name, date=_date_zh())
            _deliver(maildir, "office", _mail(str(dept.email), dept.name, str(season.recommending_unit.email),
                                              entry["subject"].format(token=request.token), body))
            done.append(texts()["sent"]["mail"].format(department=dept.name))
        elif entry["channel"] == "storage" and request.sheet_sha256:
            sheet = rt.blobs.get_bytes(request.sheet_sha256)
            filled = fill_reply_sheet(sheet, FIRST_ROW, entry)
            key_name = f"opinions/{request.department}/" + entry["filename"].format(token=request.token)
            rt.shared.write(key_name, filled)
            done.append(texts()["sent"]["storage"].format(department=dept.name, key=key_name))
        _mark(rt, key)
    return done


def fill_scores(sheet: bytes, text: dict[str, Any]) -> tuple[bytes, int]:
    """The score sheet with every score filled in (the agency touches nothing else); returns (bytes, rows)."""

    wb = load_workbook(io.BytesIO(sheet))
    ws = wb.worksheets[0]
    score_col = ws.max_column
    rows = 0
    for r in range(2, ws.max_row + 1):
        if not ws.cell(row=r, column=1).value:
            continue
        ws.cell(row=r, column=score_col).value = round(float(text["top"]) - rows * float(text["step"]), 1)
        rows += 1
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue(), rows


def agency_scores(rt: Any) -> str | None:
    """The agency returns the filled score sheet under ``scores/`` (once per sheet); returns what was sent, in
    words, or None (no sheet yet, or answered already)."""

    text = texts()["scores"]
    try:
        sheet = rt.shared.read(score_sheet_key(rt.season))
    except Exception:  # noqa: BLE001 - not written yet (each storage backend has its own "no such key" error)
        return None
    filled, rows = fill_scores(sheet, text)
    if not rows:
        return None

    key = f"scores-{hashlib.sha256(sheet).hexdigest()[:12]}"
    if _done(rt, key):
        return None
    target: str = SCORE_PREFIX.rstrip("/") + "/" + str(text["filename"]).format(season=rt.season.season_id)
    rt.shared.write(target, filled)
    _mark(rt, key)
    return str(texts()["sent"]["scores"]).format(key=target)


def publicity_objection(session: Session, rt: Any, maildir: Path) -> str | None:
    """One objection by e-mail against the last applicant of the open provincial window (once); returns what was
    sent, in words, or None."""

    if _done(rt, "objection"):
        return None
    window = session.scalars(select(PublicityWindow).where(
        PublicityWindow.season == rt.season.season_id, PublicityWindow.purpose == WindowPurpose.PROVINCIAL,
        PublicityWindow.status == WindowStatus.OPEN).order_by(PublicityWindow.id.desc())).first()
    if window is None:
        return None
    entry = session.scalars(select(PublicityEntry).where(PublicityEntry.window_id == window.id)
                            .order_by(PublicityEntry.application_id.desc())).first()
    if entry is None:
        return None
    app = session.get(Application, entry.application_id)
    assert app is not None
    text, text_sent = texts()["objection"], texts()["sent"]
    name = notice_row(rt.season, app).name
    to = str(rt.season.publicity.objection_email or rt.season.recommending_unit.email)
    _deliver(maildir, "objections", _mail(
        text["from_email"], text["from_name"], to, text["subject"].format(name=name),
        text["body"].format(name=name, submission_no=app.submission_no, date=_date_zh())))
    _mark(rt, "objection")
    return str(text_sent["objection"]).format(name=name, submission_no=app.submission_no)

"""Publicity windows: working-day arithmetic, the notice without personal data, publishing, close and decisions."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from award.calendar import UnknownYearError
from award.clock import TZ
from award.publicity.decisions import close_window, resolve_objection
from award.publicity.errors import PublicityError
from award.publicity.windows import compute_window, eligible_application_ids, open_window
from award.runtime import Runtime
from award.states import ObjectionOpen, State, transition
from award.storage.shared import S3Storage
from award.store import session_scope
from award.store.models import Application, AuditEvent, Objection, OutboxEmail, PublicityWindow

ROOT = Path(__file__).resolve().parents[2]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


@pytest.mark.parametrize(
    ("opened", "start", "end"),
    [
        # May Day 2023: 4/29-5/3 off, Saturday 5/6 is an adjusted working day
        ("2023-04-27T09:00", date(2023, 4, 27), date(2023, 5, 6)),
        # National Day 2023: 9/29-10/6 off, 10/7 (Sat) and 10/8 (Sun) adjusted working days
        ("2023-09-27T10:00", date(2023, 9, 27), date(2023, 10, 9)),
        # Friday afternoon after the 12:00 cut-off: counting starts on Monday
        ("2023-06-02T15:30", date(2023, 6, 5), date(2023, 6, 9)),
        # opened on the adjusted Sunday 2023-04-23 (a working day) before the cut-off: it counts
        ("2023-04-23T09:00", date(2023, 4, 23), date(2023, 4, 27)),
    ],
)
def test_window_on_working_days(season, opened: str, start: date, end: date) -> None:
    win = compute_window(season, at(opened))
    assert (win.start, win.end, len(win.workdays)) == (start, end, season.publicity.min_workdays)
    assert win.end_at == datetime(end.year, end.month, end.day, 23, 59, 59, 999999, tzinfo=TZ)


def test_open_in_an_unknown_year_is_a_clear_error(rt: Runtime, apps) -> None:
    with pytest.raises(UnknownYearError, match="2031"), session_scope(rt.db_url) as session:
        open_window(session, rt, [a.id for a in apps], "provincial", opened_at=at("2031-03-03T09:00"))
    with session_scope(rt.db_url) as session:
        assert session.scalars(select(PublicityWindow)).all() == []


def test_calendar_is_one_implementation() -> None:
    """Correction deadlines, internal-publicity proofs and windows all use award.calendar (never the library)."""
    users = [p.relative_to(ROOT).as_posix() for p in (ROOT / "include" / "award").rglob("*.py")
             if re.search(r"^\s*(import chinese_calendar|from chinese_calendar)", p.read_text("utf-8"), re.M)]
    assert users == ["include/award/calendar.py"]


ID_RE = re.compile(r"\d{17}[\dXx]")
MOBILE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def _docx_text(data: bytes) -> str:
    from docx import Document

    doc = Document(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    return "\n".join(parts)


def test_open_window_publishes_notice_without_personal_data(fake_now, rt: Runtime, apps, monkeypatch) -> None:
    fake_now("2023-04-27T09:00:00")
    with session_scope(rt.db_url) as session:
        ids = eligible_application_ids(session, rt.season, "provincial")
        window_id = open_window(session, rt, ids, "provincial")
        assert open_window(session, rt, ids, "provincial") == window_id  # a retry returns the same window
    with session_scope(rt.db_url) as session:
        window = session.get(PublicityWindow, window_id)
        assert (window.start_date, window.end_date, window.status) == (date(2023, 4, 27), date(2023, 5, 6), "open")
        states = {a.state for a in session.scalars(select(Application))}
        assert states == {State.IN_PUBLICITY.value}
        docx = rt.blobs.get_bytes(window.notice_docx_sha256)
        html = rt.blobs.get_bytes(window.notice_html_sha256).decode()
        mails = session.scalars(select(OutboxEmail).where(OutboxEmail.template == "publicity_started")).all()
    published = rt.shared.list(f"publicity/cqa-5-2023/{window_id}/")
    assert sorted(o.key.rsplit(".", 1)[1] for o in published) == ["docx", "html"]
    assert rt.shared.read(next(o.key for o in published if o.key.endswith(".docx"))) == docx
    text = _docx_text(docx)
    for shown in (text, html):
        for name in ("杭州示例精密机械有限公司", "纺丝车间甲班", "张伟明", "湖州示例建材有限公司", "湖州市", "个人"):
            assert name in shown
        assert "2023年4月27日至2023年5月6日" in shown
        assert rt.season.publicity.objection_email in shown and rt.season.publicity.contact_phone in shown
        for made in apps:  # no applicant's ID number, credit code, phone or e-mail
            assert made.key not in shown and made.phone not in shown and made.email not in shown
        assert not ID_RE.search(shown) and not MOBILE_RE.search(shown)
        assert {m.group(0) for m in EMAIL_RE.finditer(shown)} == {rt.season.publicity.objection_email}
    assert sorted(m.to_addrs[0] for m in mails) == sorted(a.email for a in apps)
    assert "2023年5月6日" in mails[0].body_text


def test_publish_to_s3(fake_now, make_rt, db_url: str, season, tmp_path, s3_bucket, monkeypatch) -> None:
    from award.storage.blobs import S3BlobStore
    from tests.publicity.conftest import make_applications

    client, bucket = s3_bucket
    rt = make_rt(db_url, blobs=S3BlobStore(client, bucket, "blobs/"),
                 shared=S3Storage(client, bucket, "shared/"))
    made = make_applications(db_url)
    fake_now("2023-06-02T15:30:00")
    with session_scope(db_url) as session:
        window_id = open_window(session, rt, [m.id for m in made], "provincial")
        window = session.get(PublicityWindow, window_id)
        sha = window.notice_docx_sha256
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="shared/publicity/")["Contents"]]
    assert len(keys) == 2 and all(k.startswith(f"shared/publicity/cqa-5-2023/{window_id}/") for k in keys)
    assert rt.blobs.exists(sha)


def test_open_refuses_wrong_state_and_unknown_purpose(rt: Runtime, apps) -> None:
    with session_scope(rt.db_url) as session:
        with pytest.raises(PublicityError, match="purpose"):
            open_window(session, rt, [apps[0].id], "national", opened_at=at("2023-05-08T09:00"))
        with pytest.raises(PublicityError, match="GS-2023-0001.*candidate"):
            open_window(session, rt, [apps[0].id], "candidate", opened_at=at("2023-05-08T09:00"))


def _open(rt: Runtime, apps, monkeypatch) -> int:
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-04-27T09:00:00")
    with session_scope(rt.db_url) as session:
        return open_window(session, rt, [a.id for a in apps], "provincial")


def _object(rt: Runtime, app_id: int, window_id: int, when: str = "2023-05-04T10:00") -> int:
    with session_scope(rt.db_url) as session:
        obj = Objection(window_id=window_id, application_id=app_id, objector_name="赵六",
                        objector_email="zhao@example.org", text="异议", received_at=at(when), status="open")
        session.add(obj)
        session.flush()
        return obj.id


def _state(rt: Runtime, app_id: int) -> str:
    with session_scope(rt.db_url) as session:
        return session.get(Application, app_id).state


def test_close_before_end_is_refused(fake_now, rt: Runtime, apps, monkeypatch) -> None:
    window_id = _open(rt, apps, monkeypatch)
    fake_now("2023-05-06T20:00:00")  # the last working day is not over
    with pytest.raises(PublicityError, match="runs until 2023-05-06T23:59:59"), session_scope(rt.db_url) as s:
        close_window(s, rt, window_id)


def test_close_without_objections_everyone_passes(fake_now, rt: Runtime, apps, monkeypatch) -> None:
    window_id = _open(rt, apps, monkeypatch)
    fake_now("2023-05-07T00:00:01")
    with session_scope(rt.db_url) as session:
        result = close_window(session, rt, window_id)
        again = close_window(session, rt, window_id)
    assert sorted(result.passed) == sorted(a.id for a in apps) and not result.pending
    assert again.passed == result.passed
    assert {_state(rt, a.id) for a in apps} == {State.PUBLICITY_PASSED.value}


def test_nobody_passes_while_an_objection_is_open(fake_now, rt: Runtime, apps, monkeypatch) -> None:
    window_id = _open(rt, apps, monkeypatch)
    target, other = apps[0], apps[1]
    first = _object(rt, target.id, window_id)
    second = _object(rt, target.id, window_id, "2023-05-05T16:00")
    fake_now("2023-05-08T09:00:00")
    with session_scope(rt.db_url) as session:
        result = close_window(session, rt, window_id)
    assert result.pending == [target.id] and sorted(result.objection_ids) == [first, second]
    assert _state(rt, target.id) == State.OBJECTION_PENDING.value
    assert _state(rt, other.id) == State.PUBLICITY_PASSED.value
    # the guard in the state machine: no direct move on while an objection is open
    with pytest.raises(ObjectionOpen), session_scope(rt.db_url) as session:
        transition(session, session.get(Application, target.id), State.PUBLICITY_PASSED, actor="t", reason="r")
    # one objection dismissed, the other still open: still pending
    with session_scope(rt.db_url) as session:
        resolve_objection(session, rt, first, "dismissed", "经核实，反映问题不属实", "李娜")
    assert _state(rt, target.id) == State.OBJECTION_PENDING.value
    with session_scope(rt.db_url) as session:
        resolve_objection(session, rt, second, "dismissed", "经核实，反映问题不属实", "李娜")
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "objection")).all()
        outcome_mails = session.scalars(select(OutboxEmail).where(
            OutboxEmail.template.like("objection_outcome_%"))).all()
    assert _state(rt, target.id) == State.PUBLICITY_PASSED.value
    decided = [e for e in events if e.action == "objection_dismissed"]
    assert [(e.actor, e.reason) for e in decided] == [("李娜", "经核实，反映问题不属实")] * 2
    assert all(e.details["decided_at"].startswith("2023-05-08T09:00") for e in decided)
    assert sorted(m.template for m in outcome_mails) == ["objection_outcome_applicant"] * 2 + [
        "objection_outcome_objector"] * 2


def test_upheld_objection_removes_and_is_final(fake_now, rt: Runtime, apps, monkeypatch) -> None:
    window_id = _open(rt, apps, monkeypatch)
    obj = _object(rt, apps[4].id, window_id)
    fake_now("2023-05-08T09:00:00")
    with session_scope(rt.db_url) as session:
        close_window(session, rt, window_id)
        resolve_objection(session, rt, obj, "upheld", "存在违法违纪情况", "王明")
        resolve_objection(session, rt, obj, "upheld", "存在违法违纪情况", "王明")  # same decision again: no-op
        with pytest.raises(PublicityError, match="already decided"):
            resolve_objection(session, rt, obj, "dismissed", "改判", "王明")
        with pytest.raises(PublicityError, match="reason"):
            resolve_objection(session, rt, obj, "dismissed", " ", "王明")
    assert _state(rt, apps[4].id) == State.REMOVED.value
    with session_scope(rt.db_url) as session:
        row = session.get(Objection, obj)
        assert (row.status, row.decided_by, row.resolution) == ("upheld", "王明", "存在违法违纪情况")
        assert row.decided_at == at("2023-05-08T09:00")


def test_late_objection_is_recorded_but_does_not_block(fake_now, rt: Runtime, apps, monkeypatch) -> None:
    window_id = _open(rt, apps, monkeypatch)
    with session_scope(rt.db_url) as session:
        obj = Objection(window_id=window_id, application_id=apps[0].id, text="逾期", late=True, status="open",
                        received_at=at("2023-05-07T08:00"))
        session.add(obj)
    fake_now("2023-05-08T09:00:00")
    with session_scope(rt.db_url) as session:
        result = close_window(session, rt, window_id)
    assert apps[0].id in result.passed and _state(rt, apps[0].id) == State.PUBLICITY_PASSED.value


def test_personal_data_typed_into_public_fields_is_masked(fake_now, rt: Runtime, apps, monkeypatch) -> None:
    """An applicant put a phone, an ID number and an e-mail into fields that the notice shows."""
    fake_now("2023-04-27T09:00:00")
    person = next(a for a in apps if a.name == "张伟明")
    team = next(a for a in apps if a.name == "嘉兴示例化纤有限公司")
    with session_scope(rt.db_url) as session:
        app = session.get(Application, person.id)
        app.fields = {**app.fields, "employer": f"湖州示例建材有限公司（身份证{person.key}）"}
        team_app = session.get(Application, team.id)
        team_app.fields = {**team_app.fields, "team_name": "纺丝车间甲班 电话13912345678 邮箱 ban@qq.com"}
    with session_scope(rt.db_url) as session:
        window_id = open_window(session, rt, eligible_application_ids(session, rt.season, "provincial"), "provincial")
    with session_scope(rt.db_url) as session:
        window = session.get(PublicityWindow, window_id)
        docx = _docx_text(rt.blobs.get_bytes(window.notice_docx_sha256))
        html = rt.blobs.get_bytes(window.notice_html_sha256).decode()
    for shown in (docx, html):
        assert person.key not in shown and "13912345678" not in shown and "ban@qq.com" not in shown
        assert f"{person.key[:3]}***********{person.key[-4:]}" in shown and "139****5678" in shown
        assert "b***@qq.com" in shown and "湖州示例建材有限公司" in shown
        assert rt.season.publicity.contact_phone in shown  # the office's own published contact stays

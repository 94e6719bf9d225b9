"""Opinions on both store backends (SQLite and PostgreSQL): supersede, defaults, reopen, text replies, decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from award.opinions.clearing import record_opinion
from award.opinions.decisions import apply_decision, pending_decisions
from award.opinions.departments import reminder_days
from award.opinions.letters import Row, rows_of
from award.opinions.reading import read_text
from award.opinions.reminders import apply_defaults
from award.opinions.solicitation import solicit
from award.store.db import session_scope
from award.store.models import Application, Opinion, OpinionRequest
from tests.opinions.helpers import SPECS, make_complete


def test_supersede_default_reopen(fake_now, make_rt, db_url, season, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(db_url)
    fake_now("2023-09-27T09:00:00+08:00")  # before National Day (9/29-10/6)
    with session_scope(db_url) as s:
        (app_id,) = make_complete(s, season, [SPECS[2]])  # education: env and tax are asked
        solicit(s, rt)
    with session_scope(db_url) as s:
        reqs = {r.department: r for r in s.scalars(select(OpinionRequest))}
        # 9/28 (1), 10/7 (2, adjusted Saturday), 10/8 (3, adjusted Sunday), 10/9 (4), 10/10 (5)
        assert {r.due_date.isoformat() for r in reqs.values()} == {"2023-10-10"}
        assert [d.isoformat() for _, d in reminder_days(season, season.departments[2],
                                                        reqs["tax"].due_date)] == ["2023-10-08", "2023-10-09"]
        app = s.get(Application, app_id)
        at = datetime.fromisoformat("2023-10-09T10:00:00+08:00")
        first = record_opinion(s, rt, reqs["env"], app, "objection", "x", source="reply",
                               source_sha256="a" * 64, received_at=at)
        again = record_opinion(s, rt, reqs["env"], app, "objection", "x", source="reply",
                               source_sha256="a" * 64, received_at=at)
        assert first is not None and again is None  # the same file twice: recorded once
        second = record_opinion(s, rt, reqs["env"], app, "no_objection", None, source="reply",
                                source_sha256="b" * 64, received_at=at)
        assert s.get(Opinion, first.id).superseded_by_id == second.id
    fake_now("2023-10-11T09:00:00+08:00")
    with session_scope(db_url) as s:
        assert len(apply_defaults(s, rt)) == 1  # tax silent: follow_up
        assert s.get(Application, app_id).state == "dept_objection"
        (item,) = pending_decisions(s, rt, ref="r1", still_waiting=lambda _: False)
        assert pending_decisions(s, rt, ref="r2", still_waiting=lambda _: False)  # r1 over: asked again
        # a late reply from tax in the body clears the follow-up: every department now has no objection
        tax = s.scalar(select(OpinionRequest).where(OpinionRequest.department == "tax"))
        text = read_text("经核查，该单位没有异议。", rows_of(s, season, tax), tax.token)
        assert text.opinions == {app_id: ("no_objection", None)}
        late = record_opinion(s, rt, tax, s.get(Application, app_id), "no_objection", None, source="reply",
                              source_sha256="c" * 64, received_at=datetime.fromisoformat(
                                  "2023-10-11T09:00:00+08:00"))
        assert late.late and s.get(Application, app_id).state == "dept_cleared"
        # the stale question is answered afterwards: not applied, staff told
        assert apply_decision(s, rt, app_id, round_id=item["round_id"], choice="remove", reason="r",
                              user="ops") == "ignored"
        # a late objection reopens the cleared application
        record_opinion(s, rt, tax, s.get(Application, app_id), "objection", "欠税", source="reply",
                       source_sha256="d" * 64, received_at=datetime.fromisoformat(
                           "2023-10-11T09:00:00+08:00"))
        assert s.get(Application, app_id).state == "dept_objection"


def test_read_text_forms() -> None:
    rows = [Row(1, "GS-1", "甲公司", "c", "杭州市", "组织"), Row(2, "GS-2", "乙公司", "c", "宁波市", "组织")]
    both = read_text("甲公司有异议：有行政处罚。\n其余无异议。\n\n> 乙公司有异议", rows, "T")
    assert both.opinions == {1: ("objection", "有行政处罚。"), 2: ("no_objection", None)}
    only = read_text("GS-2 不同意推荐，原因是存在欠税", rows, "T")
    assert only.opinions == {2: ("objection", "存在欠税")}
    unclear = read_text("我单位有异议。", rows, "T")
    assert not unclear.opinions and unclear.problems

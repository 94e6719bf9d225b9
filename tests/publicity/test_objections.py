"""Objection intake: by mail (Maildir) and by the scanned-paper folder, matching, unmatched, late."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from sqlalchemy import select

from award.publicity.decisions import close_window, resolve_objection
from award.publicity.errors import UnmatchedObjectionsError
from award.publicity.objections import scan_objections
from award.publicity.windows import open_window
from award.runtime import Runtime
from award.states import State
from award.store import session_scope
from award.store.models import Application, InboundItem, Objection, OutboxEmail
from tests.fixtures import build_raw_mail


def _mail(subject: str, body: str, sender: str = "赵六 <zhao@example.org>") -> bytes:
    return build_raw_mail(subject, body, sender=sender, to="gsyy@scjg.example.gov.cn")


def _deliver(root: Path, raw: bytes) -> None:
    root.mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(root / "objections", create=True)
    box.add(mailbox.MaildirMessage(raw))


def _open(rt: Runtime, apps, monkeypatch) -> int:
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-04-27T09:00:00")
    with session_scope(rt.db_url) as session:
        return open_window(session, rt, [a.id for a in apps], "provincial")


def _mails(rt: Runtime, template: str) -> list[OutboxEmail]:
    with session_scope(rt.db_url) as session:
        return list(session.scalars(select(OutboxEmail).where(OutboxEmail.template == template)))


def test_mail_objection_matched_by_code_and_acknowledged(fake_now, rt: Runtime, apps, monkeypatch, tmp_path) -> None:
    window_id = _open(rt, apps, monkeypatch)
    org = apps[0]
    _deliver(tmp_path / "mail", _mail("关于公示对象的异议", f"统一社会信用代码 {org.key} 的单位去年发生质量事故。"))
    fake_now("2023-05-04T10:00:00")
    with session_scope(rt.db_url) as session:
        (result,) = scan_objections(session, rt, maildir_root=str(tmp_path / "mail"))
    with session_scope(rt.db_url) as session:  # the message moved to the processed folder: nothing twice
        assert scan_objections(session, rt, maildir_root=str(tmp_path / "mail")) == []
    assert len(list((tmp_path / "mail" / "objections" / ".processed" / "cur").iterdir())) == 1
    assert result.matched == [org.id] and not result.late
    with session_scope(rt.db_url) as session:
        obj = session.get(Objection, result.objection_ids[0])
        item = session.get(InboundItem, result.inbound_item_id)
        assert (obj.status, obj.window_id, obj.objector_email, obj.late) == ("open", window_id, "zhao@example.org",
                                                                             False)
        assert (item.purpose, item.channel) == ("objection", "maildir")
        assert rt.blobs.get_bytes(item.sha256).startswith(b"From:") or b"Subject" in rt.blobs.get_bytes(item.sha256)
    (ack,) = _mails(rt, "objection_ack")
    assert ack.to_addrs == ["zhao@example.org"] and f"YY-{result.inbound_item_id}" in ack.subject
    fake_now("2023-05-08T09:00:00")
    with session_scope(rt.db_url) as session:
        closed = close_window(session, rt, window_id)
    assert closed.pending == [org.id]


def test_paper_objection_matched_by_name_in_file_name(fake_now, rt: Runtime, apps, monkeypatch) -> None:
    _open(rt, apps, monkeypatch)
    rt.shared.write("objections/2023-05-05-关于张伟明的异议.pdf", b"%PDF-1.4 scanned image only")
    rt.shared.write("objections/2023-05-05-关于张伟明的异议.txt", "来访人口头补充：涉嫌学术不端。".encode())
    fake_now("2023-05-05T11:00:00")
    with session_scope(rt.db_url) as session:
        (result,) = scan_objections(session, rt, maildir_root="/nonexistent")
        obj = session.get(Objection, result.objection_ids[0])
        assert "涉嫌学术不端" in obj.text and obj.objector_email is None
    assert result.matched == [apps[4].id]
    assert not _mails(rt, "objection_ack")  # nobody to acknowledge to by mail


def test_longest_name_wins(fake_now, rt: Runtime, apps, monkeypatch, tmp_path) -> None:
    _open(rt, apps, monkeypatch)
    # "嘉兴示例化纤有限公司" is the team's unit; the team itself is named: the team is matched
    _deliver(tmp_path / "mail", _mail("异议", "嘉兴示例化纤有限公司纺丝车间甲班材料造假"))
    fake_now("2023-05-04T10:00:00")
    with session_scope(rt.db_url) as session:
        (result,) = scan_objections(session, rt, maildir_root=str(tmp_path / "mail"))
    assert result.matched == [apps[3].id]


def test_unmatched_objection_asks_staff_and_holds_the_close(fake_now, rt: Runtime, apps, monkeypatch, tmp_path) -> None:
    window_id = _open(rt, apps, monkeypatch)
    _deliver(tmp_path / "mail", _mail("举报", "某公司存在问题，请核查。"))
    fake_now("2023-05-04T10:00:00")
    with session_scope(rt.db_url) as session:
        (result,) = scan_objections(session, rt, maildir_root=str(tmp_path / "mail"))
    assert result.unmatched and not result.matched
    (staff,) = _mails(rt, "objection_staff")
    assert staff.to_addrs == [str(rt.season.recommending_unit.ops_email)] and "人工指定" in staff.subject
    fake_now("2023-05-08T09:00:00")
    with pytest.raises(UnmatchedObjectionsError), session_scope(rt.db_url) as session:
        close_window(session, rt, window_id)
    with session_scope(rt.db_url) as session:  # staff name the application and dismiss it in one decision
        resolve_objection(session, rt, result.objection_ids[0], "dismissed", "反映问题与公示对象无关", "李娜",
                          submission_no=apps[1].submission_no)
        closed = close_window(session, rt, window_id)
    assert sorted(closed.passed) == sorted(a.id for a in apps)


def test_late_objection_is_recorded_and_forwarded(fake_now, rt: Runtime, apps, monkeypatch, tmp_path) -> None:
    window_id = _open(rt, apps, monkeypatch)
    _deliver(tmp_path / "mail", _mail("异议：温州示例职业技术学院", "公示结束后才看到，特此反映。"))
    fake_now("2023-05-08T08:30:00")  # the window ended 2023-05-06 24:00
    with session_scope(rt.db_url) as session:
        (result,) = scan_objections(session, rt, maildir_root=str(tmp_path / "mail"))
        closed = close_window(session, rt, window_id)
    assert result.late and result.matched == [apps[2].id]
    assert apps[2].id in closed.passed  # late objections do not block
    with session_scope(rt.db_url) as session:
        obj = session.get(Objection, result.objection_ids[0])
        assert obj.late and obj.status == "open"
        resolve_objection(session, rt, obj.id, "upheld", "逾期异议，经研究转有关部门核查", "王明")
        assert session.get(Application, apps[2].id).state == State.PUBLICITY_PASSED.value  # recorded only
    (staff,) = _mails(rt, "objection_staff")
    assert "逾期" in staff.subject and "不阻止" in staff.body_text
    (ack,) = _mails(rt, "objection_ack")
    assert "逾期异议" in ack.body_text


def test_staff_assign_an_unmatched_objection_from_the_command_line(fake_now, rt: Runtime, apps, monkeypatch, tmp_path) -> None:
    """`award publicity objections` lists it; `award publicity assign ID NO --actor` matches it (audited)."""
    import json
    import os
    import subprocess
    import sys

    _open(rt, apps, monkeypatch)
    _deliver(tmp_path / "mail", _mail("举报", "某公司存在问题，请核查。"))
    fake_now("2023-05-04T10:00:00")
    with session_scope(rt.db_url) as session:
        (result,) = scan_objections(session, rt, maildir_root=str(tmp_path / "mail"))
    env = {**os.environ, "AWARD_DB_URL": rt.db_url, "AWARD_DATA_DIR": str(tmp_path)}

    def award(*args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        return subprocess.run([sys.executable, "-m", "award.cli", *args, "--json"], capture_output=True, text=True,
                              env=env)

    listed = json.loads(award("publicity", "objections").stdout)["objections"]
    assert [(o["id"], o["status"]) for o in listed] == [(result.objection_ids[0], "unmatched")]
    bad = award("publicity", "assign", str(result.objection_ids[0]), "GS-2023-9999", "--actor", "李娜")
    assert bad.returncode == 2 and "GS-2023-9999" in json.loads(bad.stdout)["error"]
    done = award("publicity", "assign", str(result.objection_ids[0]), apps[1].submission_no, "--actor", "李娜")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "open"
    with session_scope(rt.db_url) as session:
        obj = session.get(Objection, result.objection_ids[0])
        assert (obj.application_id, obj.status) == (apps[1].id, "open")

"""The outbox under faults, against real servers: delivered exactly once, or visibly ``unknown``/``failed``.

A real aiosmtpd server drops the connection at DATA, after the data, stalls after the data, or refuses with
451/550 (tests/servers.py ``FaultySmtp``); a real Dovecot holds the "Sent" folder. A worker killed with -9
mid-send is a row left "sending". Time is frozen with AWARD_FAKE_NOW and moved by the test.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select

from award.mail.outbox import (
    STALE_SENDING,
    drain,
    enqueue,
    give_up_at,
    ops_alert,
    plan_batches,
    resolve_sent,
    retry,
)
from award.states import OUTBOX_TRANSITIONS, IllegalTransition, OutboxStatus
from award.store import session_scope
from award.store.models import AuditEvent, OutboxEmail

T0 = datetime.fromisoformat("2023-05-19T16:00:00+08:00")  # a Friday afternoon
OPS = "ops@scjg.example.gov.cn"


@pytest.fixture()
def clock(fake_now):  # type: ignore[no-untyped-def]
    """The shared frozen clock (tests.fixtures.fake_now), at T0 until moved: ``clock(datetime)``."""
    fake_now(T0)
    return fake_now


def _ctx(season, text: str = "您的申报材料已收到。") -> dict:  # type: ignore[no-untyped-def]
    return {"greeting": "王经理", "unit": season.recommending_unit, "season_label": "第五届中国质量奖",
            "title": "材料已收到", "text": text, "items": []}


def _queue(url: str, season, key: str, to: str = "a@example.com", text: str = "您的申报材料已收到。") -> int:  # type: ignore[no-untyped-def]
    with session_scope(url) as session:
        return enqueue(session, key=key, template="staff_notice", to=[to], context=_ctx(season, text))[0].id


def _row(url: str, email_id: int) -> OutboxEmail:
    with session_scope(url) as session:
        row = session.get(OutboxEmail, email_id)
        assert row is not None
        session.expunge(row)
        return row


def _ops_mails(url: str) -> list[OutboxEmail]:
    with session_scope(url) as session:
        rows = list(session.scalars(select(OutboxEmail).where(OutboxEmail.idempotency_key.like("outbox:ops-alert:%"))))
        for r in rows:
            session.expunge(r)
        return rows


def _drain(url: str, server, season, **kw):  # type: ignore[no-untyped-def]
    return drain(partial(session_scope, url), server.sender(**kw.pop("sender", {})), lambda _: b"",
                 alert=ops_alert(season), **kw)


def test_the_status_machine_is_what_the_tests_cover() -> None:
    S = OutboxStatus
    assert {(a, b) for a, targets in OUTBOX_TRANSITIONS.items() for b in targets} == {
        (S.PENDING, S.SENDING), (S.SENDING, S.SENT), (S.SENDING, S.PENDING), (S.SENDING, S.UNKNOWN),
        (S.SENDING, S.FAILED), (S.UNKNOWN, S.SENT), (S.UNKNOWN, S.PENDING), (S.FAILED, S.PENDING)}


def test_drop_at_data_is_not_counted_as_sent(db_url, season, faulty_smtp, clock) -> None:
    """yagmail returned False after the server dropped the connection at DATA; the row was marked sent."""
    faulty_smtp.faults = ["drop_at_data"] * 5
    email_id = _queue(db_url, season, "ack:1")
    result = _drain(db_url, faulty_smtp, season)
    assert result.retried == [email_id] and not result.sent
    row = _row(db_url, email_id)
    assert row.status == "pending" and row.sent_at is None and row.attempts == 1
    assert row.next_attempt_at == T0 + timedelta(minutes=1)
    assert faulty_smtp.messages == []
    faulty_smtp.faults = []
    clock(T0 + timedelta(minutes=1))
    assert _drain(db_url, faulty_smtp, season).sent == [email_id]  # pending -> sending -> sent
    assert len(faulty_smtp.messages) == 1 and _row(db_url, email_id).status == "sent"


def test_no_reply_after_the_data_is_unknown_and_never_resent(db_url, season, faulty_smtp, clock) -> None:
    """The server stored the e-mail and the connection broke before the 250: yagmail used to send it again."""
    faulty_smtp.faults = ["drop_after_data"]
    email_id = _queue(db_url, season, "ack:2")
    result = _drain(db_url, faulty_smtp, season)
    assert result.unknown == [email_id] and not result.sent and not result.retried
    assert len(faulty_smtp.messages) == 1  # one copy, no resend inside the send
    row = _row(db_url, email_id)
    assert row.status == "unknown" and "SendOutcomeUnknown" in row.last_error
    clock(T0 + timedelta(days=3))
    assert email_id not in _drain(db_url, faulty_smtp, season).sent  # no sent folder: stays unknown, for ops
    assert len([m for m in faulty_smtp.messages if "a@example.com" in m.rcpt_tos]) == 1
    [alert] = _ops_mails(db_url)  # ops were told, once, through the outbox
    assert alert.to_addrs == [str(season.recommending_unit.ops_email)] and str(email_id) in alert.subject
    assert "award outbox" in alert.body_text and "a@example.com" not in alert.body_text  # masked
    with session_scope(db_url) as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "outbox_email")).all()
        assert [(a.from_state, a.to_state) for a in audit if a.entity_id == email_id] == [("sending", "unknown")]
        # ops checked with the recipient: it arrived (unknown -> sent)
        assert resolve_sent(session, [email_id]) == [email_id]
    assert _row(db_url, email_id).status == "sent"


def test_timeout_after_the_data_is_unknown(sqlite_url, season, faulty_smtp, clock) -> None:
    faulty_smtp.faults = ["stall_after_data"]
    email_id = _queue(sqlite_url, season, "ack:3")
    result = _drain(sqlite_url, faulty_smtp, season, sender={"timeout": 1})
    assert result.unknown == [email_id] and len(faulty_smtp.messages) == 1
    # ops checked: not delivered -> requeued (unknown -> pending), sent once more
    faulty_smtp.stall.set()
    with session_scope(sqlite_url) as session:
        assert retry(session, unknown=True, ids=[email_id]) == [email_id]
    assert email_id in _drain(sqlite_url, faulty_smtp, season).sent


def test_5xx_refusal_fails_at_once_with_an_ops_alert_and_can_be_requeued(sqlite_url, season, faulty_smtp,
                                                                          clock) -> None:
    faulty_smtp.faults = ["550"]
    email_id = _queue(sqlite_url, season, "ack:4")
    assert _drain(sqlite_url, faulty_smtp, season).failed == [email_id]
    row = _row(sqlite_url, email_id)
    assert row.status == "failed" and "550" in row.last_error and faulty_smtp.messages == []
    [alert] = _ops_mails(sqlite_url)
    with session_scope(sqlite_url) as session:
        assert retry(session) == [alert.id]  # without --failed: the failed one stays
        assert retry(session, failed=True) == [email_id, alert.id]  # failed -> pending
    assert email_id in _drain(sqlite_url, faulty_smtp, season).sent


def test_an_outage_is_retried_for_a_working_day_then_failed_and_requeued(sqlite_url, season, faulty_smtp,
                                                                          clock) -> None:
    """An outage from Friday 16:00: retries span Monday, the next working day; nothing is lost."""
    faulty_smtp.faults = ["451"] * 1000
    email_id = _queue(sqlite_url, season, "ack:5")
    assert give_up_at(T0) == datetime.fromisoformat("2023-05-22T18:00:00+08:00")
    at, waits = T0, []
    while True:
        result = _drain(sqlite_url, faulty_smtp, season)
        row = _row(sqlite_url, email_id)
        if result.failed:
            break
        assert result.retried == [email_id] and row.status == "pending"
        waits.append(row.next_attempt_at - at)
        at = clock(row.next_attempt_at)
    assert waits[:7] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)]
    assert at == give_up_at(T0) and row.status == "failed" and row.attempts == len(waits) + 1
    assert [m.subject for m in _ops_mails(sqlite_url) if str(email_id) in m.subject]
    faulty_smtp.faults = []
    clock(at + timedelta(hours=15))  # Tuesday morning: the server is back; ops requeue the failed e-mails
    with session_scope(sqlite_url) as session:
        assert email_id in retry(session, failed=True)
    assert email_id in _drain(sqlite_url, faulty_smtp, season).sent
    assert len([m for m in faulty_smtp.messages if "a@example.com" in m.rcpt_tos]) == 1


def test_illegal_moves_are_refused(sqlite_url, season, smtp_server, clock) -> None:
    from award.mail.outbox import _move

    email_id = _queue(sqlite_url, season, "ack:6")
    drain(partial(session_scope, sqlite_url), smtp_server.sender(), lambda _: b"")
    with session_scope(sqlite_url) as session:
        row = session.get(OutboxEmail, email_id)
        with pytest.raises(IllegalTransition):
            _move(session, row, OutboxStatus.PENDING)
        assert retry(session, failed=True, unknown=True, ids=[email_id]) == []  # sent is final
        assert resolve_sent(session, [email_id]) == []


def test_one_recipients_mails_go_out_in_queue_order(db_url, season, faulty_smtp, clock) -> None:
    """Issue 15 §4: the ack failed once (451); the correction notice queued after it waited for it."""
    first = _queue(db_url, season, "ack:a", to="a@example.com", text="第一封：已收到")
    other = _queue(db_url, season, "ack:b", to="b@example.com", text="别人的")
    second = _queue(db_url, season, "fix:a", to="A@example.com", text="第二封：补正通知")
    third = _queue(db_url, season, "pass:a", to="a@example.com", text="第三封：通过")
    # all of one recipient's due mails are planned into one batch, in order
    assert plan_batches(partial(session_scope, db_url), batch_size=1) == [[first, second, third], [other]]
    faulty_smtp.faults = ["451"]  # the first mail to a@ is refused for now
    result = _drain(db_url, faulty_smtp, season, ids=[first, second, third, other])
    assert result.retried == [first] and result.sent == [other] and result.held == [second, third]
    assert plan_batches(partial(session_scope, db_url)) == []  # the later ones wait behind the first
    clock(T0 + timedelta(minutes=1))
    assert _drain(db_url, faulty_smtp, season).sent == [first, second, third]
    to_a = [m.text() for m in faulty_smtp.messages if m.rcpt_tos[0].lower() == "a@example.com"]
    assert [t.split("\n")[2][:3] for t in to_a] == ["第一封", "第二封", "第三封"]


# ---------------------------------------------------------------- kill -9 and the sent folder (Dovecot)
def _file_in_sent(dovecot):  # type: ignore[no-untyped-def]
    def file(raw: bytes) -> None:
        dovecot.append(raw, folder="Sent")
    return file


def test_kill_9_mid_send_is_settled_through_the_sent_folder(db_url, season, faulty_smtp, dovecot, clock) -> None:
    """A worker killed after the server took the mail left it "sending"; it was sent again 15 minutes later."""
    from award.connections import ImapSettings
    from award.mail.outbox import message_id_for
    from award.mail.sentfolder import ImapSentFolder

    faulty_smtp.file_to = _file_in_sent(dovecot)
    delivered = _queue(db_url, season, "ack:k1", to="k1@example.com")
    lost = _queue(db_url, season, "ack:k2", to="k2@example.com")
    # the first was delivered (and filed in Sent) just before the kill; the second never reached the server
    faulty_smtp.sender().send(to=["k1@example.com"], cc=[], subject="s", text="t", attachments=[],
                              message_id=message_id_for("ack:k1"))
    with session_scope(db_url) as session:
        for email_id in (delivered, lost):
            session.get(OutboxEmail, email_id).status = "sending"  # what kill -9 leaves behind
            session.get(OutboxEmail, email_id).next_attempt_at = T0
    sent = ImapSentFolder(ImapSettings(host=dovecot.host, port=dovecot.port, user=dovecot.user,
                                       password=dovecot.password, use_ssl=False, sent_folder="Sent"))
    factory = partial(session_scope, db_url)
    clock(T0 + STALE_SENDING + timedelta(minutes=1))
    plan = partial(plan_batches, factory, sent_folder=sent, alert=ops_alert(season))
    assert plan() == [[a.id for a in _ops_mails(db_url)]]  # both unknown, nothing resent; only ops alerts due
    assert {_row(db_url, i).status for i in (delivered, lost)} == {"unknown"}
    clock(T0 + STALE_SENDING + timedelta(minutes=20))  # settled: the sent folder decides
    batches = plan()
    assert _row(db_url, delivered).status == "sent" and _row(db_url, lost).status == "pending"
    assert lost in [i for b in batches for i in b] and delivered not in [i for b in batches for i in b]
    drain(factory, faulty_smtp.sender(), lambda _: b"", ids=[i for b in batches for i in b])
    sent.close()
    assert [m.rcpt_tos for m in faulty_smtp.messages if m.rcpt_tos[0].startswith("k")] == [
        ["k1@example.com"], ["k2@example.com"]]  # each exactly once
    with session_scope(db_url) as session:
        moves = [(a.entity_id, a.from_state, a.to_state) for a in session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "outbox_email").order_by(AuditEvent.id))]
    assert moves == [(delivered, "sending", "unknown"), (lost, "sending", "unknown"),
                     (delivered, "unknown", "sent"), (lost, "unknown", "pending")]


def test_sent_folder_lookup_by_message_id(dovecot) -> None:
    from award.connections import ImapSettings
    from award.mail.sentfolder import ImapSentFolder

    dovecot.append(b"Message-ID: <abc@award.local>\r\nSubject: x\r\n\r\nbody\r\n", folder="Sent")
    settings = ImapSettings(host=dovecot.host, port=dovecot.port, user=dovecot.user, password=dovecot.password,
                            use_ssl=False, sent_folder="Sent")
    with ImapSentFolder(settings) as sent:
        assert sent.contains("<abc@award.local>") and not sent.contains("<other@award.local>")


def test_award_outbox_cli_shows_unknown_and_requeues(sqlite_url, season, faulty_smtp, clock, monkeypatch,
                                                      capsys) -> None:
    import json

    from award.cli import main

    faulty_smtp.faults = ["drop_after_data", "550"]
    unknown = _queue(sqlite_url, season, "cli:1", to="wang13912345678@example.com")
    failed = _queue(sqlite_url, season, "cli:2", to="li@example.com")
    _drain(sqlite_url, faulty_smtp, season)
    monkeypatch.setenv("AWARD_DB_URL", sqlite_url)
    capsys.readouterr()
    assert main(["outbox", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["counts"]["unknown"] == 1 and shown["counts"]["failed"] == 1
    assert [e["id"] for e in shown["emails"]] == [unknown, failed]
    assert main(["outbox", "show"]) == 0
    human = capsys.readouterr().out
    assert "13912345678" not in human and "w***@example.com" in human  # addresses masked
    assert main(["outbox", "retry", "--failed", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requeued"][0] == failed
    assert main(["outbox", "resolve", "--sent", str(unknown), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"resolved": [unknown]}
    assert _row(sqlite_url, unknown).status == "sent" and _row(sqlite_url, failed).status == "pending"

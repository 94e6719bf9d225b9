"""The outbox: idempotent enqueue, drain through yagmail to a real SMTP server, retries with backoff."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select

from award.mail.outbox import drain, enqueue
from award.storage.blobs import LocalBlobStore
from award.store import session_scope
from award.store.models import OutboxEmail


def _ctx(season) -> dict:  # type: ignore[no-untyped-def]
    return {"greeting": "王经理", "unit": season.recommending_unit, "season_label": "第五届中国质量奖",
            "title": "材料已收到", "text": "您的申报材料已收到。", "items": ["申报表.docx"]}


def test_enqueue_twice_keeps_one(sqlite_url: str, season) -> None:
    with session_scope(sqlite_url) as session:
        first, created = enqueue(session, key="k1", template="staff_notice", to=["a@example.com"], context=_ctx(season))
        again, created2 = enqueue(session, key="k1", template="staff_notice", to=["b@example.com"], context=_ctx(season))
    assert created and not created2 and first.id == again.id
    with session_scope(sqlite_url) as session:
        assert len(session.scalars(select(OutboxEmail)).all()) == 1


def test_drain_sends_once_with_chinese_attachment(db_url: str, season, smtp_server, tmp_path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    ref = blobs.put_bytes(b"%PDF-1.4 test")
    with session_scope(db_url) as session:
        enqueue(session, key="ack:1", template="staff_notice", to=["applicant@example.com"], context=_ctx(season),
                attachments=[{"sha256": ref.sha256, "filename": "受理回执.pdf"}])
    factory = partial(session_scope, db_url)
    result = drain(factory, smtp_server.sender(), blobs.get_bytes)
    again = drain(factory, smtp_server.sender(), blobs.get_bytes)
    assert len(result.sent) == 1 and not again.sent
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ["applicant@example.com"]
    assert mail.subject == "【第五届中国质量奖】材料已收到"
    assert "您的申报材料已收到。" in mail.text() and "<br>" not in mail.text()
    assert mail.text().startswith("王经理：\n")
    assert mail.attachments() == {"受理回执.pdf": b"%PDF-1.4 test"}
    assert mail.message["Message-ID"].endswith("@award.local>")


class BrokenSender:
    def send(self, **_: object) -> str:
        raise ConnectionRefusedError("smtp down")


def test_failed_send_is_retried_with_backoff(sqlite_url: str, season) -> None:
    with session_scope(sqlite_url) as session:
        enqueue(session, key="k", template="staff_notice", to=["a@example.com"], context=_ctx(season))
    factory = partial(session_scope, sqlite_url)
    first = drain(factory, BrokenSender(), lambda _: b"")
    assert first.retried and not first.sent
    assert not drain(factory, BrokenSender(), lambda _: b"").retried  # backing off: not due yet
    with session_scope(sqlite_url) as session:
        row = session.scalars(select(OutboxEmail)).one()
        assert row.status == "pending" and row.attempts == 1 and "smtp down" in row.last_error
        assert row.retry_until is not None


def _queue(url: str, season, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    with session_scope(url) as session:
        return [enqueue(session, key=f"batch:{i}", template="staff_notice", to=[f"s{i}@example.com"],
                        context=_ctx(season))[0].id for i in range(n)]


def test_plan_batches_marks_stale_sends_unknown_and_chunks_due_ids(fake_now, sqlite_url: str, season, monkeypatch) -> None:
    from datetime import timedelta

    from award.clock import now
    from award.mail.outbox import STALE_SENDING, plan_batches

    fake_now("2023-05-10T10:00:00+08:00")
    ids = _queue(sqlite_url, season, 5)
    with session_scope(sqlite_url) as session:
        stale, fresh, later = (session.get(OutboxEmail, i) for i in ids[:3])
        stale.status, stale.next_attempt_at = "sending", now() - STALE_SENDING - timedelta(minutes=1)
        fresh.status = "sending"  # a send in progress right now: left alone
        later.next_attempt_at = now() + timedelta(minutes=4)  # backing off: not due
    factory = partial(session_scope, sqlite_url)
    assert plan_batches(factory, batch_size=1) == [[ids[3]], [ids[4]]]
    with session_scope(sqlite_url) as session:  # a stale send may have reached the server: unknown, not resent
        assert [session.get(OutboxEmail, i).status for i in ids[:2]] == ["unknown", "sending"]
    assert plan_batches(factory, batch_size=1, max_batches=1) == [[ids[3], ids[4]]]


def test_drain_with_ids_sends_only_those(sqlite_url: str, season, smtp_server, tmp_path) -> None:
    ids = _queue(sqlite_url, season, 4)
    factory = partial(session_scope, sqlite_url)
    blobs = LocalBlobStore(tmp_path / "blobs")
    result = drain(factory, smtp_server.sender(), blobs.get_bytes, ids=[ids[3], ids[1], 10_000], limit=1)
    assert sorted(result.sent) == [ids[1], ids[3]]  # ``limit`` is for the unbatched drain only
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == ["s1@example.com", "s3@example.com"]
    assert not drain(factory, smtp_server.sender(), blobs.get_bytes, ids=[ids[1]]).sent  # sent: never again
    with session_scope(sqlite_url) as session:
        assert {i: session.get(OutboxEmail, i).status for i in ids} == {
            ids[0]: "pending", ids[1]: "sent", ids[2]: "pending", ids[3]: "sent"}

"""Outbox batches: ``prepare`` + ``enqueue_many`` follow ``enqueue``'s rule (the first e-mail of a key wins)."""

from __future__ import annotations

from sqlalchemy import select

from award.mail.outbox import enqueue, enqueue_many, prepare
from award.store import session_scope
from award.store.models import OutboxEmail


def _ctx(season, text: str = "您的申报材料已收到。") -> dict:  # type: ignore[no-untyped-def]
    return {"greeting": "王经理", "unit": season.recommending_unit, "season_label": "第五届中国质量奖",
            "title": "材料已收到", "text": text, "items": ["申报表.docx"]}


def _mail(season, key: str, text: str = "您的申报材料已收到。"):  # type: ignore[no-untyped-def]
    return prepare(key=key, template="staff_notice", to=["a@example.com"], context=_ctx(season, text),
                   attachments=[{"sha256": "0" * 64, "filename": "回执.pdf"}])


def test_batch_skips_known_and_repeated_keys(db_url: str, season) -> None:
    with session_scope(db_url) as session:
        enqueue(session, key="k1", template="staff_notice", to=["a@example.com"], context=_ctx(season, "第一封"))
    with session_scope(db_url) as session:
        out = enqueue_many(session, [_mail(season, "k1"), _mail(season, "k2", "第二封"), _mail(season, "k2", "重复")])
        assert [created for _row, created in out] == [False, True, False]
        assert out[1][0] is out[2][0]
    with session_scope(db_url) as session:
        rows = {r.idempotency_key: r for r in session.scalars(select(OutboxEmail))}
    assert sorted(rows) == ["k1", "k2"]
    assert "第一封" in rows["k1"].body_text and "第二封" in rows["k2"].body_text
    assert rows["k2"].subject == "【第五届中国质量奖】材料已收到" and rows["k2"].status == "pending"
    assert rows["k2"].attachments == [{"sha256": "0" * 64, "filename": "回执.pdf"}]
    assert enqueue_many(session, []) == []


def test_batch_falls_back_one_by_one_when_a_key_appears_meanwhile(sqlite_url: str, season, monkeypatch) -> None:
    with session_scope(sqlite_url) as session:
        enqueue(session, key="taken", template="staff_notice", to=["a@example.com"], context=_ctx(season, "先到"))
    with session_scope(sqlite_url) as session:
        real = session.scalars
        calls: list[int] = []

        def blind_first_lookup(stmt, *args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(1)
            return iter(()) if len(calls) == 1 else real(stmt, *args, **kwargs)  # as if queued by another run

        monkeypatch.setattr(session, "scalars", blind_first_lookup)
        out = enqueue_many(session, [_mail(season, "new1"), _mail(season, "taken", "后到"), _mail(season, "new2")])
        assert [created for _row, created in out] == [True, False, True]
    with session_scope(sqlite_url) as session:
        rows = {r.idempotency_key: r for r in session.scalars(select(OutboxEmail))}
    assert sorted(rows) == ["new1", "new2", "taken"] and "先到" in rows["taken"].body_text

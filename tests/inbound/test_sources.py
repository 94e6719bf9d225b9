"""Mail and storage sources: archive first, take each message/object once, never delete mail."""

from __future__ import annotations

import imaplib
import mailbox
from pathlib import Path

import pytest
from sqlalchemy import func, select

from award.inbound.sources import (
    ImapSettings,
    ImapSource,
    MaildirSource,
    fetch_mail,
    fetch_storage,
    header_summary,
    purpose_classifier,
)
from award.runtime import Runtime
from award.storage.shared import LocalStorage, S3Storage
from award.store.db import session_scope
from award.store.models import InboundItem, MailboxCursor
from tests.fixtures import build_raw_mail


def _raw(subject: str, sender: str = "张三 <zs@example.com>", body: str = "正文") -> bytes:
    return build_raw_mail(subject, body, sender=sender)


@pytest.fixture()
def rt(make_rt, tmp_path, season, sqlite_url) -> Runtime:
    return make_rt(sqlite_url)


def _items(url: str) -> list[InboundItem]:
    with session_scope(url) as s:
        return list(s.scalars(select(InboundItem).order_by(InboundItem.id)))


def test_header_summary_and_classifier(season) -> None:
    sender, subject = header_summary(_raw("第五届中国质量奖申报材料-某公司"))
    assert (sender, subject) == ("zs@example.com", "第五届中国质量奖申报材料-某公司")
    classify = purpose_classifier(season)
    assert classify(str(season.departments[0].email), "回复") == "opinion"
    assert classify("x@example.com", "关于征求意见的回复 YJ-2023-env-0a1b2c") == "opinion"
    assert classify("x@example.com", "申报材料") == "application"


def test_maildir_archives_then_moves_never_deletes(tmp_path, rt, season) -> None:
    root = tmp_path / "maildir"
    root.mkdir()
    box = mailbox.Maildir(str(root / "office"), create=True)
    box.add(_raw("申报材料-甲公司"))
    box.add(_raw("征求意见回复", sender=f"{season.departments[0].name} <{season.departments[0].email}>"))
    box.close()

    with session_scope(rt.db_url) as s:
        ids = fetch_mail(s, rt, MaildirSource(root, "office"))
    assert len(ids) == 2
    items = _items(rt.db_url)
    assert {i.purpose for i in items} == {"application", "opinion"}
    assert all(i.channel == "maildir" and rt.blobs.exists(i.sha256) for i in items)
    # moved to .processed with the Seen flag, nothing left in the inbox, nothing deleted
    box = mailbox.Maildir(str(root / "office"), create=False)
    assert len(box) == 0
    processed = box.get_folder("processed")
    assert len(processed) == 2
    assert all("S" in m.get_flags() for m in processed)
    assert {rt.blobs.get_bytes(i.sha256) for i in items} == {processed.get_bytes(k) for k in processed.keys()}

    with session_scope(rt.db_url) as s:  # a re-run takes nothing
        assert fetch_mail(s, rt, MaildirSource(root, "office")) == []
    assert len(_items(rt.db_url)) == 2


def test_maildir_forced_purpose(tmp_path, rt) -> None:
    root = tmp_path / "maildir"
    root.mkdir()
    box = mailbox.Maildir(str(root / "objections"), create=True)
    box.add(_raw("对公示对象的异议"))
    with session_scope(rt.db_url) as s:
        fetch_mail(s, rt, MaildirSource(root, "objections"), purpose="objection")
    assert [i.purpose for i in _items(rt.db_url)] == ["objection"]


def test_imap_uid_cursor_flags_and_move(dovecot, rt) -> None:
    """Real Dovecot: UID SEARCH above the cursor, BODY.PEEK, flag + move to Processed; re-runs read nothing."""
    uids = [dovecot.append(_raw(f"申报材料-{n}")) for n in ("甲", "乙")]
    settings = ImapSettings(host=dovecot.host, port=dovecot.port, user=dovecot.user, password=dovecot.password,
                            use_ssl=False)
    source = ImapSource(settings)
    try:
        with session_scope(rt.db_url) as s:
            ids = fetch_mail(s, rt, source)
    finally:
        source.close()
    assert len(ids) == 2
    items = _items(rt.db_url)
    assert [i.source_key.rsplit(":", 1)[1] for i in items] == [str(u) for u in uids]
    assert [i.subject for i in items] == ["申报材料-甲", "申报材料-乙"]
    with session_scope(rt.db_url) as s:
        cursor = s.scalar(select(MailboxCursor))
        assert cursor is not None and cursor.last_uid == max(uids)

    conn = imaplib.IMAP4(dovecot.host, dovecot.port)
    conn.login(dovecot.user, dovecot.password)
    conn.select("INBOX")
    assert conn.uid("SEARCH", None, "ALL")[1][0] == b""  # moved out of the inbox
    conn.select('"Processed"')
    typ, data = conn.uid("SEARCH", None, "KEYWORD $Archived SEEN")
    assert len(data[0].split()) == 2  # kept, flagged
    conn.logout()

    dovecot.append(_raw("申报材料-丙"))
    source = ImapSource(settings)
    try:
        with session_scope(rt.db_url) as s:
            assert len(fetch_mail(s, rt, source)) == 1
            assert fetch_mail(s, rt, source) == []
    finally:
        source.close()
    with session_scope(rt.db_url) as s:
        assert s.scalar(select(func.count(InboundItem.id))) == 3


def test_local_storage_key_and_etag(tmp_path, rt) -> None:
    shared: LocalStorage = rt.shared  # type: ignore[assignment]
    shared.write("incoming/杭州市/甲公司/申报表.docx", b"v1")
    shared.write("incoming/杭州市/杭州市推荐函.pdf", b"%PDF-1.4 letter")
    with session_scope(rt.db_url) as s:
        assert len(fetch_storage(s, rt)) == 2
        assert fetch_storage(s, rt) == []
    path = Path(shared.path("incoming/杭州市/甲公司/申报表.docx"))
    path.write_bytes(b"version 2")  # a changed object is a new version
    with session_scope(rt.db_url) as s:
        assert len(fetch_storage(s, rt)) == 1
    items = _items(rt.db_url)
    assert [i.channel for i in items] == ["local"] * 3
    assert items[-1].filename == "incoming/杭州市/甲公司/申报表.docx"
    assert rt.blobs.get_bytes(items[-1].sha256) == b"version 2"


def test_s3_storage_over_http(make_rt, s3_bucket, tmp_path, season, sqlite_url) -> None:
    client, bucket = s3_bucket
    shared = S3Storage(client, bucket, "shared/")
    rt = make_rt(sqlite_url, shared=shared)
    shared.write("incoming/宁波市/乙公司/证实性材料1.pdf", b"%PDF-1.4 one")
    with session_scope(rt.db_url) as s:
        assert len(fetch_storage(s, rt)) == 1
        assert fetch_storage(s, rt) == []
    shared.write("incoming/宁波市/乙公司/证实性材料1.pdf", b"%PDF-1.4 two")
    with session_scope(rt.db_url) as s:
        assert len(fetch_storage(s, rt)) == 1
    items = _items(rt.db_url)
    assert [i.channel for i in items] == ["s3", "s3"]
    assert items[0].source_key != items[1].source_key


def test_arrival_in_the_mailbox_is_the_receipt_time(fake_now, tmp_path, rt, monkeypatch) -> None:
    """A message that reached the mailbox at 16:59 on deadline day is not late when it is polled at 17:10."""
    import os
    from datetime import datetime

    from award.clock import TZ

    (tmp_path / "mail").mkdir()
    box = mailbox.Maildir(tmp_path / "mail" / "office", create=True)
    key = box.add(_raw("申报材料"))
    arrived = datetime(2023, 5, 25, 16, 59, tzinfo=TZ)
    os.utime(tmp_path / "mail" / "office" / box._lookup(key), (arrived.timestamp(), arrived.timestamp()))  # noqa: SLF001
    fake_now("2023-05-25T17:10:00+08:00")
    with session_scope(rt.db_url) as session:
        fetch_mail(session, rt, MaildirSource(tmp_path / "mail", "office"))
    (item,) = _items(rt.db_url)
    assert item.received_at == arrived
    assert item.received_at <= rt.season.dates.provincial_deadline


def test_imap_internaldate_is_the_receipt_time(fake_now, dovecot, rt, monkeypatch) -> None:
    """IMAP: INTERNALDATE (arrival at the server) is kept; our polling time is only the upper bound."""
    dovecot.append(_raw("申报材料"))
    fake_now("2099-01-01T00:00:00+08:00")
    settings = ImapSettings(host=dovecot.host, port=dovecot.port, user=dovecot.user, password=dovecot.password,
                            use_ssl=False)
    source = ImapSource(settings)
    try:
        with session_scope(rt.db_url) as session:
            fetch_mail(session, rt, source)
    finally:
        source.close()
    (item,) = _items(rt.db_url)
    assert item.received_at.year < 2099  # the server's arrival time, not the (fake) polling time


def test_imap_next_run_finishes_flag_and_move_after_the_server_died(dovecot, rt) -> None:
    """The connection to Dovecot broke after the commit, before the flag and move (the server died): the next
    run moves the archived messages, and archives nothing twice."""
    import socket

    for n in range(3):
        dovecot.append(_raw(f"申报材料-{n}"))
    settings = ImapSettings(host=dovecot.host, port=dovecot.port, user=dovecot.user, password=dovecot.password,
                            use_ssl=False)
    source = ImapSource(settings)
    real_mark = source.mark_processed

    def die_then_mark(items):  # type: ignore[no-untyped-def]
        source.conn.sock.shutdown(socket.SHUT_RDWR)  # the server is gone from here on
        real_mark(items)

    source.mark_processed = die_then_mark  # type: ignore[method-assign]
    with pytest.raises((OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error)), session_scope(rt.db_url) as s:
        fetch_mail(s, rt, source)
    assert len(_items(rt.db_url)) == 3  # committed before the connection broke

    conn = imaplib.IMAP4(dovecot.host, dovecot.port)
    conn.login(dovecot.user, dovecot.password)
    conn.select("INBOX")
    assert len(conn.uid("SEARCH", None, "UNKEYWORD $Archived")[1][0].split()) == 3  # stuck, unflagged
    conn.logout()

    source = ImapSource(settings)
    try:
        with session_scope(rt.db_url) as s:
            assert fetch_mail(s, rt, source) == []  # nothing archived twice
    finally:
        source.close()
    assert len(_items(rt.db_url)) == 3
    conn = imaplib.IMAP4(dovecot.host, dovecot.port)
    conn.login(dovecot.user, dovecot.password)
    conn.select("INBOX")
    assert conn.uid("SEARCH", None, "ALL")[1][0] == b""
    conn.select('"Processed"')
    assert len(conn.uid("SEARCH", None, "KEYWORD $Archived SEEN")[1][0].split()) == 3
    conn.logout()


def test_maildir_messages_come_in_arrival_order_not_text_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Python's mailbox leaves the microseconds of a key unpadded: as text, M100000 sorts before M99999."""
    from award.inbound.sources import MaildirSource, maildir_order

    keys = ["1764900000.M100000P7Q2.host", "1764900000.M99999P7Q1.host", "1764899999.M5P7Q9.host", "x.other"]
    assert sorted(keys, key=maildir_order) == ["x.other", "1764899999.M5P7Q9.host", "1764900000.M99999P7Q1.host",
                                               "1764900000.M100000P7Q2.host"]
    source = MaildirSource(tmp_path, "office")
    for key in ("1764900000.M100000P7Q2.host", "1764900000.M99999P7Q1.host"):
        (source.path / "new" / key).write_bytes(f"Subject: {key}\n\nbody\n".encode())
    assert [item.handle for item in source.messages(None)] == [  # type: ignore[arg-type]
        "1764900000.M99999P7Q1.host", "1764900000.M100000P7Q2.host"]

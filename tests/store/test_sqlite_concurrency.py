"""SQLite under concurrent writers: WAL, a busy timeout, and write transactions that take the lock at BEGIN.

With deferred transactions a run that read first and writes later fails at once with ``database is locked``
when another run committed in between (SQLite cannot upgrade a stale read snapshot, and no busy wait helps).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import func, select, text

from award.store import session_scope
from award.store.models import Application, InboundItem, OutboxEmail


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def test_sqlite_connections_use_wal_and_a_busy_timeout(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 60_000


def test_a_transaction_holds_the_write_lock_from_its_start(sqlite_url: str) -> None:
    """A session that has only read so far already excludes other writers (they wait instead of failing later)."""
    with session_scope(sqlite_url) as session:
        session.execute(select(func.count()).select_from(OutboxEmail)).scalar()
        other = sqlite3.connect(_path(sqlite_url), timeout=0, isolation_level=None)
        try:
            try:
                other.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
            else:
                other.execute("ROLLBACK")
                raise AssertionError("a second writer got the lock while a transaction was open")
        finally:
            other.close()


def test_two_concurrent_intake_runs(fake_now, make_rt, tmp_path: Path, sqlite_url: str, season, monkeypatch) -> None:
    """Two intake runs over the same mailbox and shared folder at once: both finish, each application once."""
    from award.demo.generator import generate
    from award.demo.setup import deliver
    from award.inbound.sources import MaildirSource, fetch_mail, fetch_storage
    from award.intake import process_pending

    fake_now("2023-05-20T10:00:00+08:00")
    gen = generate(tmp_path / "gen", 6, 5, season=season, defect_share=0.0)
    deliver(tmp_path / "gen", tmp_path / "maildir", tmp_path / "shared")
    rt = make_rt(sqlite_url)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            for _ in range(2):
                with session_scope(sqlite_url) as s:
                    fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
                    fetch_storage(s, rt)
                with session_scope(sqlite_url) as s:
                    process_pending(s, rt)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, [f"{type(e).__name__}: {e}"[:300] for e in errors]
    with session_scope(sqlite_url) as s:
        keys = list(s.scalars(select(Application.submission_no)))
        assert len(keys) == len(set(keys)) == len(gen.applications)
        assert s.scalar(select(func.count()).select_from(InboundItem).where(InboundItem.status == "archived")) == 0

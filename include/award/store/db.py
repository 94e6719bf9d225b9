"""Engine, sessions and migrations of the domain store (SQLite file by default, any SQLAlchemy URL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def default_url() -> str:
    """The store URL: $AWARD_DB_URL, else a SQLite file under $AWARD_DATA_DIR (default ./var)."""
    url = os.environ.get("AWARD_DB_URL")
    if url:
        return url
    data_dir = Path(os.environ.get("AWARD_DATA_DIR", "var")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'award.db'}"


class StoreMissing(LookupError):
    """No domain store where the settings point: nothing was created."""

    def __init__(self, where: str, *, migrated: bool) -> None:
        super().__init__(where)
        self.where = where
        self.migrated = migrated


def existing_url() -> str:
    """The store URL like :func:`default_url`, but only if its SQLite file exists; creates nothing.

    Raises :class:`StoreMissing` when the SQLite file is absent. A server URL ($AWARD_DB_URL) is returned as is.
    """
    url = os.environ.get("AWARD_DB_URL")
    if url:
        return url
    path = Path(os.environ.get("AWARD_DATA_DIR", "var")).resolve() / "award.db"
    if not path.is_file():
        raise StoreMissing(str(path), migrated=False)
    return f"sqlite:///{path}"


SQLITE_BUSY_TIMEOUT_S = 300  # a writer waits this long for another (an intake batch holds the lock for seconds)


@lru_cache(maxsize=16)
def get_engine(url: str | None = None) -> Engine:
    """Create (once per URL and process) the engine.

    SQLite gets WAL (readers never wait for the writer), foreign keys, a busy timeout, and ``BEGIN IMMEDIATE``
    for every transaction: a deferred transaction that reads first and writes later cannot take the write lock
    once another process committed in between, and fails at once with ``database is locked`` (no busy wait).
    Taking the write lock at BEGIN makes concurrent runs queue behind each other instead.

    ``hide_parameters``: SQL errors never carry the bound values (applicants' phones, ID numbers) into logs.
    """
    url = url or default_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # the driver opens no transactions itself; "begin" below does
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error."""
    session = sessionmaker(get_engine(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str | None = None):  # type: ignore[no-untyped-def]
    """An Alembic Config pointing at the packaged migrations."""
    from alembic.config import Config  # noqa: PLC0415 - Alembic loads only to migrate, not in every session

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", (url or default_url()).replace("%", "%%"))
    return cfg


def migrate(url: str | None = None, revision: str = "heads") -> None:
    """Upgrade the store to ``revision`` (idempotent)."""
    from alembic import command  # noqa: PLC0415 - Alembic loads only to migrate, not in every session

    command.upgrade(alembic_config(url), revision)

"""Store fixtures: a fresh, migrated domain store on SQLite and, with ``db_url`` params, on PostgreSQL.

Each worker migrates one template store per backend once (Alembic takes about 0.8 s a store); each test then gets
a copy: the SQLite file copied, or a PostgreSQL database created from the template (``CREATE DATABASE ...
TEMPLATE``). Every test still starts from its own fresh store, as migrated by the real migrations.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite store per worker, checkpointed into its single file (WAL folded in)."""
    from award.store.db import get_engine, migrate

    path = tmp_path_factory.mktemp("store-template") / "award.db"
    url = f"sqlite:///{path}"
    migrate(url)
    get_engine(url).dispose()
    with sqlite3.connect(path) as conn:  # fold the write-ahead log into the file, so that one file is the store
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture()
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite store in a temporary folder (a copy of the worker's template)."""
    target = tmp_path / "award.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


def _require_pg() -> None:
    if not _pg_available():
        import os

        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")


@contextmanager
def _pg_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database on the machine's PostgreSQL (a copy of ``template`` when given), dropped afterwards."""
    from award.store.db import get_engine

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """One migrated PostgreSQL database per worker, used only as the template of each test's database."""
    _require_pg()
    from award.store.db import get_engine, migrate

    with _pg_database("award_tpl") as url:
        migrate(url)
        get_engine(url).dispose()  # a template must have no open connection when it is copied
        yield url.rsplit("/", 1)[1]


@pytest.fixture()
def pg_url(pg_template: str) -> Iterator[str]:
    """A migrated throwaway database on the machine's PostgreSQL (a copy of the worker's template; dropped after)."""
    with _pg_database("award_test", template=pg_template) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """Run a store test on both backends."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture()
def season():
    """The shipped 2023 season."""
    from award.config import load_season

    return load_season()

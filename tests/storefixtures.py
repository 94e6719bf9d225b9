"""Store fixtures: a fresh, migrated domain store on SQLite and, with ``db_url`` params, on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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


@pytest.fixture()
def sqlite_url(tmp_path) -> str:
    """A migrated SQLite store in a temporary folder."""
    from award.store.db import migrate

    url = f"sqlite:///{tmp_path / 'award.db'}"
    migrate(url)
    return url


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A migrated throwaway database on the machine's PostgreSQL (dropped afterwards)."""
    if not _pg_available():
        import os

        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    from award.store.db import get_engine, migrate

    name = f"award_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    try:
        migrate(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """Run a store test on both backends."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture()
def season():
    """The shipped 2023 season."""
    from award.config import load_season

    return load_season()

"""Desk fixtures: a seeded season on a fresh store with a local blob store."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from award.config import Season
from award.storage.blobs import LocalBlobStore
from award.storage.shared import LocalStorage
from award.store import session_scope
from tests.desk.seed import Seeded, seed_season


@dataclass
class Desk:
    """A seeded store: its URL, season, blob and shared storage, and what the seed wrote."""

    url: str
    season: Season
    blobs: LocalBlobStore
    shared: LocalStorage
    seeded: Seeded


@pytest.fixture()
def desk(db_url: str, season: Season, tmp_path) -> Desk:  # type: ignore[no-untyped-def]
    """Twelve applications in many states on SQLite and PostgreSQL."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    with session_scope(db_url) as session:
        seeded = seed_season(session, season, blobs)
    return Desk(db_url, season, blobs, LocalStorage(tmp_path / "shared"), seeded)

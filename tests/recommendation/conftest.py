"""Fixtures for the recommendation stage: a runtime on a fresh store with local blobs and shared storage."""

from __future__ import annotations

import pytest

from award.blobs import LocalBlobStore
from award.runtime import Runtime
from award.storage import LocalStorage


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):  # type: ignore[no-untyped-def]
    """The export day of the 2023 season (the national deadline is 2023-06-19 17:00)."""
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-06-12T10:00:00+08:00")


@pytest.fixture()
def make_rt(tmp_path, season):  # type: ignore[no-untyped-def]
    """Build a Runtime on a given store URL (blobs and shared storage in the test's temp folder)."""

    def build(url: str, season_obj=None) -> Runtime:  # type: ignore[no-untyped-def]
        return Runtime(season=season_obj or season, db_url=url, blobs=LocalBlobStore(tmp_path / "blobs"),
                       shared=LocalStorage(tmp_path / "shared"))

    return build


@pytest.fixture()
def rt(make_rt, sqlite_url):  # type: ignore[no-untyped-def]
    return make_rt(sqlite_url)

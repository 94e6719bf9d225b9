"""Fixtures for the recommendation stage: the export day's clock and a runtime on a fresh SQLite store."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def frozen_clock(fake_now):  # type: ignore[no-untyped-def]
    """The export day of the 2023 season (the national deadline is 2023-06-19 17:00)."""
    fake_now("2023-06-12T10:00:00+08:00")


@pytest.fixture()
def rt(make_rt, sqlite_url):  # type: ignore[no-untyped-def]
    return make_rt(sqlite_url)

"""Completeness in batches: the planner lists the pending ids in chunks; run_checks checks only the ids given."""

from __future__ import annotations

import json
import shutil
from functools import partial

import pytest
from sqlalchemy import select

from award.completeness.correction import plan_check_batches, run_checks
from award.storage.blobs import LocalBlobStore
from award.store import session_scope
from award.store.models import Application, CheckRun
from tests.completeness.helpers import load_generated


@pytest.fixture()
def three_apps(clean_set, tmp_path, sqlite_url, season, fake_now):  # type: ignore[no-untyped-def]
    """Three clean generated applications (sme, team, individual) in a fresh store; returns (sessions, blobs, ids)."""
    sub = tmp_path / "gen"
    entries = []
    for category in ("sme", "team", "individual"):
        root, entry = clean_set[category]
        for rel in entry["files"]:
            (sub / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, sub / rel)
        entries.append({**entry, "channel": "mail"})
    (sub / "manifest.json").write_text(json.dumps({"applications": entries, "city_letters": {}}), encoding="utf-8")
    blobs = LocalBlobStore(tmp_path / "blobs")
    sessions = partial(session_scope, sqlite_url)
    with sessions() as session:
        ids = sorted(load_generated(session, blobs, season, sub).values())
    return sessions, blobs, ids


def _checked(sessions) -> list[int]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return sorted(session.scalars(select(CheckRun.application_id)))


def test_plan_chunks_the_pending_ids(three_apps, season) -> None:  # type: ignore[no-untyped-def]
    sessions, _, (a, b, c) = three_apps
    assert plan_check_batches(sessions, season, batch_size=2) == [[a, b], [c]]
    assert plan_check_batches(sessions, season) == [[a, b, c]]
    assert plan_check_batches(sessions, season, batch_size=1, max_batches=2) == [[a, b], [c]]


def test_run_checks_with_ids_checks_only_those(three_apps, season) -> None:  # type: ignore[no-untyped-def]
    sessions, blobs, (a, b, c) = three_apps
    summary = run_checks(sessions, season, blobs.get_bytes, application_ids=[b, 10_000])  # unknown id: ignored
    assert summary.checked == 1 and summary.application_ids == [b]
    assert _checked(sessions) == [b]
    with sessions() as session:
        states = {i: session.get(Application, i).state for i in (a, b, c)}
    assert states == {a: "received", b: "complete", c: "received"}
    assert plan_check_batches(sessions, season, batch_size=2) == [[a, c]]

    # a retried batch does not check an application twice (it is no longer pending)
    assert run_checks(sessions, season, blobs.get_bytes, application_ids=[b]).checked == 0
    assert run_checks(sessions, season, blobs.get_bytes, application_ids=[]).checked == 0
    assert _checked(sessions) == [b]

    # None: every pending application, as before
    assert run_checks(sessions, season, blobs.get_bytes).application_ids == [a, c]
    assert _checked(sessions) == [a, b, c] and plan_check_batches(sessions, season) == []

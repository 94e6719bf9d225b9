"""The demo clock (issue 15 §1): read only under make run (AWARD_DEMO_CLOCK set), never on the production path;
the season's milestones that `award demo advance` moves it to; the counterparts' filled-in sheets."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest

from award import clock
from award.clock import TZ

DEMO_TIME = datetime(2020, 1, 2, 9, 0, tzinfo=TZ)


@pytest.fixture()
def clock_file(tmp_path: Path) -> Path:
    path = tmp_path / "var" / "demo" / "clock.json"
    clock.write_demo_clock(path, DEMO_TIME)
    return path


def test_the_production_path_ignores_a_clock_file(clock_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(clock_file.parents[2])  # a clock.json where make run keeps it, but no AWARD_DEMO_CLOCK
    monkeypatch.delenv("AWARD_FAKE_NOW", raising=False)
    assert clock.demo_clock_path() is None
    assert clock.now().year != 2020
    monkeypatch.setenv("AWARD_FAKE_NOW", "2026-05-20T10:00:00+08:00")
    assert clock.now() == datetime(2026, 5, 20, 10, 0, tzinfo=TZ)


def test_the_demo_clock_wins_when_it_is_on(clock_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWARD_FAKE_NOW", "2026-05-20T10:00:00+08:00")
    monkeypatch.setenv("AWARD_DEMO_CLOCK", str(clock_file))
    assert clock.now() == DEMO_TIME and clock.now().tzinfo == TZ
    clock.write_demo_clock(clock_file, datetime(2020, 3, 4, 17, 1))  # naive: Beijing time
    assert clock.now() == datetime(2020, 3, 4, 17, 1, tzinfo=TZ)
    clock_file.unlink()  # not set yet (make run before `award demo setup`): the fake clock, then the wall clock
    assert clock.now() == datetime(2026, 5, 20, 10, 0, tzinfo=TZ)


def test_no_demo_clock_leaks_into_a_test() -> None:
    import os

    assert "AWARD_DEMO_CLOCK" not in os.environ


def test_milestones_follow_the_season(sqlite_url: str, season, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from award.demo.milestones import MilestoneError, milestones, parse_target, reacting_dags, resolve
    from award.store import session_scope

    before = datetime(2023, 5, 20, 10, 0, tzinfo=TZ)
    with session_scope(sqlite_url) as session:
        known = {m.stage: m.at for m in milestones(session, season)}
        assert known["intake_deadline"] == datetime(2023, 5, 25, 17, 1, tzinfo=TZ)
        assert known["correction_end"] == datetime(2023, 5, 26, 8, 30, tzinfo=TZ)  # nothing to correct
        assert known["opinions_deadline"] is None and known["publicity_end"] is None  # no letter, no window yet
        assert known["national_deadline"] == season.dates.national_deadline
        assert resolve(session, season, before, None) == ("intake_deadline", known["intake_deadline"])
        after = known["intake_deadline"]
        assert resolve(session, season, after, None) == ("correction_end", known["correction_end"])
        assert resolve(session, season, before, "2023-06-01") == (None, datetime(2023, 6, 1, 9, 0, tzinfo=TZ))
        with pytest.raises(MilestoneError, match="not known yet"):
            resolve(session, season, before, "opinions_deadline")
        with pytest.raises(MilestoneError, match="before the demo clock"):
            resolve(session, season, after, "2023-05-01T08:00")
        with pytest.raises(MilestoneError, match="not a stage"):
            parse_target("tomorrow")
    assert reacting_dags("scores") == ("recommendation", "outbox")
    assert reacting_dags(None)[-1] == "outbox"


def test_advance_moves_the_clock_only_forward(sqlite_url: str, season, tmp_path: Path,  # type: ignore[no-untyped-def]
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from award.demo.milestones import MilestoneError
    from award.demo.play import advance
    from award.runtime import Runtime, blob_store, shared_storage

    path = tmp_path / "clock.json"
    clock.write_demo_clock(path, datetime(2023, 5, 20, 10, 0, tzinfo=TZ))
    monkeypatch.setenv("AWARD_DEMO_CLOCK", str(path))
    rt = Runtime(season=season, db_url=sqlite_url, blobs=blob_store(str(tmp_path / "blobs")),
                 shared=shared_storage(str(tmp_path / "shared")))
    moved = advance(rt, path, None, run=False)
    assert (moved["stage"], moved["runs"]) == ("intake_deadline", [])
    assert clock.now() == datetime(2023, 5, 25, 17, 1, tzinfo=TZ)
    with pytest.raises(MilestoneError):
        advance(rt, path, "2023-05-21", run=False)
    assert clock.now() == datetime(2023, 5, 25, 17, 1, tzinfo=TZ)


def test_the_agency_fills_in_the_office_score_sheet(season) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    from award.demo.counterparts import fill_scores, texts
    from award.recommendation.score_sheet import score_sheet_bytes

    rows = [["GS-2023-0001", "甲公司", "91620100MA0000001X", "企业"], ["GS-2023-0002", "乙公司", "", "企业"]]
    filled, count = fill_scores(score_sheet_bytes(season, rows), texts()["scores"])
    ws = load_workbook(io.BytesIO(filled)).worksheets[0]
    assert count == 2
    assert [[c.value for c in row] for row in ws.iter_rows(min_row=2)] == [
        ["GS-2023-0001", "甲公司", "91620100MA0000001X", "企业", 96.5], ["GS-2023-0002", "乙公司", None, "企业", 95.0]]


def test_award_demo_advance_moves_make_runs_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from award.cli import main
    from award.demo.setup import setup_demo
    from award.store.db import migrate

    for var in ("AWARD_DATA_DIR", "AWARD_SEASON_FILE", "AWARD_MAILDIR", "AWARD_DEMO_CLOCK"):  # restored afterwards
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    root = tmp_path / "var" / "demo"
    setup_demo(root, count=2, today=datetime(2026, 5, 20).date())
    migrate(f"sqlite:///{root / 'award.db'}")
    assert clock.read_demo_clock(root / "clock.json") == datetime(2026, 5, 20, 10, 0, tzinfo=TZ)
    assert main(["demo", "advance", "--no-run", "--root", str(root), "--json"]) == 0
    moved = json.loads(capsys.readouterr().out)
    assert (moved["stage"], moved["runs"]) == ("intake_deadline", [])
    assert clock.read_demo_clock(root / "clock.json") == datetime.fromisoformat(moved["at"])
    assert main(["demo", "advance", "--no-run", "--root", str(root), "--to", "2026-05-01"]) == 2  # backwards
    assert main(["demo", "advance", "--no-run", "--root", str(root), "--to", "correction_end"]) == 0
    assert "演示时钟：2026-05-28 08:30（correction_end）" in capsys.readouterr().out  # the next working day

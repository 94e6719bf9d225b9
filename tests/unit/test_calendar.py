"""Tests for award.calendar (Chinese working days) and the `award calendar` CLI."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from award.calendar import (
    DEFAULT_OVERRIDES_DIR,
    OVERRIDES_ENV,
    TZ,
    CalendarOverrideError,
    UnknownYearError,
    WorkCalendar,
    default_calendar,
)
from award.cli import main as cli_main

D = date.fromisoformat


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


OVERRIDE_2027 = """\
2027:
  complete: true
  source: test data, not the real 2027 schedule
  holidays:
    2027-01-01: 元旦
    2027-05-03: 劳动节
  workdays:
    2027-05-08: 劳动节
"""


@pytest.fixture
def override_2027(tmp_path: Path) -> Path:
    path = tmp_path / "cal-2027.yaml"
    path.write_text(OVERRIDE_2027, encoding="utf-8")
    return path


# --- 2023 statutory holidays -------------------------------------------------------------------


@pytest.mark.parametrize("day", ["2023-04-29", "2023-04-30", "2023-05-01", "2023-05-02", "2023-05-03"])
def test_may_day_2023_is_holiday(cal: WorkCalendar, day: str) -> None:
    info = cal.day_info(D(day))
    assert (info.workday, info.reason) == (False, "劳动节")


@pytest.mark.parametrize("day", ["2023-04-23", "2023-05-06", "2023-10-07", "2023-10-08"])
def test_adjusted_weekend_workdays_2023(cal: WorkCalendar, day: str) -> None:
    assert D(day).weekday() >= 5
    info = cal.day_info(D(day))
    assert (info.workday, info.reason) == (True, "调休上班")


def test_national_day_2023(cal: WorkCalendar) -> None:
    days = [D("2023-09-29") + timedelta(days=i) for i in range(8)]  # 09-29 .. 10-06
    infos = [cal.day_info(d) for d in days]
    assert not any(i.workday for i in infos)
    assert infos[0].reason == "中秋节"
    assert {i.reason for i in infos[1:]} == {"国庆节"}
    assert cal.is_workday(D("2023-09-28")) and cal.is_workday(D("2023-10-09"))


def test_plain_days(cal: WorkCalendar) -> None:
    assert cal.day_info(D("2023-03-18")).reason == "周末"
    assert cal.day_info(D("2023-03-17")).reason == "工作日"
    assert cal.day_info(D("2023-04-05")).reason == "清明节"
    assert cal.day_info(datetime(2023, 3, 17, 23, 0)).date == D("2023-03-17")


def test_2026_dates_work(cal: WorkCalendar) -> None:
    assert cal.day_info(D("2026-10-07")).reason == "国庆节"
    assert cal.day_info(D("2026-05-09")).reason == "调休上班"
    assert cal.add_workdays(D("2026-09-30"), 2) == D("2026-10-08")


# --- arithmetic --------------------------------------------------------------------------------


def test_add_workdays_counts_start_when_working(cal: WorkCalendar) -> None:
    assert cal.add_workdays(D("2023-03-13"), 1) == D("2023-03-13")  # Monday
    assert cal.add_workdays(D("2023-03-13"), 5) == D("2023-03-17")
    assert cal.add_workdays(D("2023-03-18"), 1) == D("2023-03-20")  # Saturday -> Monday
    assert cal.add_workdays(D("2023-05-01"), 1) == D("2023-05-04")  # holiday -> next working day
    assert cal.add_workdays(D("2023-04-28"), 2) == D("2023-05-04")
    assert cal.add_workdays(D("2023-04-22"), 1) == D("2023-04-23")  # adjusted Sunday


def test_workdays_before_and_subtract(cal: WorkCalendar) -> None:
    assert cal.workdays_before(D("2023-05-10"), 2) == D("2023-05-08")  # Wed due -> Mon reminder
    assert cal.workdays_before(D("2023-05-04"), 1) == D("2023-04-28")
    assert cal.workdays_before(D("2023-05-08"), 1) == D("2023-05-06")  # adjusted Saturday
    assert cal.subtract_workdays(D("2023-10-09"), 3) == D("2023-09-28")


def test_next_workday(cal: WorkCalendar) -> None:
    assert cal.next_workday(D("2023-04-28")) == D("2023-05-04")
    assert cal.next_workday(D("2023-04-28"), inclusive=True) == D("2023-04-28")
    assert cal.next_workday(D("2023-04-22")) == D("2023-04-23")
    assert cal.workdays_after(D("2023-04-27"), 2) == D("2023-05-04")


def test_workdays_between(cal: WorkCalendar) -> None:
    days = cal.workdays_between(D("2023-04-24"), D("2023-05-07"))
    assert days[-3:] == [D("2023-05-04"), D("2023-05-05"), D("2023-05-06")]
    assert cal.count_workdays(D("2023-04-24"), D("2023-05-07")) == 8
    assert cal.count_workdays(D("2023-04-29"), D("2023-04-29")) == 0
    with pytest.raises(ValueError, match="before start"):
        cal.workdays_between(D("2023-05-07"), D("2023-04-24"))


@pytest.mark.parametrize("n", [0, -1])
def test_n_must_be_positive(cal: WorkCalendar, n: int) -> None:
    with pytest.raises(ValueError, match="n must be"):
        cal.add_workdays(D("2023-03-13"), n)
    with pytest.raises(ValueError, match="n must be"):
        cal.window(datetime(2023, 3, 13, 9), n)


# --- publicity windows -------------------------------------------------------------------------


def test_window_friday_after_cutoff_starts_monday(cal: WorkCalendar) -> None:
    win = cal.window(datetime(2023, 3, 17, 14, 30), 5)
    assert win.start == D("2023-03-20")
    assert win.end == D("2023-03-24")
    assert win.workdays == [D("2023-03-20") + timedelta(days=i) for i in range(5)]
    assert win.end_at == datetime(2023, 3, 24, 23, 59, 59, 999999, tzinfo=TZ)


def test_window_before_cutoff_counts_opening_day(cal: WorkCalendar) -> None:
    win = cal.window(datetime(2023, 3, 17, 11, 59), 5)
    assert (win.start, win.end) == (D("2023-03-17"), D("2023-03-23"))
    at_cutoff = cal.window(datetime(2023, 3, 17, 12, 0), 5)
    assert at_cutoff.start == D("2023-03-20")
    late_cutoff = cal.window(datetime(2023, 3, 17, 14, 0), 5, cutoff=time(17, 30))
    assert late_cutoff.start == D("2023-03-17")


def test_window_on_adjusted_sunday_counts_it(cal: WorkCalendar) -> None:
    win = cal.window(datetime(2023, 4, 23, 9, 0), 5)
    assert win.workdays == [D("2023-04-23"), D("2023-04-24"), D("2023-04-25"), D("2023-04-26"), D("2023-04-27")]


def test_window_across_may_day_2023(cal: WorkCalendar) -> None:
    win = cal.window(datetime(2023, 4, 27, 10, 0), 5)
    assert win.workdays == [D("2023-04-27"), D("2023-04-28"), D("2023-05-04"), D("2023-05-05"), D("2023-05-06")]
    assert win.end == D("2023-05-06")  # the adjusted Saturday counts


def test_window_across_national_day_2023(cal: WorkCalendar) -> None:
    win = cal.window(datetime(2023, 9, 27, 10, 0), 5)
    assert win.workdays == [D("2023-09-27"), D("2023-09-28"), D("2023-10-07"), D("2023-10-08"), D("2023-10-09")]
    assert win.end_at.date() == D("2023-10-09")


def test_window_opened_during_holiday(cal: WorkCalendar) -> None:
    win = cal.window(datetime(2023, 10, 2, 9, 0), 5)
    assert (win.start, win.end) == (D("2023-10-07"), D("2023-10-11"))


def test_window_aware_datetimes_are_converted(cal: WorkCalendar) -> None:
    morning = cal.window(datetime(2023, 3, 17, 3, 0, tzinfo=UTC), 1)  # 11:00 in Shanghai
    assert morning.start == D("2023-03-17")
    assert morning.opened_at == datetime(2023, 3, 17, 11, 0, tzinfo=TZ)
    afternoon = cal.window(datetime(2023, 3, 17, 5, 0, tzinfo=UTC), 1)  # 13:00
    assert afternoon.start == D("2023-03-20")
    late_utc = cal.window(datetime(2023, 3, 16, 23, 0, tzinfo=UTC), 1)  # Fri 07:00 local
    assert late_utc.start == D("2023-03-17")


def test_window_rejects_plain_date(cal: WorkCalendar) -> None:
    with pytest.raises(TypeError, match="opened_at"):
        cal.window(D("2023-03-17"), 5)  # type: ignore[arg-type]


# --- correction deadline -----------------------------------------------------------------------


def test_correction_deadline(cal: WorkCalendar) -> None:
    # notified Thursday 04-27: 04-28, 05-04, 05-05, 05-06 (adjusted), 05-08
    assert cal.correction_deadline(D("2023-04-27"), 5, hard_limit=D("2023-05-25")) == D("2023-05-08")
    assert cal.correction_deadline(D("2023-04-27"), 5, hard_limit=D("2023-05-05")) == D("2023-05-05")
    assert cal.correction_deadline(D("2023-05-26"), 5, hard_limit=D("2023-05-25")) == D("2023-05-25")


def test_correction_deadline_hard_limit_avoids_unknown_year(cal: WorkCalendar) -> None:
    assert cal.correction_deadline(D("2026-12-28"), 10, hard_limit=D("2026-12-31")) == D("2026-12-31")
    with pytest.raises(UnknownYearError):
        cal.correction_deadline(D("2026-12-28"), 10, hard_limit=D("2027-02-01"))


# --- unknown years and overrides ---------------------------------------------------------------


def test_unknown_year_raises_clear_error(cal: WorkCalendar) -> None:
    with pytest.raises(UnknownYearError) as excinfo:
        cal.is_workday(D("2027-03-01"))
    assert excinfo.value.year == 2027
    message = str(excinfo.value)
    assert "2027" in message and "2004-2026" in message and "override" in message
    with pytest.raises(UnknownYearError):
        cal.add_workdays(D("2026-12-31"), 2)  # runs into 2027
    with pytest.raises(UnknownYearError, match="2003"):
        cal.is_workday(D("2003-06-02"))
    assert not cal.is_known_year(2027) and cal.is_known_year(2026)


def test_override_makes_2027_known(override_2027: Path) -> None:
    cal = WorkCalendar([override_2027])
    assert cal.is_known_year(2027) and 2027 in cal.known_years()
    assert cal.day_info(D("2027-01-01")).reason == "元旦"
    assert cal.day_info(D("2027-05-03")).workday is False  # Monday holiday
    assert cal.day_info(D("2027-05-08")).reason == "调休上班"  # Saturday workday
    assert cal.day_info(D("2027-05-09")).reason == "周末"
    assert cal.day_info(D("2027-05-10")).reason == "工作日"
    assert cal.add_workdays(D("2026-12-31"), 2) == D("2027-01-04")
    assert override_2027 in cal.override_files


def test_env_overrides_feed_default_calendar(override_2027: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDES_ENV, str(override_2027.parent))
    default_calendar.cache_clear()
    try:
        assert default_calendar().is_workday(D("2027-01-04"))
    finally:
        default_calendar.cache_clear()


def test_shipped_sample_matches_library_and_is_not_loaded(tmp_path: Path, cal: WorkCalendar) -> None:
    sample = DEFAULT_OVERRIDES_DIR / "example.yaml.sample"
    assert sample.is_file()
    assert all(p.suffix in {".yaml", ".yml"} for p in cal.override_files)
    copy = tmp_path / "2023.yaml"
    shutil.copy(sample, copy)
    from_file = WorkCalendar([copy], default_dir=None)
    for i in range(365):
        day = D("2023-01-01") + timedelta(days=i)
        assert from_file.day_info(day) == cal.day_info(day), day


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("2027:\n  holidays: {2027-01-01: 元旦}\n", r"2027\.complete"),
        ("2027:\n  complete: true\n  holidays: {2026-12-31: 元旦}\n", "not in year 2027"),
        ("2027:\n  complete: true\n  holidays: {2027-01-01: 元旦}\n  workdays: {2027-01-01: x}\n", "both"),
        ("2027:\n  complete: true\n  holiday: {2027-01-01: 元旦}\n", "unknown key"),
        ("2027:\n  complete: true\n  holidays: {not-a-date: 元旦}\n", "expected a date"),
        ("2027:\n  complete: true\n  holidays: {2027-01-01: ''}\n", "non-empty"),
        ("twenty: {complete: true}\n", "must be years"),
        ("- 2027\n", "expected a mapping"),
        ("2027: [\n", "not valid YAML"),
    ],
)
def test_bad_override_files_name_the_file(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CalendarOverrideError, match=match) as excinfo:
        WorkCalendar([path], default_dir=None)
    assert str(path) in str(excinfo.value)


def test_conflicting_override_files(tmp_path: Path, override_2027: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("2027:\n  complete: true\n  holidays: {2027-01-01: 元旦}\n", encoding="utf-8")
    with pytest.raises(CalendarOverrideError, match="conflicts"):
        WorkCalendar([override_2027, other], default_dir=None)
    same = tmp_path / "same.yml"
    same.write_text(OVERRIDE_2027, encoding="utf-8")
    WorkCalendar([override_2027, same], default_dir=None)  # identical definitions are fine


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarOverrideError, match="not found"):
        WorkCalendar([tmp_path / "nope.yaml"])


# --- CLI ---------------------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = cli_main(["calendar", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_cli_add_workdays(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "add-workdays", "2023-04-28", "2")
    assert code == 0
    assert out == {"start": "2023-04-28", "n": 2, "end": "2023-05-04"}


def test_cli_is_workday(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "is-workday", "2023-10-07") == (
        0,
        {"date": "2023-10-07", "workday": True, "reason": "调休上班"},
    )
    assert _run(capsys, "is-workday", "2023-10-02")[1]["reason"] == "国庆节"


def test_cli_window(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "window", "2023-04-27", "5")
    assert code == 0
    assert (out["start"], out["end"]) == ("2023-04-27", "2023-05-06")
    assert out["workdays"] == ["2023-04-27", "2023-04-28", "2023-05-04", "2023-05-05", "2023-05-06"]
    code, out = _run(capsys, "window", "2023-03-17", "5", "--at", "14:00")
    assert (out["start"], out["end"]) == ("2023-03-20", "2023-03-24")
    code, out = _run(capsys, "window", "2023-03-17", "1", "--at", "14:00", "--cutoff", "15:00")
    assert out["workdays"] == ["2023-03-17"]


def test_cli_overrides_option(capsys: pytest.CaptureFixture[str], override_2027: Path) -> None:
    code, out = _run(capsys, "is-workday", "2027-01-01", "--overrides", str(override_2027))
    assert (code, out["reason"]) == (0, "元旦")


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["is-workday", "2027-03-01"], "DATE"),
        (["is-workday", "2023-02-30"], "DATE"),
        (["add-workdays", "2023-04-28", "0"], "N"),
        (["add-workdays", "2023-04-28", "two"], "N"),
        (["window", "2027-03-01", "5"], "START"),
        (["window", "2023-03-01", "5", "--at", "25:00"], "at"),
    ],
)
def test_cli_bad_input_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], field: str) -> None:
    code, out = _run(capsys, *argv)
    assert code == 2
    assert out["field"] == field and out["error"]

"""Tests for the WorkdayTimetable plugin (plugins/workday_timetable.py).

tests/conftest.py points AIRFLOW__CORE__PLUGINS_FOLDER at plugins/ and puts it on sys.path, as
Airflow does; the plugin module is therefore ``workday_timetable``, the name Airflow registers it by.
"""

from __future__ import annotations

import json
import logging
import textwrap
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from airflow import plugins_manager
from airflow.timetables.base import DataInterval, TimeRestriction

# Load the plugins first: the plugins manager (re)executes plugins/*.py into sys.modules, so the
# class imported below is the very one Airflow registered.
REGISTERED = plugins_manager.get_timetables_plugins()

import workday_timetable  # noqa: E402
from workday_timetable import WorkdayTimetable  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")


def at(value: str) -> datetime:
    """A Shanghai wall-clock time, e.g. at('2023-03-17 10:00')."""
    return datetime.fromisoformat(value).replace(tzinfo=SH)


def nine(day: str) -> datetime:
    return at(f"{day} 09:00")


def next_run(
    tt: WorkdayTimetable,
    *,
    last: datetime | None = None,
    earliest: datetime | None = None,
    latest: datetime | None = None,
    catchup: bool = True,
) -> datetime | None:
    interval = DataInterval.exact(last) if last is not None else None
    info = tt.next_dagrun_info(
        last_automated_data_interval=interval,
        restriction=TimeRestriction(earliest=earliest, latest=latest, catchup=catchup),
    )
    if info is None:
        return None
    assert info.run_after.utcoffset() is not None
    assert info.data_interval == DataInterval.exact(info.run_after)
    return info.run_after


@pytest.fixture
def tt() -> WorkdayTimetable:
    return WorkdayTimetable()


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch):
    def freeze(value: datetime) -> None:
        monkeypatch.setattr(workday_timetable, "_utcnow", lambda: value)

    return freeze


def test_registered_with_airflow() -> None:
    assert REGISTERED["workday_timetable.WorkdayTimetable"] is WorkdayTimetable


def test_friday_after_run_time_goes_to_monday(tt: WorkdayTimetable) -> None:
    assert next_run(tt, earliest=at("2023-03-17 10:00")) == nine("2023-03-20")
    assert next_run(tt, last=nine("2023-03-17")) == nine("2023-03-20")


def test_before_run_time_same_day(tt: WorkdayTimetable) -> None:
    assert next_run(tt, earliest=at("2023-03-17 08:00")) == nine("2023-03-17")
    assert next_run(tt, earliest=nine("2023-03-17")) == nine("2023-03-17")


def test_adjusted_sunday_is_scheduled(tt: WorkdayTimetable) -> None:
    assert next_run(tt, earliest=at("2023-04-21 10:00")) == nine("2023-04-23")


def test_sequence_across_may_day_2023(tt: WorkdayTimetable) -> None:
    runs: list[datetime] = []
    last: datetime | None = None
    for _ in range(7):
        last = next_run(tt, last=last, earliest=at("2023-04-27 00:00"))
        assert last is not None
        runs.append(last)
    days = ["2023-04-27", "2023-04-28", "2023-05-04", "2023-05-05", "2023-05-06", "2023-05-08", "2023-05-09"]
    assert runs == [nine(d) for d in days]


def test_end_date_stops_scheduling(tt: WorkdayTimetable) -> None:
    assert next_run(tt, last=nine("2023-04-28"), latest=at("2023-05-03 23:59")) is None
    assert next_run(tt, last=nine("2023-04-28"), latest=nine("2023-05-04")) == nine("2023-05-04")


def test_other_time_and_timezone() -> None:
    tt = WorkdayTimetable(at="17:30")
    assert next_run(tt, earliest=at("2023-04-28 18:00")) == at("2023-05-04 17:30")
    utc_tt = WorkdayTimetable(at=time(1, 0), timezone="UTC")
    assert next_run(utc_tt, earliest=datetime(2023, 3, 17, 2, 0, tzinfo=ZoneInfo("UTC"))) == datetime(
        2023, 3, 20, 1, 0, tzinfo=ZoneInfo("UTC")
    )


def test_no_catchup_runs_latest_missed_slot(tt: WorkdayTimetable, frozen_now) -> None:
    frozen_now(at("2023-05-05 15:00"))
    assert next_run(tt, last=nine("2023-04-27"), earliest=at("2023-01-01 00:00"), catchup=False) == nine(
        "2023-05-05"
    )
    frozen_now(at("2023-05-07 15:00"))  # an ordinary Sunday: the latest slot was Saturday's 调休
    assert next_run(tt, last=nine("2023-05-06"), catchup=False) == nine("2023-05-08")


def test_no_catchup_future_start_date(tt: WorkdayTimetable, frozen_now) -> None:
    frozen_now(at("2023-03-01 10:00"))
    assert next_run(tt, earliest=at("2023-04-29 00:00"), catchup=False) == nine("2023-05-04")


def test_no_start_date_schedules_from_now(tt: WorkdayTimetable, frozen_now) -> None:
    frozen_now(at("2023-09-28 10:00"))
    assert next_run(tt, catchup=True) == nine("2023-10-07")


def test_unknown_year_stops_with_warning(tt: WorkdayTimetable, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="workday_timetable"):
        assert next_run(tt, last=nine("2026-12-31")) is None
    assert "2027" in caplog.text


def test_override_file_extends_schedule(tmp_path: Path) -> None:
    override = tmp_path / "2027.yaml"
    override.write_text("2027:\n  complete: true\n  holidays:\n    2027-01-01: 元旦\n", encoding="utf-8")
    tt = WorkdayTimetable(overrides=[str(override)])
    assert next_run(tt, last=nine("2026-12-31")) == nine("2027-01-04")


def test_manual_interval_is_exact(tt: WorkdayTimetable) -> None:
    from airflow._shared.timezones.timezone import coerce_datetime

    when = coerce_datetime(at("2023-05-01 11:00"))
    assert tt.infer_manual_data_interval(run_after=when) == DataInterval(when, when)


def test_serialize_round_trip(tmp_path: Path) -> None:
    tt = WorkdayTimetable(at="08:30", overrides=[str(tmp_path / "x.yaml")])
    data = json.loads(json.dumps(tt.serialize()))
    assert data == {"at": "08:30:00", "timezone": "Asia/Shanghai", "overrides": [str(tmp_path / "x.yaml")]}
    assert WorkdayTimetable.deserialize(data) == tt
    assert WorkdayTimetable.deserialize(WorkdayTimetable().serialize()) == WorkdayTimetable()
    assert tt.summary == "工作日 08:30（北京时间）"
    assert "北京时间" in tt.description and "Asia" not in tt.description
    assert "08:30" in tt.description


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone"):
        WorkdayTimetable(timezone="Mars/Base")
    with pytest.raises(ValueError, match="at="):
        WorkdayTimetable(at="nine")


DAG_FILE = """
from datetime import datetime, time

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from workday_timetable import WorkdayTimetable

with DAG(
    dag_id="{dag_id}",
    start_date=datetime(2023, 4, 1),
    schedule=WorkdayTimetable(at=time(9, 0), overrides={overrides!r}),
    catchup=False,
):
    EmptyOperator(task_id="noop")
"""


def _dagbag(folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


def _is_workday(timetable: object) -> bool:
    """By name: the plugin loader may have imported plugins/workday_timetable.py a second time (another class)."""
    return type(timetable).__qualname__ == "WorkdayTimetable" and type(timetable).__module__.endswith(
        "workday_timetable")


def test_dag_loads_and_serialises(tmp_path: Path) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    (tmp_path / "workday_dag.py").write_text(
        textwrap.dedent(DAG_FILE.format(dag_id="workday_probe", overrides=[])), encoding="utf-8"
    )
    bag = _dagbag(tmp_path)
    assert bag.import_errors == {}
    dag = bag.dags["workday_probe"]
    assert _is_workday(dag.timetable)

    serialized = json.loads(json.dumps(DagSerialization.to_dict(dag)))
    assert serialized["dag"]["timetable"]["__type"] == "workday_timetable.WorkdayTimetable"
    restored = DagSerialization.from_dict(serialized)
    assert _is_workday(restored.timetable)
    assert restored.timetable == dag.timetable
    info = restored.timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval.exact(nine("2023-04-28")),
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    assert info is not None and info.run_after == nine("2023-05-04")
    # the backfill path
    backfill = restored.iter_dagrun_infos_between(at("2023-04-28 00:00"), at("2023-05-08 23:00"))
    assert [i.run_after for i in backfill] == [
        nine(d) for d in ["2023-04-28", "2023-05-04", "2023-05-05", "2023-05-06", "2023-05-08"]
    ]


def test_dag_with_missing_override_file_is_an_import_error(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    missing = str(tmp_path / "missing.yaml")
    (dags / "bad_dag.py").write_text(
        textwrap.dedent(DAG_FILE.format(dag_id="workday_bad", overrides=[missing])), encoding="utf-8"
    )
    bag = _dagbag(dags)
    assert "workday_bad" not in bag.dags
    assert any("missing.yaml" in err for err in bag.import_errors.values())


def test_start_date_is_not_a_workday(tt: WorkdayTimetable) -> None:
    start = datetime.combine(date(2023, 10, 1), time(0, 0), tzinfo=SH)
    assert next_run(tt, earliest=start) == nine("2023-10-07")
    assert next_run(tt, earliest=start + timedelta(days=6, hours=10)) == nine("2023-10-08")

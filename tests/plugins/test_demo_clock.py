"""``ClockDateTimeSensorAsync`` (plugins/demo_clock.py): a DateTimeSensorAsync on the wall clock in production; under
make run's demo clock it ends when the demo clock reaches the target, held by ``DemoClockTrigger`` in the triggerer."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from airflow.providers.standard.triggers.temporal import DateTimeTrigger

from award.clock import TZ, write_demo_clock

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # pragma: no cover - older layout
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined]

from demo_clock import CLASSPATH, ClockDateTimeSensorAsync, DemoClockTrigger  # noqa: E402

TARGET = "2026-06-05T17:00:00+08:00"


def _sensor() -> ClockDateTimeSensorAsync:
    return ClockDateTimeSensorAsync(task_id="wait_for_end", target_time=TARGET)


def test_production_waits_for_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWARD_FAKE_NOW", "2026-07-01T10:00:00+08:00")  # not the sensor's business: the wall clock
    with pytest.raises(TaskDeferred) as deferred:
        _sensor().execute({})
    assert isinstance(deferred.value.trigger, DateTimeTrigger)


def test_demo_clock_before_the_target_defers_to_the_clock_trigger(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clock.json"
    write_demo_clock(path, datetime(2026, 6, 1, 9, 0, tzinfo=TZ))
    monkeypatch.setenv("AWARD_DEMO_CLOCK", str(path))
    with pytest.raises(TaskDeferred) as deferred:
        _sensor().execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, DemoClockTrigger)
    assert trigger.serialize() == (CLASSPATH, {"moment": datetime.fromisoformat(TARGET).isoformat(),
                                               "clock_file": str(path), "poll_interval": 2.0})


def test_demo_clock_past_the_target_ends_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clock.json"
    write_demo_clock(path, datetime(2026, 6, 5, 17, 1, tzinfo=TZ))
    monkeypatch.setenv("AWARD_DEMO_CLOCK", str(path))
    assert _sensor().execute({}) is None


def test_the_trigger_fires_once_the_clock_is_advanced(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    write_demo_clock(path, datetime(2026, 6, 1, 9, 0, tzinfo=TZ))
    trigger = DemoClockTrigger(moment=TARGET, clock_file=str(path), poll_interval=0.01)

    async def first_event() -> object:
        events = trigger.run()
        pending = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.05)
        assert not pending.done()  # the demo clock is before the target: still waiting
        write_demo_clock(path, datetime(2026, 6, 5, 17, 0, tzinfo=TZ))  # award demo advance
        return await asyncio.wait_for(pending, timeout=30)

    event = asyncio.run(first_event())
    assert event.payload["status"] == "success"  # type: ignore[attr-defined]

"""Waits that end at a season date and follow the demo clock under ``make run`` (``award demo advance``).

``ClockDateTimeSensorAsync`` is a ``DateTimeSensorAsync``: in production (``AWARD_DEMO_CLOCK`` unset) it is exactly
that, a deferred wait for the wall clock to reach ``target_time``. Under ``make run`` the demo clock
(``award.clock``, the file named by ``AWARD_DEMO_CLOCK``) decides: the task defers to ``DemoClockTrigger``, which the
triggerer runs, reading the clock file every few seconds, and which fires once the demo clock reaches the target, so
that advancing the season ends the wait without a worker slot being held.

Airflow loads files in the plugins folder as top-level modules: the trigger's class path is
``demo_clock.DemoClockTrigger``. Kept cheap at import (DAG files import it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.triggers.base import BaseTrigger, TriggerEvent

from award.clock import DEMO_CLOCK_VAR as CLOCK_VAR

CLASSPATH = "demo_clock.DemoClockTrigger"


class DemoClockTrigger(BaseTrigger):
    """Fires when the demo clock in ``clock_file`` reaches ``moment`` (an ISO datetime with its zone)."""

    def __init__(self, moment: str, clock_file: str, poll_interval: float = 2.0) -> None:
        super().__init__()
        self.moment = moment
        self.clock_file = clock_file
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {"moment": self.moment, "clock_file": self.clock_file, "poll_interval": self.poll_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from pathlib import Path

        from award.clock import read_demo_clock

        target = datetime.fromisoformat(self.moment)
        path = Path(self.clock_file)
        while True:
            current = read_demo_clock(path)
            if current is not None and current >= target:
                self.log.info("demo clock %s reached %s", current.isoformat(), self.moment)
                yield TriggerEvent({"status": "success", "moment": self.moment, "demo_now": current.isoformat()})
                return
            await asyncio.sleep(self.poll_interval)


class ClockDateTimeSensorAsync(DateTimeSensorAsync):
    """``DateTimeSensorAsync`` whose target is measured against the demo clock when the demo clock is on."""

    def execute(self, context: Any) -> None:
        clock_file = os.environ.get(CLOCK_VAR, "").strip()
        if not clock_file:
            super().execute(context)
            return
        from award.clock import now

        target = self._moment
        if now() >= target:
            self.log.info("demo clock %s is past %s: done", now().isoformat(), target.isoformat())
            return
        self.log.info("waiting for the demo clock (%s) to reach %s (award demo advance)", clock_file,
                      target.isoformat())
        self.defer(method_name="execute_complete",
                   trigger=DemoClockTrigger(moment=target.isoformat(), clock_file=clock_file))

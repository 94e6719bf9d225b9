"""Airflow plugin: ``BeijingCronTimetable``, Airflow's ``CronTriggerTimetable`` in Beijing time, told in Chinese.

Airflow describes a cron schedule with ``cron_descriptor`` in the process's locale (English on a server without
zh_CN) and summarises it as the bare expression, so the UI's schedule column read ``*/15 * * * *`` and its tooltip
"Every 15 minutes". This timetable runs exactly like ``CronTriggerTimetable`` (same serialised fields), always in a
named zone (Asia/Shanghai by default), and reads e.g. 「每 15 分钟（北京时间）」.

Like ``workday_timetable``, Airflow loads this file as a top-level module; DAG files import it as::

    from beijing_cron import BeijingCronTimetable
"""

from __future__ import annotations

import datetime
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.trigger import CronTriggerTimetable

DEFAULT_TIMEZONE = "Asia/Shanghai"
ZONE_NAMES = {"Asia/Shanghai": "北京时间"}


def describe(expression: str) -> str:
    """A cron expression in Chinese (cron_descriptor's zh_CN catalogue), or the expression when it has no words."""
    from cron_descriptor import CasingTypeEnum, ExpressionDescriptor  # type: ignore[import-untyped]

    try:
        return str(ExpressionDescriptor(expression, casing_type=CasingTypeEnum.Sentence, use_24hour_time_format=True,
                                        locale_code="zh_CN").get_description())
    except Exception:  # noqa: BLE001 - a description is only a label; the schedule itself is checked by croniter
        return expression


class BeijingCronTimetable(CronTriggerTimetable):
    """``CronTriggerTimetable`` whose zone defaults to Asia/Shanghai and whose texts are Chinese."""

    def __init__(self, cron: str, *, timezone: Any = DEFAULT_TIMEZONE,
                 interval: Any = datetime.timedelta(), run_immediately: bool | datetime.timedelta = False) -> None:
        super().__init__(cron, timezone=timezone, interval=interval, run_immediately=run_immediately)
        zone = str(getattr(self._timezone, "name", self._timezone))
        self.description = f"{describe(cron)}（{ZONE_NAMES.get(zone, zone)}）"

    @property
    def summary(self) -> str:
        """The schedule column's text."""
        return self.description


class BeijingCronTimetablePlugin(AirflowPlugin):
    """Registers :class:`BeijingCronTimetable` so serialised DAGs can be deserialised."""

    name = "beijing_cron"
    timetables = [BeijingCronTimetable]

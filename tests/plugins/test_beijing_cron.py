"""BeijingCronTimetable (issue 15 §6, schedules read as Beijing times): runs as Airflow's CronTriggerTimetable,
reads in Chinese with the zone named, and survives DAG serialisation (registered by its plugin)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from airflow import plugins_manager
from airflow.timetables.trigger import CronTriggerTimetable

plugins_manager.ensure_plugins_loaded()  # the class below is the one Airflow registered

from beijing_cron import BeijingCronTimetable, describe  # noqa: E402

DAG_FILE = """
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from beijing_cron import BeijingCronTimetable

with DAG(dag_id="beijing_cron_probe", start_date=datetime(2023, 4, 1), catchup=False,
         schedule=BeijingCronTimetable("30 8 * * *")):
    EmptyOperator(task_id="noop")
"""


def test_reads_in_chinese_with_beijing_time() -> None:
    tt = BeijingCronTimetable("*/15 * * * *")
    assert tt.summary == tt.description == "每 15 分钟（北京时间）"
    assert not re.search(r"[A-Za-z]{3,}", tt.summary)
    assert describe("30 8 * * *").startswith("在 08:30")
    assert BeijingCronTimetable("0 9 * * *", timezone="UTC").summary.endswith("（UTC）")


def test_runs_as_the_cron_trigger_timetable() -> None:
    ours, airflows = BeijingCronTimetable("*/15 * * * *"), CronTriggerTimetable("*/15 * * * *", timezone="Asia/Shanghai")
    assert ours.serialize() == airflows.serialize()
    assert ours == airflows  # expression and zone


def test_dag_serialises_and_comes_back(tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    (tmp_path / "probe.py").write_text(textwrap.dedent(DAG_FILE), encoding="utf-8")
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    dag = bag.dags["beijing_cron_probe"]
    serialized = json.loads(json.dumps(DagSerialization.to_dict(dag)))
    assert serialized["dag"]["timetable"]["__type"] == "beijing_cron.BeijingCronTimetable"
    restored = DagSerialization.from_dict(serialized).timetable
    assert type(restored).__name__ == "BeijingCronTimetable"
    # (compared by fields: the plugin loader may have executed plugins/beijing_cron.py again, another class)
    assert restored.summary == "在 08:30（北京时间）" and restored.serialize() == dag.timetable.serialize()

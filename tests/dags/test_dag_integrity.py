"""Every DAG file imports cleanly and follows the house rules (Astronomer-style DAG integrity test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
# award.checks is not listed: award.config imports it to validate rule ids; it stays light (see tests/checks).
HEAVY = ["pandas", "docx", "openpyxl", "reportlab", "lxml", "yagmail", "award.store.models", "award.forms",
         "award.intake", "award.opinions", "award.publicity", "award.ranking", "award.package"]


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    """The DAGs as production parses them (the suite sets AWARD_TASK_RETRIES=0 for dag.test(); not here)."""
    from airflow.dag_processing.dagbag import DagBag

    saved = os.environ.pop("AWARD_TASK_RETRIES", None)
    try:
        return DagBag(dag_folder=str(DAGS))
    finally:
        if saved is not None:
            os.environ["AWARD_TASK_RETRIES"] = saved


def test_every_dag_file_imports(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG found"


def test_expected_dags_present(dagbag) -> None:  # type: ignore[no-untyped-def]
    present = set(dagbag.dag_ids)
    assert "outbox" in present
    for dag_id in ("intake", "completeness", "opinions", "publicity", "recommendation"):
        if (DAGS / f"{dag_id}.py").exists():
            assert dag_id in present


def _timezone_name(dag) -> str:  # type: ignore[no-untyped-def]
    timetable = dag.timetable
    tz = getattr(timetable, "_timezone", None) or getattr(timetable, "timezone", None)
    if tz is None:  # asset-or-time: the inner timetable's zone
        inner = getattr(timetable, "timetable", None)
        tz = getattr(inner, "_timezone", None) or getattr(inner, "timezone", None)
    if tz is None:  # asset-triggered or manual: the DAG's zone (from its start date; DagBag keeps start_date in UTC)
        tz = getattr(dag, "timezone", None) or (dag.start_date.tzinfo if dag.start_date else None)
    return str(getattr(tz, "name", tz))


def test_house_rules(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from award.config import load_season

    ops = str(load_season().recommending_unit.ops_email)
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "cqa" in dag.tags, f"{dag_id}: tags"
        assert dag.description, f"{dag_id}: a description for ops"
        assert _timezone_name(dag) == "Asia/Shanghai", f"{dag_id}: schedule zone is {_timezone_name(dag)}"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id}: owner"
            assert task.retries >= 1 or getattr(task, "is_hitl", False) or "hitl" in type(task).__module__, (
                f"{dag_id}.{task.task_id}: retries"
            )
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            notifiers = [c for c in callbacks if isinstance(c, SmtpNotifier)]
            assert notifiers, f"{dag_id}.{task.task_id}: no SmtpNotifier failure notice"
            assert ops in json.dumps(notifiers[0].to), f"{dag_id}.{task.task_id}: notice not sent to ops"


@pytest.mark.parametrize("path", sorted(p.name for p in DAGS.glob("*.py") if p.name != "pipeline_common.py"))
def test_no_heavy_imports_at_parse_time(path: str) -> None:
    """DAG files parse in milliseconds: they import no heavy library or domain module at top level.

    (A structural check instead of a timing; parse times are measured by `make bench`.)
    """
    code = (
        "import importlib.util, json, sys\n"
        f"sys.path[:0] = [{str(DAGS)!r}]\n"
        f"spec = importlib.util.spec_from_file_location('dagfile', {str(DAGS / path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(),
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], f"{path} imports heavy modules at parse time"

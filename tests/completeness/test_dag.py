"""The ``completeness`` DAG: its schedule, and a whole run with dag.test() over generated applications."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def completeness_dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "completeness.py"))
    assert bag.import_errors == {}
    return bag.dags["completeness"]


def test_schedule_is_the_intake_asset_or_working_days(completeness_dag) -> None:  # type: ignore[no-untyped-def]
    from airflow.serialization.encoders import encode_timetable

    timetable = completeness_dag.timetable
    encoded = encode_timetable(timetable)  # the scheduler must be able to store it
    text = str(encoded)
    assert "applications" in text and "workday_timetable.WorkdayTimetable" in text
    assert type(timetable.timetable).__name__ == "WorkdayTimetable"
    assert str(completeness_dag.timezone.name) == "Asia/Shanghai"
    assert [t.task_id for t in completeness_dag.topological_sort()] == [
        "plan_checks", "check_batch", "sweep_deadlines", "write_report"]
    assert completeness_dag.task_dict["sweep_deadlines"].trigger_rule == "none_failed"  # runs after an empty plan


def test_dag_run_checks_sweeps_and_reports(dag_env, airflow_db, clean_set, tmp_path, sqlite_url, season, fake_now,
                                           monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from award.storage.blobs import LocalBlobStore
    from award.store import session_scope
    from award.store.models import Application, CheckRun, OutboxEmail
    from tests.completeness.helpers import load_generated

    # two applications: one clean, one without its publicity proof
    sub = tmp_path / "gen"
    entries = []
    for category, drop in (("sme", None), ("team", "内部公示")):
        root, entry = clean_set[category]
        files = [f for f in entry["files"] if not (drop and drop in f)]
        for rel in files:
            (sub / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, sub / rel)
        entries.append({**entry, "files": files, "channel": "mail"})
    (sub / "manifest.json").write_text(json.dumps({"applications": entries, "city_letters": {}}), encoding="utf-8")
    blob_dir, shared_dir = tmp_path / "blobs", tmp_path / "shared"
    with session_scope(sqlite_url) as session:
        load_generated(session, LocalBlobStore(blob_dir), season, sub)

    dag_env(sqlite_url)
    fake_now("2023-05-10T11:00:00")
    dag = DagBag(dag_folder=str(DAGS / "completeness.py")).dags["completeness"]
    run = dag.test()
    assert str(run.state) in ("success", "DagRunState.SUCCESS")

    with session_scope(sqlite_url) as session:
        states = sorted(a.state for a in session.scalars(select(Application)))
        templates = sorted(m.template for m in session.scalars(select(OutboxEmail)))
        run_ids = {r.run_id for r in session.scalars(select(CheckRun))}
    assert states == ["complete", "incomplete"]
    assert templates == ["complete", "correction"]
    assert run_ids == {run.run_id}
    reports = sorted(p.name for p in (shared_dir / "reports" / "cqa-5-2023").iterdir())
    assert reports == ["形式审查情况-20230510-110000.html", "形式审查情况-20230510-110000.xlsx",
                       "形式审查情况.html", "形式审查情况.xlsx"]  # a dated copy and the latest
    assert _task_instances(run.run_id) == [("check_batch", 0, "success"), ("plan_checks", -1, "success"),
                                           ("sweep_deadlines", -1, "success"), ("write_report", -1, "success")]


def test_empty_plan_still_sweeps_and_reports(dag_env, airflow_db, tmp_path, sqlite_url, fake_now,  # type: ignore[no-untyped-def]
                                             monkeypatch) -> None:
    """Nothing to check: the mapped check_batch has no instance (skipped); sweep and report still run."""
    from airflow.dag_processing.dagbag import DagBag

    shared_dir = tmp_path / "shared"
    dag_env(sqlite_url)
    run = DagBag(dag_folder=str(DAGS / "completeness.py")).dags["completeness"].test()
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    assert _task_instances(run.run_id) == [("check_batch", -1, "skipped"), ("plan_checks", -1, "success"),
                                           ("sweep_deadlines", -1, "success"), ("write_report", -1, "success")]
    assert sorted(p.suffix for p in (shared_dir / "reports" / "cqa-5-2023").iterdir()) == [".html", ".html", ".xlsx",
                                                                                            ".xlsx"]


def _task_instances(run_id: str) -> list[tuple[str, int, str]]:
    """(task_id, map_index, state) of a completeness run's task instances, from the Airflow metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
                               .where(TaskInstance.dag_id == "completeness", TaskInstance.run_id == run_id)).all()
    return sorted((task_id, map_index, str(state)) for task_id, map_index, state in rows)

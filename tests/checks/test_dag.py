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
    assert "award://applications" in text and "workday_timetable.WorkdayTimetable" in text
    assert type(timetable.timetable).__name__ == "WorkdayTimetable"
    assert str(completeness_dag.timezone.name) == "Asia/Shanghai"
    assert [t.task_id for t in completeness_dag.topological_sort()] == [
        "check_applications", "sweep_deadlines", "write_report"]


def test_dag_run_checks_sweeps_and_reports(airflow_db, clean_set, tmp_path, sqlite_url, season, fake_now,
                                           monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from award.blobs import LocalBlobStore
    from award.store import session_scope
    from award.store.models import Application, CheckRun, OutboxEmail
    from tests.checks.helpers import load_generated

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

    monkeypatch.setenv("AWARD_DB_URL", sqlite_url)
    monkeypatch.setenv("AWARD_BLOB_URL", str(blob_dir))
    monkeypatch.setenv("AWARD_SHARED_URL", str(shared_dir))
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
    assert [Path(p).suffix for p in reports] == [".html", ".xlsx"]
    assert reports[0].startswith("形式审查情况-20230510-110000")

"""The distributed run: the same DAGs run to completion on CeleryExecutor, PostgreSQL and Redis, without Docker.

Evidence that every task ran on the Celery worker comes from the metadata database, not from logs:
- ``task_instance.hostname`` is the worker's identity (only the worker process is configured to report it),
- ``task_instance.queue`` is the run's private Celery queue, which only that worker consumes,
- ``task_instance.external_executor_id`` is a Celery task id whose result the worker stored in ``celery_taskmeta``.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the fixture's class lives in this folder's conftest.py
    from conftest import CeleryCluster

REPO = Path(__file__).resolve().parents[2]
POOLS_FILE = REPO / "deploy" / "pools.json"

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PROBE_DAG = "cqa_deploy_probe"
PROBE_ITEMS, PROBE_BATCH = 10, 4

# The pipeline's DAGs triggered over the small generated season, in order, with their run conf.
# DAG ids that are absent from dags/ are skipped (and listed in the test's output).
PIPELINE_DAGS: dict[str, dict[str, Any]] = {
    "intake": {},
    "completeness": {},
    "outbox": {},
}

LIST_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dag_ids": sorted(bag.dag_ids), "errors": {k: v[-2000:] for k, v in bag.import_errors.items()}}))
"""


def _pipeline_dags_present(cluster: CeleryCluster) -> list[str]:
    """Pipeline DAG ids found in dags/ (parsed in the deployment's environment); import errors fail the test."""
    proc = subprocess.run(
        [sys.executable, "-c", LIST_DAGS, str(REPO / "dags")],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not found["errors"], f"dags/ has import errors: {found['errors']}"
    present = [d for d in PIPELINE_DAGS if d in found["dag_ids"]]
    missing = sorted(set(PIPELINE_DAGS) - set(present))
    if missing:
        print(f"pipeline DAGs absent from dags/, skipped: {missing}")
    return present


def test_pools_imported(celery_cluster: CeleryCluster) -> None:
    """deploy/pools.json is what the deployment runs with: smtp limits sends, imap allows one session."""
    expected = {name: spec["slots"] for name, spec in json.loads(POOLS_FILE.read_text()).items()}
    rows = celery_cluster.query("SELECT pool, slots FROM slot_pool WHERE pool = ANY(:p)", p=list(expected))
    assert {r["pool"]: r["slots"] for r in rows} == expected == {"smtp": 4, "imap": 1}


def test_dags_run_on_celery_worker(celery_cluster: CeleryCluster) -> None:
    """Trigger the probe and the pipeline DAGs; every task instance ran on the Celery worker and succeeded."""
    cluster = celery_cluster
    pipeline = _pipeline_dags_present(cluster)
    dag_ids = [PROBE_DAG, *pipeline]
    cluster.wait_for_dags(dag_ids)

    runs: list[tuple[str, str]] = []
    for dag_id in dag_ids:
        cluster.airflow("dags", "unpause", dag_id)
    probe_conf = {"items": PROBE_ITEMS, "batch_size": PROBE_BATCH}
    for dag_id in dag_ids:
        run_id = f"deploy-test-{secrets.token_hex(3)}"
        conf = probe_conf if dag_id == PROBE_DAG else PIPELINE_DAGS[dag_id]
        cluster.airflow("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf))
        runs.append((dag_id, run_id))

    states = cluster.wait_for_runs(runs)
    tis = _task_instances(cluster)
    # A task reports success to the API server a moment before its Celery task returns: let the results land.
    deadline = time.monotonic() + 60
    while any(ti["celery_status"] not in ("SUCCESS", "FAILURE") for ti in tis) and time.monotonic() < deadline:
        time.sleep(1)
        tis = _task_instances(cluster)
    assert states == dict.fromkeys(runs, "success"), f"{states}\n{_failed(tis)}\n{cluster.logs()}"
    assert tis, "no task instances recorded"

    ran = [ti for ti in tis if ti["state"] != "skipped"]
    assert ran
    for ti in ran:
        where = f"{ti['dag_id']}.{ti['task_id']}[{ti['map_index']}]"
        assert ti["state"] == "success", where
        assert ti["hostname"] == cluster.worker_hostname, f"{where} ran on {ti['hostname']!r}"
        assert ti["queue"] == cluster.queue, f"{where} queued on {ti['queue']!r}"
        assert ti["external_executor_id"], f"{where} has no Celery task id"
        assert ti["celery_status"] == "SUCCESS", f"{where}: Celery result {ti['celery_status']!r}"
        assert ti["executor"] in (None, "CeleryExecutor"), where

    probe = [ti for ti in tis if ti["dag_id"] == PROBE_DAG]
    sends = sorted(ti["map_index"] for ti in probe if ti["task_id"] == "send_batch")
    assert sends == list(range(-(-PROBE_ITEMS // PROBE_BATCH))), "one mapped task per batch, not per item"
    pools = {ti["task_id"]: ti["pool"] for ti in probe}
    assert pools["send_batch"] == "smtp" and pools["poll_mailbox"] == "imap"

    probe_run = dict(runs)[PROBE_DAG]
    rows = cluster.query(
        "SELECT kind, count(*) AS n FROM deploy_probe WHERE run_id = :r GROUP BY kind",
        url=cluster.domain_url,
        r=probe_run,
    )
    assert {r["kind"]: r["n"] for r in rows} == {"send": PROBE_ITEMS, "poll": 1}


def _task_instances(cluster: CeleryCluster) -> list[dict[str, Any]]:
    """Task instances of the test's runs, each with the status of its Celery task in the result backend."""
    return cluster.query(
        "SELECT ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.state, ti.hostname, ti.queue, ti.pool,"
        " ti.external_executor_id, ti.executor, m.status AS celery_status"
        " FROM task_instance ti LEFT JOIN celery_taskmeta m ON m.task_id = ti.external_executor_id"
        " WHERE (ti.dag_id, ti.run_id) IN (SELECT dag_id, run_id FROM dag_run WHERE run_id LIKE 'deploy-test-%')"
    )


def _failed(tis: list[dict[str, Any]]) -> str:
    return "\n".join(str(ti) for ti in tis if ti["state"] != "success")

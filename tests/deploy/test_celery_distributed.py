"""The distributed run: the same DAGs run to completion on CeleryExecutor, PostgreSQL and Redis, without Docker.

Evidence that every task ran on the Celery worker comes from the metadata database, not from logs:
- ``task_instance.hostname`` is the worker's identity (only the worker process is configured to report it),
- ``task_instance.queue`` is the run's private Celery queue, which only that worker consumes,
- ``task_instance.external_executor_id`` is a Celery task id whose result the worker stored in ``celery_taskmeta``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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

OUTBOX_MAILS = 3


def _prepare_outbox(cluster: CeleryCluster) -> None:
    """Queue a few staff notices in the domain store on PostgreSQL for the outbox DAG to send."""
    from award.config import load_season
    from award.mail.outbox import enqueue
    from award.store.db import session_scope

    season = load_season()
    with session_scope(cluster.domain_url) as session:
        for n in range(OUTBOX_MAILS):
            context = {"greeting": "王经理", "unit": season.recommending_unit, "season_label": season.award.name,
                       "title": f"部署测试 {n}", "text": "分布式运行测试邮件。", "items": []}
            enqueue(session, key=f"deploy-test:{n}", template="staff_notice", to=[f"staff{n}@example.com"],
                    context=context)


def _verify_outbox(cluster: CeleryCluster) -> None:
    rows = cluster.query(
        "SELECT idempotency_key, status, message_id FROM outbox_email WHERE idempotency_key LIKE 'deploy-test:%'",
        url=cluster.domain_url,
    )
    assert len(rows) == OUTBOX_MAILS and all(r["status"] == "sent" and r["message_id"] for r in rows), rows
    received = sorted(rcpt for mail in cluster.smtp.messages for rcpt in mail.rcpt_tos)
    assert received == [f"staff{n}@example.com" for n in range(OUTBOX_MAILS)]


@dataclass(frozen=True)
class Stage:
    """One pipeline DAG of the distributed run: its run conf, what to put in place before, what to check after."""

    conf: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[CeleryCluster], None] | None = None
    verify: Callable[[CeleryCluster], None] | None = None


# The pipeline's DAGs, triggered in this order. DAG ids absent from dags/ are skipped (and printed).
PIPELINE_DAGS: dict[str, Stage] = {
    "intake": Stage(),
    "completeness": Stage(),
    "opinions": Stage(),
    "publicity": Stage(),
    "recommendation": Stage(),
    "outbox": Stage(prepare=_prepare_outbox, verify=_verify_outbox),
}

def _pipeline_dags_present() -> list[str]:
    """Pipeline DAG ids whose file dags/<dag_id>.py exists (the repo's convention); absent ones are printed."""
    present = [d for d in PIPELINE_DAGS if (REPO / "dags" / f"{d}.py").exists()]
    missing = [d for d in PIPELINE_DAGS if d not in present]
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
    pipeline = _pipeline_dags_present()
    dag_ids = [PROBE_DAG, *pipeline]
    cluster.wait_for_dags(dag_ids)

    runs: list[tuple[str, str]] = []
    for dag_id in dag_ids:
        cluster.airflow("dags", "unpause", dag_id)
    probe_conf = {"items": PROBE_ITEMS, "batch_size": PROBE_BATCH}
    for dag_id in dag_ids:
        stage = Stage(conf=probe_conf) if dag_id == PROBE_DAG else PIPELINE_DAGS[dag_id]
        if stage.prepare is not None:
            stage.prepare(cluster)
        run_id = f"deploy-test-{dag_id}-{secrets.token_hex(3)}"
        cluster.airflow("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(stage.conf))
        runs.append((dag_id, run_id))
        # Pipeline stages hand over through the store: each runs after the previous one has finished.
        if dag_id != PROBE_DAG:
            cluster.wait_for_runs([(dag_id, run_id)])

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

    # Scheduled runs that started meanwhile (unpaused DAGs with a schedule) must not have run anywhere else either.
    hosts = cluster.query("SELECT DISTINCT hostname FROM task_instance WHERE coalesce(hostname, '') <> ''")
    assert {r["hostname"] for r in hosts} == {cluster.worker_hostname}

    probe = [ti for ti in tis if ti["dag_id"] == PROBE_DAG]
    sends = sorted(ti["map_index"] for ti in probe if ti["task_id"] == "send_batch")
    assert sends == list(range(-(-PROBE_ITEMS // PROBE_BATCH))), "one mapped task per batch, not per item"
    pools = {ti["task_id"]: ti["pool"] for ti in probe}
    assert pools["send_batch"] == "smtp" and pools["poll_mailbox"] == "imap"

    for dag_id in pipeline:
        verify = PIPELINE_DAGS[dag_id].verify
        if verify is not None:
            verify(cluster)

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

"""Deployment probe DAG: proves the Celery deployment runs mapped, pooled tasks and writes the domain database.

Loaded only by tests/deploy (as its own DAG bundle), never from dags/. It mirrors the pipeline's shape:
a planner splits the work into batches, a mapped task per batch runs in the ``smtp`` pool, a single task
runs in the ``imap`` pool, and a final task checks the rows in the domain database (``AWARD_DB_URL``).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, get_current_context, task

TABLE = "deploy_probe"


def _engine():  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    return create_engine(os.environ["AWARD_DB_URL"], pool_pre_ping=True)


def _record(kind: str, items: list[int]) -> int:
    """Insert one row per item for this run/task into the domain database; idempotent per (run, kind, item)."""
    from sqlalchemy import text

    ctx = get_current_context()
    run_id = ctx["run_id"]
    with _engine().begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (run_id text, kind text, item int, pid int,"
                " PRIMARY KEY (run_id, kind, item))"
            )
        )
        for item in items:
            conn.execute(
                text(f"INSERT INTO {TABLE} VALUES (:r, :k, :i, :p) ON CONFLICT DO NOTHING"),
                {"r": run_id, "k": kind, "i": item, "p": os.getpid()},
            )
    return len(items)


@dag(
    dag_id="cqa_deploy_probe",
    schedule=None,
    start_date=pendulum.datetime(2023, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    params={"items": 10, "batch_size": 4},
    tags=["deploy-test"],
)
def cqa_deploy_probe() -> None:
    @task
    def plan() -> list[list[int]]:
        params = get_current_context()["params"]
        items, size = int(params["items"]), int(params["batch_size"])
        return [list(range(start, min(start + size, items))) for start in range(0, items, size)]

    @task(pool="smtp")
    def send_batch(batch: list[int]) -> int:
        return _record("send", batch)

    @task(pool="imap")
    def poll_mailbox() -> int:
        return _record("poll", [0])

    @task
    def check(sent: list[int], polled: int) -> int:
        params = get_current_context()["params"]
        total = sum(sent)
        if total != int(params["items"]) or polled != 1:
            raise ValueError(f"expected {params['items']} sends and 1 poll, got {total} and {polled}")
        return total

    check(send_batch.expand(batch=plan()), poll_mailbox())


cqa_deploy_probe()

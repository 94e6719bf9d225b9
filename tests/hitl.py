"""Answer Airflow human-in-the-loop tasks in a test the way the Required Actions page does.

``run_answering(dag, decide, user=...)`` runs ``dag.test()`` in the main thread (tasks install signal handlers) while
a background thread watches for task instances of that DAG parked in ``awaiting_input`` and PATCHes
``/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/{map_index}/hitlDetails`` on the real core API app (FastAPI
TestClient, simple auth manager, a JWT for ``user``) — the handler the UI calls. ``decide(parked)`` returns the
payload ``{"chosen_options": [...], "params_input": {...}}`` or None to leave a question unanswered.

It never hangs: SQLite "database is locked" while dag.test() writes is retried; any other error, or questions still
waiting after ``max_seconds``, fails the parked task instances so dag.test() returns, and the error is re-raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Parked:
    """A question waiting for an answer."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    subject: str
    body: str | None
    params: dict[str, Any]


def parked(dag_id: str) -> list[Parked]:
    """The task instances of ``dag_id`` waiting for input, with their question."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
                   HITLDetail.subject, HITLDetail.body, HITLDetail.params)
            .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                   HITLDetail.responded_at.is_(None))
        ).all()
    return [Parked(*row[:6], dict(row[6] or {})) for row in rows]


def fail_parked(dag_id: str) -> None:
    """Fail every waiting task instance of ``dag_id`` (so a test's dag.test() returns)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        for ti in session.scalars(select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.state == TaskInstanceState.AWAITING_INPUT)):
            ti.state = TaskInstanceState.FAILED


def run_answering(
    dag: Any,
    decide: Callable[[Parked], dict[str, Any] | None],
    *,
    user: str = "办公室",
    max_seconds: float = 300,
    **test_kwargs: Any,
) -> tuple[Any, list[Parked]]:
    """Run ``dag.test(**test_kwargs)`` while answering its questions; returns (dag run, questions answered)."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import OperationalError

    client = TestClient(create_app("core"))
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=user, role="admin"))
    headers = {"Authorization": f"Bearer {token}"}
    stop = threading.Event()
    answered: list[Parked] = []
    errors: list[BaseException] = []

    def loop() -> None:
        deadline = time.monotonic() + max_seconds
        try:
            while not stop.is_set():
                try:
                    waiting = parked(dag.dag_id)
                except OperationalError:  # SQLite busy while dag.test() writes: look again
                    waiting = []
                for question in waiting:
                    payload = decide(question)
                    if payload is None:
                        continue
                    url = (f"/api/v2/dags/{question.dag_id}/dagRuns/{question.run_id}/taskInstances/"
                           f"{question.task_id}/{question.map_index}/hitlDetails")
                    resp = client.patch(url, json=payload, headers=headers)
                    if resp.status_code == 200:
                        answered.append(question)
                    elif resp.status_code != 409 and "locked" not in resp.text:  # 409: answered already
                        raise AssertionError(f"PATCH {url}: {resp.status_code} {resp.text}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"questions of {dag.dag_id} still waiting after {max_seconds} s")
                stop.wait(0.3)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
            fail_parked(dag.dag_id)

    helper = threading.Thread(target=loop, daemon=True, name=f"hitl-{dag.dag_id}")
    helper.start()
    try:
        run = dag.test(**test_kwargs)
    finally:
        stop.set()
        helper.join(30)
    if errors:
        raise errors[0]
    return run, answered

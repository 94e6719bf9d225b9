"""The ``opinions`` DAG: it parses, and its human-in-the-loop decision is answered the way the Airflow UI does it.

How the answer is given: ``dag.test()`` runs in a thread; the mapped ``decision.ask`` tasks (HITLOperator) park in
Airflow 3.3's ``awaiting_input`` state. The test then calls the API server's own PATCH handler
(``update_hitl_detail`` of ``/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails``)
with a user and a database session -- the code the Required Actions page reaches through HTTP, minus only the
HTTP/auth layer. It records the response and resumes the task (``handle_event_submit``); ``dag.test()`` then runs
``execute_complete`` and the downstream ``apply_decision`` like the scheduler would.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from award import opinions
from award.states import State
from award.store.db import session_scope
from award.store.models import Application, AuditEvent, OpinionRequest
from tests.opinions.helpers import SPECS, make_complete, make_runtime

ROOT = Path(__file__).resolve().parents[2]


def _dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "opinions.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["opinions"]


def test_dag_shape() -> None:
    dag = _dag()
    assert type(dag.timetable).__name__ == "WorkdayTimetable"
    assert set(dag.task_dict) == {"solicit", "ingest_replies", "remind", "apply_defaults", "pending_decisions",
                                  "decision.ask", "decision.apply_decision"}
    assert dag.task_dict["decision.ask"].options == ["继续推荐", "取消推荐"]
    assert "cqa" in dag.tags and dag.description.startswith("征求相关部门意见")
    assert dag.task_dict["solicit"].downstream_task_ids == {"ingest_replies"}


def _awaiting() -> list:  # type: ignore[type-arg]
    """(run_id, map_index, subject) of each decision question waiting for an answer."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as s:
        rows = s.execute(
            select(TaskInstance.run_id, TaskInstance.map_index, HITLDetail.subject)
            .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
            .where(TaskInstance.dag_id == "opinions", TaskInstance.task_id == "decision.ask",
                   TaskInstance.state == "awaiting_input")
        ).all()
        return [tuple(r) for r in rows]


def _fail_waiting() -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as s:
        for ti in s.scalars(select(TaskInstance).where(TaskInstance.dag_id == "opinions",
                                                       TaskInstance.state == "awaiting_input")):
            ti.state = "failed"


def _answer(run_id: str, map_index: int, option: str, reason: str, username: str) -> None:
    """What the Required Actions page does: PATCH .../decision.ask/{map_index}/hitlDetails as ``username``."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    with create_session() as s:
        update_hitl_detail(
            dag_id="opinions", dag_run_id=run_id, task_id="decision.ask", map_index=map_index, session=s,
            update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option], params_input={"reason": reason}),
            user=SimpleAuthManagerUser(username=username, role="admin"),
        )


def test_decision_answered_in_airflow(airflow_db, sqlite_url, season, tmp_path, monkeypatch,  # type: ignore[no-untyped-def]
                                      smtp_server) -> None:
    monkeypatch.setenv("AWARD_DB_URL", sqlite_url)
    monkeypatch.setenv("AWARD_BLOB_URL", str(tmp_path / "blobs"))
    monkeypatch.setenv("AWARD_SHARED_URL", str(tmp_path / "shared"))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": smtp_server.host, "port": smtp_server.port,
        "extra": {"disable_ssl": True, "disable_tls": True}}))
    rt = make_runtime(season, sqlite_url, tmp_path)
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-04-27T09:00:00+08:00")
    with session_scope(sqlite_url) as s:
        a_id, d_id = make_complete(s, season, [SPECS[0], SPECS[3]])
        opinions.solicit(s, rt)
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-05-04T10:00:00+08:00")
    with session_scope(sqlite_url) as s:  # every department answers; two objections
        reqs = {r.department: r for r in s.scalars(select(OpinionRequest))}
        a, d = s.get(Application, a_id), s.get(Application, d_id)
        at = datetime.fromisoformat("2023-05-04T10:00:00+08:00")
        for dept, app, verdict, reason in (("env", a, "no_objection", None), ("tax", a, "no_objection", None),
                                           ("safety", a, "objection", "2022年发生一般生产安全事故"),
                                           ("tax", d, "objection", "存在欠税记录")):
            opinions.record_opinion(s, rt, reqs[dept], app, verdict, reason, source="reply", source_sha256=None,
                                    received_at=at)
    with session_scope(sqlite_url) as s:
        assert {s.get(Application, i).state for i in (a_id, d_id)} == {State.DEPT_OBJECTION.value}

    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-05-05T09:00:00+08:00")
    dag = _dag()
    answered: list[str] = []
    errors: list[BaseException] = []

    def ops_staff() -> None:
        """Two ops users answer the two questions once they appear (Required Actions)."""
        try:
            deadline = time.monotonic() + 120
            waiting: list = []  # type: ignore[type-arg]
            while time.monotonic() < deadline and len(waiting) < 2:
                time.sleep(0.5)
                waiting = _awaiting()
            by_subject = {subject: (run_id, idx) for run_id, idx, subject in waiting}
            a_key = next(k for k in by_subject if SPECS[0].no in k)
            d_key = next(k for k in by_subject if SPECS[3].no in k)
            _answer(*by_subject[a_key], "继续推荐", "事故已整改，经研究继续推荐", "li.chu")
            _answer(*by_subject[d_key], "取消推荐", "欠税未缴清", "wang.ke")
            answered.extend([a_key, d_key])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            _fail_waiting()  # let dag.test() return instead of waiting for an answer forever

    staff = threading.Thread(target=ops_staff, daemon=True)
    staff.start()
    dag_run = dag.test()  # in the main thread (tasks install signal handlers); returns when both are answered
    staff.join(10)
    assert not errors and len(answered) == 2, errors
    assert dag_run.state == "success"

    with session_scope(sqlite_url) as s:
        assert s.get(Application, a_id).state == State.DEPT_CLEARED.value
        assert s.get(Application, d_id).state == State.REMOVED.value
        ev = s.scalars(select(AuditEvent).where(AuditEvent.entity_id == d_id, AuditEvent.to_state == "removed")).one()
        assert ev.actor == "wang.ke" and ev.reason == "欠税未缴清"
        assert ev.details["decision"] == "remove" and ev.details["user_id"] == "wang.ke"
        assert ev.details["responded_at"]  # when the user answered (Airflow's clock)
        asked = s.scalars(select(AuditEvent).where(AuditEvent.action == "dept_decision_requested")).all()
        assert len(asked) == 2  # each application asked once
    from functools import partial

    from award.mail.outbox import drain

    drain(partial(session_scope, sqlite_url), smtp_server.sender(), rt.blobs.get_bytes)
    (removed,) = smtp_server.to(SPECS[3].email)
    assert "不再推荐" in removed.text() and "欠税未缴清" in removed.text()
    (kept,) = smtp_server.to(SPECS[0].email)
    assert "继续推荐" in kept.text()


@pytest.mark.parametrize("label,expected", [("继续推荐", "continue"), ("取消推荐", "remove")])
def test_choice_labels(label: str, expected: str) -> None:
    assert opinions.choice_from_label(label) == expected

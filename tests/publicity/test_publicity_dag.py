"""The publicity DAG end to end with dag.test(): open, deferrable wait, objections, HITL decisions, close.

The HITL answer goes through Airflow's own code path: a background thread waits until a task instance is
parked in ``awaiting_input`` and PATCHes ``/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/{i}/hitlDetails``
on the real core API app (FastAPI TestClient, simple auth manager, a JWT for the staff user "李娜") — the same
handler the Required Actions UI calls. dag.test() (main thread) sees the task rescheduled and resumes it.

The wait: DateTimeSensorAsync compares the window's end_at with the real clock. The run opens the window
back-dated (param ``opened_at`` = 2023-04-27 09:00, ends 2023-05-06 24:00) and AWARD_FAKE_NOW is 2023-05-08, so
the domain (which honours AWARD_FAKE_NOW) and the trigger (real time) both see the window as over: the deferral
resolves at once in dag.test()'s inline triggerer.
"""

from __future__ import annotations

import mailbox
import os
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from award.states import State
from award.store import session_scope
from award.store.models import Application, AuditEvent, Objection, OutboxEmail, PublicityWindow
from tests.publicity.conftest import make_applications

ANSWERS = {  # task id -> (option, params)
    "place_unmatched": ("异议不成立", {"reason": "反映内容与公示名单无关", "submission_no": None}),
    "decide": ("异议成立", {"reason": "经核实存在重大质量事故", "submission_no": None}),
}


def _mail(root: Path, subject: str, body: str, delivered: float) -> None:
    msg = EmailMessage()
    msg["From"] = "赵六 <zhao@example.org>"
    msg["To"] = "gsyy@scjg.example.gov.cn"
    msg["Subject"] = subject
    msg.set_content(body)
    box = mailbox.Maildir(root / "objections", create=True)
    key = box.add(mailbox.MaildirMessage(msg.as_bytes()))
    path = root / "objections" / box._lookup(key)  # noqa: SLF001 - set the delivery time (file mtime)
    os.utime(path, (delivered, delivered))


def _answer_hitl(stop: threading.Event, answered: list[str], errors: list[str]) -> None:
    try:
        _answer_loop(stop, answered)
    except BaseException as exc:  # noqa: BLE001 - reported by the test, and the run is failed so dag.test() ends
        errors.append(repr(exc))
        _fail_parked()


def _fail_parked() -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        for ti in session.scalars(select(TaskInstance).where(TaskInstance.state == TaskInstanceState.AWAITING_INPUT)):
            ti.state = TaskInstanceState.FAILED


def _answer_loop(stop: threading.Event, answered: list[str]) -> None:
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import OperationalError

    client = TestClient(create_app("core"))
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="李娜", role="admin"))
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        try:
            with create_session() as session:
                parked = [(ti.dag_id, ti.run_id, ti.task_id, ti.map_index) for ti in session.scalars(
                    select(TaskInstance).where(TaskInstance.state == TaskInstanceState.AWAITING_INPUT))]
        except OperationalError:  # SQLite busy while dag.test() writes: look again
            parked = []
        for dag_id, run_id, task_id, map_index in parked:
            option, params = ANSWERS[task_id]
            url = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails"
            resp = client.patch(url, json={"chosen_options": [option], "params_input": params}, headers=headers)
            if resp.status_code == 200:
                answered.append(task_id)
            elif resp.status_code != 409 and "locked" not in resp.text:  # 409: answered already
                raise AssertionError(f"{resp.status_code}: {resp.text}")
        time.sleep(0.5)


def test_publicity_dag_with_objections(airflow_db, season, tmp_path, monkeypatch) -> None:
    db_url = f"sqlite:///{tmp_path / 'award.db'}"
    from award.store.db import migrate

    migrate(db_url)
    for name, value in {
        "AWARD_DB_URL": db_url, "AWARD_SHARED_URL": str(tmp_path / "shared"), "AWARD_BLOB_URL": str(tmp_path / "blobs"),
        "AWARD_MAILDIR": str(tmp_path / "mail"), "AWARD_FAKE_NOW": "2023-05-08T09:00:00",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "李娜:admin",
    }.items():
        monkeypatch.setenv(name, value)
    made = make_applications(db_url)
    (tmp_path / "mail").mkdir()
    delivered = 1683165600.0  # 2023-05-04T10:00:00+08:00: inside the window
    _mail(tmp_path / "mail", "异议", f"{made[0].name}去年发生重大质量事故。", delivered)
    _mail(tmp_path / "mail", "举报", "某单位有问题，请核查。", delivered)

    from publicity import publicity_dag

    stop, answered, errors = threading.Event(), [], []
    helper = threading.Thread(target=_answer_hitl, args=(stop, answered, errors), daemon=True)
    helper.start()
    try:
        run = publicity_dag.test(run_conf={"purpose": "provincial", "opened_at": "2023-04-27T09:00:00"})
    finally:
        stop.set()
        helper.join(10)
    assert not errors, errors
    assert str(run.state) == "success", run.state
    assert sorted(answered) == ["decide", "place_unmatched"]
    with session_scope(db_url) as session:
        window = session.scalars(select(PublicityWindow)).one()
        assert (window.status, str(window.end_date)) == ("closed", "2023-05-06")
        states = {a.id: a.state for a in session.scalars(select(Application))}
        assert states[made[0].id] == State.REMOVED.value
        assert {states[m.id] for m in made[1:]} == {State.PUBLICITY_PASSED.value}
        objections = {o.status: o for o in session.scalars(select(Objection))}
        assert set(objections) == {"upheld", "dismissed"}
        assert objections["upheld"].decided_by == "李娜" and not objections["upheld"].late
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "objection_upheld")).one()
        assert (event.actor, event.reason) == ("李娜", "经核实存在重大质量事故")
        templates = sorted(m.template for m in session.scalars(select(OutboxEmail)))
    assert templates.count("publicity_started") == len(made)
    assert {"objection_ack", "objection_outcome_applicant", "objection_outcome_objector"} <= set(templates)


def test_both_dags_defined() -> None:
    from publicity import objections_dag, publicity_dag

    assert (publicity_dag.dag_id, objections_dag.dag_id) == ("publicity", "publicity_objections")
    wait = publicity_dag.get_task("wait_for_end")
    assert type(wait).__name__ == "DateTimeSensorAsync"  # deferrable: no worker slot while waiting

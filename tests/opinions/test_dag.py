"""The ``opinions`` DAG: it parses, and its human-in-the-loop decision is answered the way the Airflow UI does it.

How the answer is given: ``dag.test()`` runs in a thread; the mapped ``decision.ask`` tasks (HITLOperator) park in
Airflow 3.3's ``awaiting_input`` state. The test then calls the API server's own PATCH handler
(``update_hitl_detail`` of ``/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails``)
with a user and a database session -- the code the Required Actions page reaches through HTTP, minus only the
HTTP/auth layer. The answers are given through tests/hitl.py (the real core API app over a TestClient, as the
Required Actions page does); ``dag.test()`` then runs ``execute_complete`` and the downstream ``apply_decision``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from award.opinions.clearing import record_opinion
from award.opinions.decisions import choice_from_label
from award.opinions.solicitation import solicit
from award.states import State
from award.store.db import session_scope
from award.store.models import Application, AuditEvent, OpinionRequest
from tests.hitl import Parked, run_answering
from tests.opinions.helpers import SPECS, make_complete

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


def test_decision_answered_in_airflow(fake_now, dag_env, make_rt, airflow_db, sqlite_url, season, tmp_path, monkeypatch,  # type: ignore[no-untyped-def]
                                      smtp_server) -> None:
    dag_env(sqlite_url, smtp_server)
    rt = make_rt(sqlite_url)
    fake_now("2023-04-27T09:00:00+08:00")
    with session_scope(sqlite_url) as s:
        a_id, d_id = make_complete(s, season, [SPECS[0], SPECS[3]])
        solicit(s, rt)
    fake_now("2023-05-04T10:00:00+08:00")
    with session_scope(sqlite_url) as s:  # every department answers; two objections
        reqs = {r.department: r for r in s.scalars(select(OpinionRequest))}
        a, d = s.get(Application, a_id), s.get(Application, d_id)
        at = datetime.fromisoformat("2023-05-04T10:00:00+08:00")
        for dept, app, verdict, reason in (("env", a, "no_objection", None), ("tax", a, "no_objection", None),
                                           ("safety", a, "objection", "2022年发生一般生产安全事故"),
                                           ("tax", d, "objection", "存在欠税记录")):
            record_opinion(s, rt, reqs[dept], app, verdict, reason, source="reply", source_sha256=None,
                           received_at=at)
    with session_scope(sqlite_url) as s:
        assert {s.get(Application, i).state for i in (a_id, d_id)} == {State.DEPT_OBJECTION.value}

    fake_now("2023-05-05T09:00:00+08:00")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "wang.ke:admin")
    dag = _dag()
    decisions = {SPECS[0].no: ("继续推荐", "事故已整改，经研究继续推荐"), SPECS[3].no: ("取消推荐", "欠税未缴清")}

    def decide(question: Parked) -> dict | None:
        """Ops answer each application's question (matched by the submission number in its subject)."""
        for number, (option, reason) in decisions.items():
            if number in question.subject:
                return {"chosen_options": [option], "params_input": {"reason": reason}}
        return None

    dag_run, answered = run_answering(dag, decide, user="wang.ke")
    assert len(answered) == 2
    assert dag_run.state == "success"

    with session_scope(sqlite_url) as s:
        assert s.get(Application, a_id).state == State.DEPT_CLEARED.value
        assert s.get(Application, d_id).state == State.REMOVED.value
        ev = s.scalars(select(AuditEvent).where(AuditEvent.entity_id == d_id, AuditEvent.to_state == "removed")).one()
        kept = s.scalars(select(AuditEvent).where(AuditEvent.entity_id == a_id,
                                                  AuditEvent.to_state == "dept_cleared")).one()
        assert kept.actor == "wang.ke" and kept.reason == "事故已整改，经研究继续推荐"
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
    assert choice_from_label(label) == expected


def test_reason_is_required_in_the_form_and_an_invalid_answer_is_asked_again(fake_now, dag_env, make_rt,   # type: ignore[no-untyped-def]
        airflow_db, sqlite_url, season, tmp_path, monkeypatch, smtp_server) -> None:
    """The schema requires a non-blank reason; a blank one given through the API puts the question again."""
    dag = _dag()
    schema = dag.task_dict["decision.ask"].serialized_params["reason"]["schema"]  # what the form shows
    assert schema["type"] == "string" and schema["minLength"] == 1 and schema["pattern"] == r"\S"

    dag_env(sqlite_url, smtp_server)
    rt = make_rt(sqlite_url)
    fake_now("2023-04-27T09:00:00+08:00")
    with session_scope(sqlite_url) as s:
        (a_id,) = make_complete(s, season, [SPECS[0]])
        solicit(s, rt)
    fake_now("2023-05-04T10:00:00+08:00")
    with session_scope(sqlite_url) as s:
        reqs = {r.department: r for r in s.scalars(select(OpinionRequest))}
        for dept, verdict, reason in (("env", "no_objection", None), ("tax", "no_objection", None),
                                      ("safety", "objection", "2022年发生一般生产安全事故")):
            record_opinion(s, rt, reqs[dept], s.get(Application, a_id), verdict, reason, source="reply",
                           source_sha256=None, received_at=datetime.fromisoformat("2023-05-04T10:00:00+08:00"))
    with session_scope(sqlite_url) as s:
        assert s.get(Application, a_id).state == State.DEPT_OBJECTION.value
    fake_now("2023-05-05T09:00:00+08:00")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "wang.ke:admin")
    answers = iter([{"chosen_options": ["继续推荐"], "params_input": {"reason": "   "}},
                    {"chosen_options": ["继续推荐"], "params_input": {"reason": "事故已整改"}}])

    dag_run, answered = run_answering(dag, lambda question: next(answers, None), user="wang.ke")
    assert len(answered) == 2  # the blank reason was refused and the same question asked again
    assert dag_run.state == "success"
    with session_scope(sqlite_url) as s:
        assert s.get(Application, a_id).state == State.DEPT_CLEARED.value
        kept = s.scalars(select(AuditEvent).where(AuditEvent.entity_id == a_id,
                                                  AuditEvent.to_state == "dept_cleared")).one()
        assert kept.reason == "事故已整改"

"""The publicity DAG end to end with dag.test(): open, deferrable wait, objections, HITL decisions, close.

The HITL answers go through Airflow's own code path (tests/hitl.py): the staff user "李娜" PATCHes the hitlDetails
endpoint of the real core API app, as the Required Actions page does; dag.test() then resumes the task.

The wait: DateTimeSensorAsync compares the window's end_at with the real clock. The run opens the window
back-dated (param ``opened_at`` = 2023-04-27 09:00, ends 2023-05-06 24:00) and AWARD_FAKE_NOW is 2023-05-08, so
the domain (which honours AWARD_FAKE_NOW) and the trigger (real time) both see the window as over: the deferral
resolves at once in dag.test()'s inline triggerer.
"""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

from sqlalchemy import select

from award.states import State
from award.store import session_scope
from award.store.models import Application, AuditEvent, Objection, OutboxEmail, PublicityWindow
from tests.fixtures import build_raw_mail
from tests.hitl import Parked, run_answering
from tests.publicity.conftest import make_applications

ANSWERS = {  # task id -> (option, params)
    "place_unmatched": ("异议不成立", {"reason": "反映内容与公示名单无关", "submission_no": None}),
    "decide": ("异议成立", {"reason": "经核实存在重大质量事故", "submission_no": None}),
}


def _mail(root: Path, subject: str, body: str, delivered: float) -> None:
    raw = build_raw_mail(subject, body, sender="赵六 <zhao@example.org>", to="gsyy@scjg.example.gov.cn")
    box = mailbox.Maildir(root / "objections", create=True)
    key = box.add(mailbox.MaildirMessage(raw))
    path = root / "objections" / box._lookup(key)  # noqa: SLF001 - set the delivery time (file mtime)
    os.utime(path, (delivered, delivered))


def test_publicity_dag_with_objections(sqlite_url, dag_env, airflow_db, season, tmp_path, monkeypatch) -> None:
    db_url = dag_env(sqlite_url, maildir=tmp_path / "mail", AWARD_FAKE_NOW="2023-05-08T09:00:00",
                     AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="李娜:admin")
    made = make_applications(db_url)
    (tmp_path / "mail").mkdir()
    delivered = 1683165600.0  # 2023-05-04T10:00:00+08:00: inside the window
    _mail(tmp_path / "mail", "异议", f"{made[0].name}去年发生重大质量事故。", delivered)
    _mail(tmp_path / "mail", "举报", "某单位有问题，请核查。", delivered)

    from publicity import publicity_dag

    def decide(question: Parked) -> dict:
        option, params = ANSWERS[question.task_id]
        return {"chosen_options": [option], "params_input": params}

    run, answered = run_answering(publicity_dag, decide, user="李娜",
                                  run_conf={"purpose": "provincial", "opened_at": "2023-04-27T09:00:00"})
    assert str(run.state) == "success", run.state
    assert sorted(q.task_id for q in answered) == ["decide", "place_unmatched"]
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
    # deferrable: no worker slot while waiting (on the wall clock; under make run on the demo clock)
    from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync

    assert type(wait).__name__ == "ClockDateTimeSensorAsync" and isinstance(wait, DateTimeSensorAsync)

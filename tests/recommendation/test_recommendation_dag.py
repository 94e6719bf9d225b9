"""The recommendation DAG end to end with dag.test(): approval gate, leadership HITL, compile, verify, export.

The HITL answer goes through Airflow's own code path (tests/hitl.py): the user "办公室" PATCHes the ``approval``
task's hitlDetails on the real core API app, as the Required Actions page does; dag.test() resumes the task.

The candidates start CANDIDATE_CONFIRMED (the candidate publicity is the publicity DAG's, tested there), so the
run goes: import_scores (none) -> rank (nothing) -> no_publicity -> approval_gate -> approval -> ... -> export.

dag.test() cannot run a DAG that has a deadline alert on Airflow 3.3.2: at the run's success it looks the
alerts up by id (``DeadlineAlertModel.get_by_id(alert_id)`` in DagRun.update_state) but dag.test()'s
scheduler DAG holds the decoded alerts, not their database ids (StatementError "'dict' object has no
attribute 'hex'"). The run test therefore removes the alert from its copy of the DAG; the alert itself is
checked separately (configuration, and the callback run as the triggerer would run it).
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import select

from award.mail.outbox import drain
from award.states import State, transition
from award.storage.blobs import LocalBlobStore
from award.store import session_scope
from award.store.models import Application, AuditEvent, OutboxEmail, Package
from tests.hitl import run_answering

from .factory import make_app

MOBILE = "13919310000"


def _season_file(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """The shipped season with the national contact's mobile (the subject needs one; the notice gives a landline)."""
    import yaml

    from award.config import DEFAULT_SEASON_FILE, cached_season

    data = yaml.safe_load(DEFAULT_SEASON_FILE.read_text(encoding="utf-8"))
    data["national"]["contact_mobile"] = MOBILE
    path = tmp_path / "season.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cached_season.cache_clear()
    return str(path)


ANSWER = {"chosen_options": ["同意推荐"],
          "params_input": {"approver": "张局长", "opinion": "同意推荐以上单位和个人", "doc_number": "45",
                           "audit_doc_number": "市监审〔2023〕7号"}}


def test_recommendation_dag_with_leadership_approval(sqlite_url, dag_env, airflow_db, season, tmp_path, monkeypatch, smtp_server) -> None:  # type: ignore[no-untyped-def]
    db_url = dag_env(sqlite_url, smtp_server, AWARD_FAKE_NOW="2023-06-12T10:00:00+08:00",
                     AWARD_SEASON_FILE=_season_file(tmp_path), AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="办公室:admin")
    blobs = LocalBlobStore(tmp_path / "blobs")
    with session_scope(db_url) as s:
        made = [make_app(s, season, blobs, n=1, state=State.CANDIDATE_CONFIRMED, score=90),
                make_app(s, season, blobs, n=2, category="individual", state=State.CANDIDATE_CONFIRMED, score=88),
                make_app(s, season, blobs, n=3, state=State.REVIEWED, score=40, materials=False)]
        transition(s, s.get(Application, made[2].app_id), State.NOT_RECOMMENDED, actor="test", reason="名额外")

    from recommendation import recommendation_dag

    recommendation_dag.deadline = None  # see the module docstring
    run, answered = run_answering(recommendation_dag, lambda question: ANSWER)
    assert str(run.state) == "success", run.state
    assert [q.task_id for q in answered] == ["approval"]
    with session_scope(db_url) as s:
        package = s.scalars(select(Package)).one()
        assert (package.status, package.approved_by, package.approval_text) == ("sent", "张局长", "同意推荐以上单位和个人")
        assert package.manifest["doc_number"] == "甘质强组办〔2023〕45号"
        assert package.manifest["audit_doc_number"] == "市监审〔2023〕7号"
        assert package.manifest["responded_by"] == "办公室"
        assert {a.state for a in s.scalars(select(Application))} == {"exported", "not_recommended"}
        approval = s.scalars(select(AuditEvent).where(AuditEvent.action == "approve")).one()
        assert approval.actor == "张局长" and approval.reason == "同意推荐以上单位和个人"
        templates = sorted(m.template for m in s.scalars(select(OutboxEmail)))
    assert templates == ["national_submission", "result_not_recommended", "result_recommended", "result_recommended"]

    rerun, asked = run_answering(recommendation_dag, lambda question: ANSWER)  # nothing new: nothing asked or sent
    assert str(rerun.state) == "success"
    assert asked == []
    drain(partial(session_scope, db_url), smtp_server.sender(), blobs.get_bytes)
    unit = season.recommending_unit
    national = smtp_server.to(str(season.national.recipient_email))
    assert [m.subject for m in national] == [f"{unit.name}+{unit.contact}+{MOBILE}"]
    assert {"推荐函.docx", "审核意见.docx"} <= set(national[0].attachments())
    assert "file://" not in national[0].text()


def test_a_refused_score_file_fails_the_run_with_the_reason(sqlite_url, dag_env, airflow_db, season, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 15 §3: a refused score file is a visible failure (run failed, reason, ops mail), not a green run."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from openpyxl import Workbook

    from award.storage.shared import LocalStorage
    from award.store.models import Problem

    db_url = dag_env(sqlite_url, AWARD_FAKE_NOW="2023-06-05T10:00:00+08:00")
    blobs = LocalBlobStore(tmp_path / "blobs")
    with session_scope(db_url) as s:
        made = make_app(s, season, blobs, n=1, state=State.PUBLICITY_PASSED, materials=False)
    wb = Workbook()
    wb.active.append(["申报编号", "名称", "统一代码", "得分"])
    wb.active.append([made.submission_no, made.name, "", "很好"])
    path = tmp_path / "bad.xlsx"
    wb.save(path)
    LocalStorage(tmp_path / "shared").write("scores/bad.xlsx", path.read_bytes())

    from recommendation import recommendation_dag

    recommendation_dag.deadline = None  # see the module docstring
    run, asked = run_answering(recommendation_dag, lambda question: None)
    assert str(run.state) == "failed" and asked == []
    with create_session() as session:
        tis = {ti.task_id: str(ti.state) for ti in session.query(TaskInstance).filter_by(run_id=run.run_id)}
    assert tis["scores_accepted"] == "failed"
    assert tis["import_scores"] == tis["score_sheet"] == tis["rank"] == "success"  # the rest went on
    with session_scope(db_url) as s:
        notice = s.scalars(select(OutboxEmail).where(OutboxEmail.template == "staff_notice")).one()
        assert "第2行 列“得分”" in notice.body_text
        assert s.scalars(select(Problem)).one().message.startswith("scores/bad.xlsx 第2行")
    sheet = LocalStorage(tmp_path / "shared").list("score_sheets/")
    assert len(sheet) == 1  # the template for the agency is there, with the one application awaiting a score


def test_deadline_alert_configuration_and_callback(sqlite_url, dag_env, season, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """FIXED_DATETIME(national deadline) with a negative interval to 09:00, 5 working days earlier; the callback
    (imported by path, as the triggerer does) queues one staff notice to ops while the export is not done."""
    import asyncio
    from datetime import datetime

    from airflow._shared.module_loading import import_string

    from award.clock import TZ

    db_url = dag_env(sqlite_url, AWARD_FAKE_NOW="2023-06-12T09:00:00+08:00")
    import importlib

    import recommendation

    dag = importlib.reload(recommendation).recommendation_dag
    (alert,) = dag.deadline
    assert alert.reference.serialize_reference()["datetime"] == season.dates.national_deadline.timestamp()
    fires_at = season.dates.national_deadline + alert.interval
    assert fires_at == datetime(2023, 6, 12, 9, 0, tzinfo=TZ)  # 5 working days before Mon 19 June
    assert alert.callback.path == "award.recommendation.alerts.export_overdue_alert"
    with session_scope(db_url) as s:
        make_app(s, season, LocalBlobStore(tmp_path / "blobs"), n=1, state=State.CANDIDATE_CONFIRMED, score=90)
    callback = import_string(alert.callback.path)
    assert asyncio.run(callback(**alert.callback.kwargs)).startswith("outbox e-mail")
    asyncio.run(callback(**alert.callback.kwargs))  # the same day: one notice
    with session_scope(db_url) as s:
        notices = s.scalars(select(OutboxEmail).where(OutboxEmail.template == "staff_notice")).all()
    assert len(notices) == 1 and notices[0].to_addrs == [str(season.recommending_unit.ops_email)]
    assert "尚未按时报送" in notices[0].subject

"""The ``outbox`` DAG: a planner splits the due e-mails into batches; one mapped send_batch task per batch.

Runs with dag.test() against the SMTP catcher; the mapped task instances are counted in the Airflow metadata DB.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

DAGS = Path(__file__).resolve().parents[2] / "dags"
MAILS = 120  # 50 + 50 + 20: three batches


def _dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "outbox.py"))
    assert bag.import_errors == {}
    return bag.dags["outbox"]


def _task_instances(run_id: str) -> list[tuple[str, int, str, str]]:
    """(task_id, map_index, state, pool) of the outbox run's task instances, from the Airflow metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state, TaskInstance.pool)
            .where(TaskInstance.dag_id == "outbox", TaskInstance.run_id == run_id)
        ).all()
    return sorted((task_id, map_index, str(state), pool) for task_id, map_index, state, pool in rows)


def test_dag_shape() -> None:
    dag = _dag()
    assert [t.task_id for t in dag.topological_sort()] == ["plan", "send_batch"]
    assert dag.task_dict["send_batch"].pool == "smtp"
    assert dag.task_dict["plan"].pool != "smtp"  # planning sends nothing


def test_each_batch_is_one_mapped_task_and_each_mail_is_sent_once(dag_env, airflow_db, sqlite_url, season, smtp_server,
                                                                   tmp_path, monkeypatch) -> None:
    from award.mail.outbox import enqueue_many, prepare
    from award.store import session_scope
    from award.store.models import OutboxEmail

    dag_env(sqlite_url, smtp_server)
    context = {"greeting": "王经理", "unit": season.recommending_unit, "season_label": "第五届中国质量奖",
               "title": "材料已收到", "text": "您的申报材料已收到。", "items": []}
    with session_scope(sqlite_url) as session:
        enqueue_many(session, [prepare(key=f"dag-test:{n}", template="staff_notice", to=[f"a{n}@example.com"],
                                       context=context) for n in range(MAILS)])

    run = _dag().test()
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    tis = _task_instances(run.run_id)
    assert [(t, i) for t, i, _, _ in tis] == [("plan", -1), ("send_batch", 0), ("send_batch", 1), ("send_batch", 2)]
    assert {state for _, _, state, _ in tis} == {"success"}
    assert {pool for t, _, _, pool in tis if t == "send_batch"} == {"smtp"}

    received = sorted(r for mail in smtp_server.messages for r in mail.rcpt_tos)
    assert received == sorted(f"a{n}@example.com" for n in range(MAILS))  # each once
    with session_scope(sqlite_url) as session:
        assert set(session.scalars(select(OutboxEmail.status))) == {"sent"}

    # nothing due: the mapped task has no instance (skipped) and the run still succeeds
    again = _dag().test()
    assert str(again.state) in ("success", "DagRunState.SUCCESS")
    assert [(t, i, s) for t, i, s, _ in _task_instances(again.run_id)] == [
        ("plan", -1, "success"), ("send_batch", -1, "skipped")]
    assert len(smtp_server.messages) == MAILS


def test_a_failed_mail_fails_its_task_and_ops_get_the_failure_notice(dag_env, airflow_db, sqlite_url, season,
                                                                     faulty_smtp, tmp_path, monkeypatch) -> None:
    """Issue 13: a mail refused for good (550) is ``failed``, queues an ops alert, and fails its send_batch task, so
    the task's SmtpNotifier failure notice goes out to ops as well (the ``award outbox retry --failed`` way out)."""
    from award.mail.outbox import enqueue
    from award.store import session_scope
    from award.store.models import OutboxEmail

    dag_env(sqlite_url, faulty_smtp.catcher)
    context = {"greeting": "王经理", "unit": season.recommending_unit, "season_label": "第五届中国质量奖",
               "title": "材料已收到", "text": "您的申报材料已收到。", "items": []}
    with session_scope(sqlite_url) as session:
        email_id = enqueue(session, key="dag-test:refused", template="staff_notice", to=["a@example.com"],
                           context=context)[0].id
    faulty_smtp.faults = ["550"]  # the applicant's mail is refused; everything after it goes through

    run = _dag().test()
    assert str(run.state) in ("failed", "DagRunState.FAILED")
    assert [(t, s) for t, _i, s, _p in _task_instances(run.run_id)] == [("plan", "success"), ("send_batch", "failed")]
    with session_scope(sqlite_url) as session:
        row = session.get(OutboxEmail, email_id)
        assert row.status == "failed" and "550" in row.last_error
        alerts = session.scalars(select(OutboxEmail).where(OutboxEmail.idempotency_key.like("outbox:ops-alert:%")))
        assert [a.to_addrs for a in alerts] == [[str(season.recommending_unit.ops_email)]]
    notices = [m for m in faulty_smtp.messages if str(season.recommending_unit.ops_email) in m.rcpt_tos]
    assert len(notices) == 1 and "a@example.com" not in [r for m in faulty_smtp.messages for r in m.rcpt_tos]
    assert "outbox.send_batch" in notices[0].subject

"""The ``intake`` DAG end to end with dag.test(): Maildir + local folder, and IMAP (real Dovecot); replies are
drained from the outbox to a real SMTP server (aiosmtpd) and read back. A re-run creates and sends nothing new."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _intake_dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "intake.py"))
    assert bag.import_errors == {}
    return bag.dags["intake"]


def test_dag_shape_and_schedule() -> None:
    dag = _intake_dag()
    assert [t.task_id for t in dag.topological_sort()] == ["in_window", "fetch_mail", "fetch_storage", "process_pending"]
    assert dag.task_dict["fetch_mail"].pool == "imap"
    assert [o.name for o in dag.task_dict["process_pending"].outlets] == ["applications"]
    assert str(dag.timezone.name) == "Asia/Shanghai"
    from zoneinfo import ZoneInfo

    assert dag.start_date.astimezone(ZoneInfo("Asia/Shanghai")).isoformat() == "2023-04-10T00:00:00+08:00"
    assert dag.timetable.timetable.serialize()["expression"] == "*/15 * * * *"
    assert str(dag.timetable.summary).endswith("每 15 分钟（北京时间）")  # the schedule column in Beijing time


@pytest.fixture()
def env(dag_env, tmp_path, sqlite_url, smtp_server, monkeypatch):  # type: ignore[no-untyped-def]
    dag_env(sqlite_url, smtp_server, maildir=tmp_path / "maildir", AWARD_FAKE_NOW="2023-05-20T10:00:00+08:00")
    return tmp_path


def _generate(tmp_path: Path, count: int, seed: int, channels: tuple[str, ...] = ("mail", "city")):  # type: ignore[no-untyped-def]
    from award.config import load_season
    from award.demo.generator import generate

    return generate(tmp_path / "gen", count, seed, season=load_season(), defect_share=0.0, channels=channels)


def _drain(url: str, tmp_path: Path, smtp_server) -> int:  # type: ignore[no-untyped-def]
    from award.mail.outbox import drain
    from award.storage.blobs import LocalBlobStore
    from award.store.db import session_scope

    return len(drain(partial(session_scope, url), smtp_server.sender(), LocalBlobStore(tmp_path / "blobs").get_bytes).sent)


def _counts(url: str) -> dict[str, int]:
    from award.store.db import session_scope
    from award.store.models import Application, InboundItem, Material, OutboxEmail

    with session_scope(url) as s:
        return {name: s.scalar(select(func.count(model.id))) or 0
                for name, model in (("apps", Application), ("items", InboundItem), ("materials", Material),
                                    ("mails", OutboxEmail))}


def test_dag_maildir_and_local_folder(airflow_db, env, sqlite_url, smtp_server) -> None:  # type: ignore[no-untyped-def]
    from award.demo.setup import deliver
    from award.store.db import session_scope
    from award.store.models import Application

    result = _generate(env, 6, 11)
    deliver(env / "gen", env / "maildir", env / "shared")
    run = _intake_dag().test()
    assert str(run.state) in ("success", "DagRunState.SUCCESS")

    with session_scope(sqlite_url) as s:
        apps = list(s.scalars(select(Application)))
        assert sorted(a.applicant.key for a in apps) == sorted(a.key for a in result.applications)
        assert all(a.state == "received" for a in apps)
        by_key = {a.applicant.key: a for a in apps}
        for gen in result.applications:
            app = by_key[gen.key]
            assert app.channel == gen.channel
            kinds = {m.kind for m in app.materials}
            assert {"form_docx", "form_pdf", "evidence", "publicity_proof"} <= kinds
            assert "city_recommendation" in kinds  # the recommending unit's 审核推荐意见, mailed or city letter
        numbers = {a.submission_no for a in apps}
    assert numbers == {f"GS-2023-{i:04d}" for i in range(1, 7)}

    assert _drain(sqlite_url, env, smtp_server) == 6
    for gen in result.applications:
        [mail] = smtp_server.to(gen.fields["email"])
        assert mail.subject.startswith("【第五届中国质量奖】申报材料已收到（GS-2023-")
        assert gen.name in mail.text() and "申报表" in mail.text()

    before = _counts(sqlite_url)
    run = _intake_dag().test()  # a re-run: nothing new archived, created or sent
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    assert _counts(sqlite_url) == before
    assert _drain(sqlite_url, env, smtp_server) == 0
    assert len(smtp_server.messages) == 6


def test_dag_imap_against_dovecot(airflow_db, env, sqlite_url, smtp_server, dovecot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from award.demo.setup import build_message
    from award.store.db import session_scope
    from award.store.models import Application, InboundItem

    result = _generate(env, 2, 5, channels=("mail",))
    for gen in result.applications:
        folder = env / "gen" / gen.folder
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        from award.clock import now

        dovecot.append(build_message(meta, folder, now()))
    monkeypatch.setenv("AWARD_MAIL_SOURCE", "imap")
    monkeypatch.setenv("AIRFLOW_CONN_AWARD_IMAP", json.dumps({
        "conn_type": "imap", "host": dovecot.host, "port": dovecot.port, "login": dovecot.user,
        "password": dovecot.password, "extra": {"use_ssl": False}}))
    run = _intake_dag().test()
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    with session_scope(sqlite_url) as s:
        assert s.scalar(select(func.count(Application.id))) == 2
        assert {i.channel for i in s.scalars(select(InboundItem))} == {"imap"}
    assert _drain(sqlite_url, env, smtp_server) == 2
    run = _intake_dag().test()
    assert _counts(sqlite_url)["items"] == 2
    assert _drain(sqlite_url, env, smtp_server) == 0

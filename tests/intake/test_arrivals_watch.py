"""The event-driven intake watcher: the domain probes (``award.intake.watch``) against a real Maildir, folder, S3 (moto's
server) and IMAP (Dovecot: STATUS and IDLE), the triggerer's ``ArrivalsTrigger`` (a restart loses nothing), and the
DAG wiring (watchers + the 15-minute safety net; the outbox on intake's asset event). ``test_watcher_and_schedule``
runs the real intake DAG twice over the same arrivals: nothing is processed or acknowledged twice."""

from __future__ import annotations

import asyncio
import json
import mailbox
from pathlib import Path

import pytest

from tests.fixtures import build_raw_mail

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _mail(n: int) -> bytes:
    return build_raw_mail(f"申报材料 {n}", "附件是申报材料。", sender=f"applicant{n}@example.com", to="office@example.gov.cn")


def _take(root: Path, key: str) -> None:
    """What intake does with a taken message: into ``.processed`` (award.inbound.sources.MaildirSource)."""
    from award.inbound.sources import MaildirSource

    src = MaildirSource(root, "office")
    [item] = [i for i in src.messages(None) if i.handle == key]  # type: ignore[arg-type]
    src.mark_processed([item])
    src.close()


def test_maildir_probe_announces_each_arrival_once(tmp_path: Path) -> None:
    from award.intake.watch import ArrivalWatch, MaildirProbe

    box = mailbox.Maildir(tmp_path / "office", create=True)
    watch = ArrivalWatch(MaildirProbe(tmp_path, "office"))
    assert watch.check() == frozenset()
    first = box.add(_mail(1))
    assert watch.check() == {f"maildir:office:{first}"}
    assert watch.check() == frozenset()  # announced: not again
    seen = mailbox.MaildirMessage(_mail(2))
    seen.set_subdir("cur")  # read by a mail client (moved to cur/): still waiting for intake
    second = box.add(seen)
    assert watch.check() == {f"maildir:office:{second}"}
    _take(tmp_path, first)
    assert MaildirProbe(tmp_path, "office").waiting() == {f"maildir:office:{second}"}
    # a restarted watcher (new instance, no memory) announces what is still waiting: nothing is lost
    assert ArrivalWatch(MaildirProbe(tmp_path, "office")).check() == {f"maildir:office:{second}"}
    _take(tmp_path, second)
    assert watch.check() == frozenset()


def test_local_folder_waits_for_a_settled_file_and_forgets_archived_ones(make_rt, tmp_path: Path, sqlite_url: str) -> None:
    from award.inbound.sources import fetch_storage
    from award.intake.watch import ArrivalWatch, StorageProbe
    from award.storage.shared import LocalStorage
    from award.store.db import session_scope

    storage = LocalStorage(tmp_path / "shared")
    watch = ArrivalWatch(StorageProbe(storage, sqlite_url), settle=True)
    storage.write("incoming/lanzhou/a.pdf", b"%PDF-1.4 part")
    assert watch.check() == frozenset()  # seen once: may still be copying
    storage.write("incoming/lanzhou/a.pdf", b"%PDF-1.4 part and the rest")  # still changing
    assert watch.check() == frozenset()
    [announced] = watch.check()  # unchanged since the last probe: announced
    assert announced.startswith("incoming/lanzhou/a.pdf@")
    assert watch.check() == frozenset()

    rt = make_rt(sqlite_url, shared=storage)
    with session_scope(sqlite_url) as session:
        assert len(fetch_storage(session, rt, "incoming/")) == 1
    assert StorageProbe(storage, sqlite_url).waiting() == frozenset()  # archived: no longer waiting


def test_s3_listing_against_archived_keys(make_rt, s3_bucket, sqlite_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from award.inbound.sources import fetch_storage
    from award.intake.watch import ArrivalWatch, StorageProbe
    from award.storage.shared import S3Storage
    from award.store.db import session_scope

    client, bucket = s3_bucket
    storage = S3Storage(client, bucket, "shared/")
    watch = ArrivalWatch(StorageProbe(storage, sqlite_url))
    assert watch.check() == frozenset()
    storage.write("incoming/tianshui/form.docx", b"PK\x03\x04 form")
    [key] = watch.check()
    assert key.startswith("incoming/tianshui/form.docx@")
    rt = make_rt(sqlite_url, shared=storage)
    with session_scope(sqlite_url) as session:
        fetch_storage(session, rt, "incoming/")
    assert StorageProbe(storage, sqlite_url).waiting() == frozenset()
    storage.write("incoming/tianshui/form.docx", b"PK\x03\x04 corrected form")  # a new version waits again
    assert len(watch.check()) == 1


def _imap_settings(dovecot):  # type: ignore[no-untyped-def]
    from award.connections import ImapSettings

    return ImapSettings(host=dovecot.host, port=dovecot.port, user=dovecot.user, password=dovecot.password,
                        use_ssl=False)


def test_imap_status_uidnext_against_the_cursor(make_rt, dovecot, sqlite_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from award.inbound.sources import ImapSource, fetch_mail
    from award.intake.watch import ArrivalWatch, ImapProbe
    from award.store.db import session_scope

    settings = _imap_settings(dovecot)
    dovecot.append(_mail(0))  # creates INBOX
    rt = make_rt(sqlite_url)
    source = ImapSource(settings)
    with session_scope(sqlite_url) as session:
        fetch_mail(session, rt, source)
    source.close()

    probe = ImapProbe(settings, sqlite_url, idle=False)  # a server without IDLE: the watcher polls STATUS
    try:
        assert probe.push is False
        watch = ArrivalWatch(probe)
        assert watch.check() == frozenset()  # everything up to the cursor is archived
        uid = dovecot.append(_mail(1))
        assert watch.check() == {f"imap:{probe.mailbox_id}:INBOX:{probe.status()[0]}:{uid}"}
        assert watch.check() == frozenset()
    finally:
        probe.close()
    restarted = ImapProbe(settings, sqlite_url, idle=False)
    try:
        assert len(ArrivalWatch(restarted).check()) == 1  # still not archived: announced again after a restart
        source = ImapSource(settings)
        with session_scope(sqlite_url) as session:
            fetch_mail(session, rt, source)
        source.close()
        assert restarted.waiting() == frozenset()
    finally:
        restarted.close()


def test_imap_idle_returns_when_mail_lands(dovecot, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    from award.intake.watch import ImapProbe

    dovecot.append(_mail(0))
    probe = ImapProbe(_imap_settings(dovecot), sqlite_url)
    try:
        assert probe.push is True  # Dovecot offers IDLE
        before = probe.waiting()
        dovecot.append(_mail(1))
        assert probe.wait(timeout=60) is True  # the server reports the new message (EXISTS)
        assert probe.waiting() != before
    finally:
        probe.close()


# ------------------------------------------------------------------------------------------ the trigger


def _trigger(**kwargs):  # type: ignore[no-untyped-def]
    from arrivals_trigger import ArrivalsTrigger

    return ArrivalsTrigger(**kwargs)


def test_trigger_is_an_event_trigger_and_round_trips() -> None:
    from airflow._shared.module_loading import import_string
    from airflow.triggers.base import BaseEventTrigger

    trigger = _trigger(source="mail", poll_interval=2)
    assert isinstance(trigger, BaseEventTrigger)
    classpath, kwargs = trigger.serialize()
    again = import_string(classpath)(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert "password" not in json.dumps(kwargs)
    with pytest.raises(ValueError, match="source"):
        _trigger(source="fax")


async def _first_event(trigger):  # type: ignore[no-untyped-def]
    agen = trigger.run()
    try:
        return await asyncio.wait_for(agen.__anext__(), timeout=60)
    finally:
        await agen.aclose()  # what the triggerer does when it stops: the generator is closed


def test_trigger_restart_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWARD_MAILDIR", str(tmp_path / "maildir"))
    monkeypatch.setenv("AWARD_MAIL_SOURCE", "maildir")
    (tmp_path / "maildir").mkdir()
    box = mailbox.Maildir(tmp_path / "maildir" / "office", create=True)
    key = box.add(_mail(1))
    trigger = _trigger(source="mail", poll_interval=0.05)
    event = asyncio.run(_first_event(trigger))
    assert event.payload == {"source": "mail", "name": "maildir:office", "new": 1, "first": f"maildir:office:{key}"}

    # the triggerer stops before intake ran, and a mail lands while it is down
    later = box.add(_mail(2))
    classpath, kwargs = trigger.serialize()
    from airflow._shared.module_loading import import_string

    restarted = import_string(classpath)(**kwargs)
    event = asyncio.run(_first_event(restarted))
    assert event.payload["new"] == 2  # both still waiting: announced again
    assert event.payload["first"] == min(f"maildir:office:{k}" for k in (key, later))


def test_storage_trigger_fires_for_an_upload(tmp_path: Path, sqlite_url: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from award.storage.shared import LocalStorage

    monkeypatch.setenv("AWARD_DB_URL", sqlite_url)
    monkeypatch.setenv("AWARD_SHARED_URL", str(tmp_path / "shared"))
    LocalStorage(tmp_path / "shared").write("incoming/jiuquan/a.pdf", b"%PDF-1.4")
    event = asyncio.run(_first_event(_trigger(source="storage", poll_interval=0.05)))
    assert event.payload["source"] == "storage" and event.payload["first"].startswith("incoming/jiuquan/a.pdf@")


# ------------------------------------------------------------------------------------------ DAG wiring


def _dags():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.dags


def test_intake_runs_on_the_watchers_and_every_15_minutes_and_the_outbox_on_intake() -> None:
    from airflow.timetables.assets import AssetOrTimeSchedule
    from airflow.triggers.base import BaseEventTrigger
    from intake import ARRIVALS_ASSET

    assert ARRIVALS_ASSET.name == "award_arrivals" and "://" not in ARRIVALS_ASSET.uri  # no scheme: cheap to parse
    triggers = {w.name: w.trigger for w in ARRIVALS_ASSET.watchers}
    assert set(triggers) == {"award_mail_watcher", "award_storage_watcher"}
    assert all(isinstance(t, BaseEventTrigger) for t in triggers.values())
    assert {t.serialize()[1]["source"] for t in triggers.values()} == {"mail", "storage"}

    dags = _dags()
    intake = dags["intake"].timetable
    assert isinstance(intake, AssetOrTimeSchedule)
    assert intake.timetable._expression == "*/15 * * * *"  # the safety net
    [(_key, asset)] = list(intake.asset_condition.iter_assets())
    assert asset.name == "award_arrivals"
    assert {w.trigger["classpath"] for w in asset.watchers} == {"arrivals_trigger.ArrivalsTrigger"}

    outbox = dags["outbox"].timetable
    assert isinstance(outbox, AssetOrTimeSchedule)
    emitted = {o.uri for o in dags["intake"].task_dict["process_pending"].outlets}
    assert {key.uri for key, _ in outbox.asset_condition.iter_assets()} == emitted


def test_watcher_and_schedule_both_fire_nothing_twice(dag_env, airflow_db, tmp_path: Path, sqlite_url: str, smtp_server,  # type: ignore[no-untyped-def]
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The watcher's run and the scheduled run both take the same arrivals: one item, one acknowledgment each."""
    from functools import partial

    from sqlalchemy import func, select

    from award.config import load_season
    from award.demo.generator import generate
    from award.demo.setup import deliver
    from award.intake.watch import ArrivalWatch, MaildirProbe
    from award.mail.outbox import drain
    from award.storage.blobs import LocalBlobStore
    from award.store.db import session_scope
    from award.store.models import InboundItem, OutboxEmail

    dag_env(sqlite_url, maildir=tmp_path / "maildir", AWARD_FAKE_NOW="2023-05-20T10:00:00+08:00")
    generate(tmp_path / "gen", 3, 7, season=load_season(), defect_share=0.0, channels=("mail",))
    deliver(tmp_path / "gen", tmp_path / "maildir", tmp_path / "shared")
    watch = ArrivalWatch(MaildirProbe(tmp_path / "maildir", "office"))
    assert len(watch.check()) == 3  # the watcher fires

    intake = _dags()["intake"]
    for _ in ("asset-triggered run", "scheduled run"):
        run = intake.test()
        assert str(run.state) in ("success", "DagRunState.SUCCESS")
    with session_scope(sqlite_url) as s:
        assert s.scalar(select(func.count(InboundItem.id))) == 3
        assert s.scalar(select(func.count(OutboxEmail.id))) == 3
    sent = drain(partial(session_scope, sqlite_url), smtp_server.sender(), LocalBlobStore(tmp_path / "blobs").get_bytes)
    assert len(sent.sent) == 3 and len(smtp_server.messages) == 3
    assert watch.check() == frozenset() and watch.probe.waiting() == frozenset()  # taken: no further run


def test_imap_trigger_fires_through_the_connection(dovecot, sqlite_url: str,  # type: ignore[no-untyped-def]
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """AWARD_MAIL_SOURCE=imap: the trigger reads the award_imap connection in the triggerer and waits in IDLE."""
    monkeypatch.setenv("AWARD_DB_URL", sqlite_url)
    monkeypatch.setenv("AWARD_MAIL_SOURCE", "imap")
    monkeypatch.setenv("AIRFLOW_CONN_AWARD_IMAP", json.dumps({
        "conn_type": "imap", "host": dovecot.host, "port": dovecot.port, "login": dovecot.user,
        "password": dovecot.password, "extra": {"use_ssl": False}}))
    uid = dovecot.append(_mail(1))
    event = asyncio.run(_first_event(_trigger(source="mail")))
    assert event.payload["source"] == "mail" and event.payload["first"].endswith(f":{uid}")

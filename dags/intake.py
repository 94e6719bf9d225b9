"""收件 (intake): applications from the office mailbox and the cities' shared-storage uploads.

fetch_mail (pool ``imap``) -> fetch_storage -> process_pending (outlet: the asset ``applications``, which the
``completeness`` DAG is scheduled on). Every step is idempotent: a re-run archives, creates and sends nothing new.

Mailbox: ``AWARD_MAIL_SOURCE`` = ``maildir`` (default: the Maildir ``office`` folder under ``AWARD_MAILDIR``) or
``imap`` (the ``award_imap`` connection: host, port, login, password; extra ``use_ssl`` (default true),
``folder`` (INBOX), ``processed_folder`` (Processed)). Shared storage: ``incoming/`` under ``AWARD_SHARED_URL``.

Schedule: at once when the triggerer's watchers (``ArrivalsTrigger`` on the ``award_arrivals`` asset) see new mail or
uploads waiting, and every 15 minutes (Asia/Shanghai) as the safety net that works without the watchers. Runs do not
overlap (``max_active_runs=1``) and take each item once (source keys), so a watcher run and a scheduled run never
process anything twice. Both start from the season's ``application_open``; scheduled runs work until the
provincial deadline plus a grace period (``AWARD_INTAKE_GRACE_DAYS``, default 30 days), so that late arrivals are
still archived and answered (逾期不再受理) and corrections sent after the deadline are taken while their correction
period runs. Outside that window the ``in_window`` gate (the rule: ``award.intake.window_open``) skips the run
(idle). The window is a gate, not the DAG's ``end_date``: Airflow creates no task instances for a run whose logical
date is after ``end_date``, which would make a manual run after the window silently do nothing. Ops can trigger a
run by hand at any time (manual runs pass the gate).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from arrivals_trigger import ArrivalsTrigger
from beijing_cron import BeijingCronTimetable
from pipeline_common import IMAP_POOL, TAGS, TZ, default_args, facts, local_dt

APPLICATIONS_ASSET = Asset(name="applications")  # a plain name: no URI scheme, no provider handlers to load
# New mail or uploads waiting, announced by the triggerer's watchers (see plugins/arrivals_trigger.py).
ARRIVALS_ASSET = Asset(name="award_arrivals", watchers=[
    AssetWatcher(name="award_mail_watcher", trigger=ArrivalsTrigger(source="mail", poll_interval=2)),
    AssetWatcher(name="award_storage_watcher", trigger=ArrivalsTrigger(source="storage", poll_interval=5)),
])


@dag(
    dag_id="intake",
    description="收件：从申报邮箱和市州共享目录收取申报材料，存档、解析、登记申报并发送回执",
    # at once when the watchers announce arrivals; every 15 minutes (Beijing time) as the safety net
    schedule=AssetOrTimeSchedule(timetable=BeijingCronTimetable("*/15 * * * *", timezone=TZ), assets=[ARRIVALS_ASSET]),
    start_date=local_dt(facts().dates.application_open),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[*TAGS, "intake"],
    dagrun_timeout=timedelta(minutes=60),
    auto_register=False,  # other DAG files import APPLICATIONS_ASSET from here: only this file defines the DAG
)
def intake() -> None:
    @task.short_circuit
    def in_window(dag_run: Any = None) -> bool:
        """Scheduled runs work from application_open to the provincial deadline + grace; manual runs always."""
        from pipeline_common import season

        from award.intake import window_open

        manual = dag_run is not None and str(getattr(dag_run, "run_type", "")).endswith("manual")
        return window_open(season(), manual=manual)

    @task(pool=IMAP_POOL)
    def fetch_mail() -> dict[str, int]:
        """Archive every new message of the office mailbox (then flag and move it; never delete)."""
        from airflow.sdk import BaseHook
        from pipeline_common import IMAP_CONN_ID, domain_session

        from award.connections import ImapSettings
        from award.inbound import fetch_mail, mail_source_from_env
        from award.intake import imap_mailbox

        imap = ImapSettings.from_connection(BaseHook.get_connection(IMAP_CONN_ID)) if imap_mailbox() else None
        source = mail_source_from_env("office", imap)
        try:
            with domain_session() as (session, rt):
                ids = fetch_mail(session, rt, source)
        finally:
            source.close()
        return {"archived": len(ids)}

    @task
    def fetch_storage() -> dict[str, int]:
        """Archive every new or changed object under incoming/ in shared storage."""
        from pipeline_common import domain_session

        from award.inbound import fetch_storage

        with domain_session() as (session, rt):
            ids = fetch_storage(session, rt, "incoming/")
        return {"archived": len(ids)}

    @task(outlets=[APPLICATIONS_ASSET])
    def process_pending() -> dict[str, int]:
        """Parse and match every archived item; store applications and materials; queue the replies."""
        from pipeline_common import domain_session

        from award.intake import process_pending

        with domain_session() as (session, rt):
            return process_pending(session, rt).as_dict()

    # mail and storage are fetched side by side (one task start less before the acknowledgment)
    in_window() >> [fetch_mail(), fetch_storage()] >> process_pending()


intake_dag = intake()

"""Drain the outbox: send queued e-mails with yagmail over the ``smtp_default`` connection (pool ``smtp``).

Runs on intake's asset event (the acknowledgments go out within a minute of the mail) and every 5 minutes.

plan (e-mails left "sending" by a dead worker become "unknown"; "unknown" ones are looked up in the sent folder when
the ``award_imap`` connection names one; then the due e-mail ids in batches of about SEND_BATCH_SIZE, all of one
recipient's in one batch, in queue order) -> send_batch (mapped: one task per batch, in pool ``smtp``, whose slots
limit the concurrent sends across all workers). With nothing due the mapped task has no instance and is skipped.
An e-mail that became "unknown" or "failed" queues a notice to ops and fails its send_batch task (no retry), so
the failure notice goes out too; ``award outbox show|retry|resolve`` is the way out.

Airflow maps a task over at most ``[core] max_map_length`` (1024) items: 1024 batches of 50 cover 51,200 due
e-mails; beyond that the planner makes larger batches (``award.batching.chunk``) rather than fail.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from beijing_cron import BeijingCronTimetable
from pipeline_common import SMTP_POOL, TAGS, TZ, default_args

try:  # the intake DAG owns the asset; the same URI is the same asset
    from intake import APPLICATIONS_ASSET
except ImportError:  # pragma: no cover - intake not deployed
    APPLICATIONS_ASSET = Asset("award://applications")

SEND_BATCH_SIZE = 50  # e-mails per mapped send_batch task


@dag(
    dag_id="outbox",
    description="发送待发邮件（发件箱）",
    # at once after intake queued replies (its asset event), and every 5 minutes (Beijing time) for everything else
    schedule=AssetOrTimeSchedule(timetable=BeijingCronTimetable("*/5 * * * *", timezone=TZ), assets=[APPLICATIONS_ASSET]),
    start_date=pendulum.datetime(2023, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=1),
    tags=[*TAGS, "mail"],
    dagrun_timeout=timedelta(minutes=30),
)
def outbox() -> None:
    @task
    def plan() -> list[list[int]]:
        """Recover stale sends; the due e-mail ids in batches (small ints only in XCom)."""
        from pipeline_common import runtime, sent_folder

        from award.mail import plan_sends

        folder = sent_folder()
        try:
            return plan_sends(runtime(), SEND_BATCH_SIZE, sent_folder=folder)
        finally:
            if folder is not None:
                folder.close()

    @task(pool=SMTP_POOL, map_index_template="{{ batch_label }}")
    def send_batch(ids: list[int]) -> dict[str, int]:
        """Send one batch; failures are retried with backoff and stay visible in the store."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException
        from pipeline_common import runtime, smtp_sender

        from award.mail import send_planned

        get_current_context()["batch_label"] = f"{len(ids)} 封（{ids[0]}–{ids[-1]}）"
        result = send_planned(runtime(), smtp_sender(), ids)
        if result.failed or result.unknown:
            raise AirflowFailException(
                f"outbox e-mails failed {result.failed} / outcome unknown {result.unknown} "
                f"({len(result.sent)} sent): see award outbox show")
        return {"sent": len(result.sent), "retried": len(result.retried), "held": len(result.held)}

    send_batch.expand(ids=plan())


outbox()

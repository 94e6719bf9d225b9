"""Drain the outbox: send queued e-mails with yagmail over the ``smtp_default`` connection (pool ``smtp``)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from pipeline_common import SMTP_POOL, TAGS, TZ, default_args


@dag(
    dag_id="outbox",
    description="发送待发邮件（发件箱）",
    schedule=CronTriggerTimetable("*/5 * * * *", timezone=TZ),
    start_date=pendulum.datetime(2023, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=1),
    tags=[*TAGS, "mail"],
    dagrun_timeout=timedelta(minutes=30),
)
def outbox() -> None:
    @task(pool=SMTP_POOL)
    def send_pending() -> dict[str, int]:
        """Send every due e-mail; failures are retried with backoff and stay visible in the store."""
        from functools import partial

        from pipeline_common import runtime, smtp_sender

        from award.mail.outbox import drain
        from award.store import session_scope

        rt = runtime()
        result = drain(partial(session_scope, rt.db_url), smtp_sender(), rt.blobs.get_bytes)
        return {"sent": len(result.sent), "retried": len(result.retried), "failed": len(result.failed)}

    send_pending()


outbox()

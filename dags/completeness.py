"""形式审查 (completeness and eligibility checks) with the correction loop (补正).

Schedule (one DAG, ``AssetOrTimeSchedule``): every update of the intake asset ``applications`` starts a
run at once, and a daily run at 08:30 Asia/Shanghai on Chinese working days (``WorkdayTimetable``) sends the
correction reminders and closes applications whose correction deadline has passed. Every run does the same
idempotent steps, so it does not matter which trigger started it:

plan_checks (ids of new or changed applications, in batches of ``award.completeness.steps.CHECK_BATCH_SIZE``)
-> check_batch (mapped: one task per batch, never one per application) -> sweep_deadlines (reminders, closing)
-> write_report (.xlsx + .html under reports/<season>/ in shared storage; the task log names the files and the
counts). Each task calls one entry point of ``award.completeness``. With nothing to check the
mapped task has no instance and is skipped; sweep_deadlines (trigger rule ``none_failed``) and write_report still
run. A failed batch stops the sweep and the report of that run (as before: the next run checks again).

Airflow maps a task over at most ``[core] max_map_length`` (1024) items: 1024 batches of 200 cover 204,800
applications; beyond that the planner makes larger batches (``award.batching.chunk``) rather than fail.
E-mails are only queued here; the ``outbox`` DAG sends them.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from pipeline_common import TAGS, TZ, default_args
from workday_timetable import WorkdayTimetable

try:  # the intake DAG owns the asset; the same name is the same asset
    from intake import APPLICATIONS_ASSET
except ImportError:  # pragma: no cover - intake not deployed
    APPLICATIONS_ASSET = Asset(name="applications")

SWEEP_AT = "08:30"


@dag(
    dag_id="completeness",
    description="形式审查：检查新的或有变化的申报，发送补正/通过通知，提醒并处理逾期未补正，生成审查情况报告",
    schedule=AssetOrTimeSchedule(timetable=WorkdayTimetable(at=SWEEP_AT, timezone=TZ), assets=[APPLICATIONS_ASSET]),
    start_date=pendulum.datetime(2023, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[*TAGS, "completeness"],
    dagrun_timeout=timedelta(hours=2),
)
def completeness() -> None:
    @task
    def plan_checks() -> list[list[int]]:
        """Ids of the applications to check, in batches (small ints only in XCom)."""
        from pipeline_common import runtime

        from award.completeness import plan_checks as plan

        return plan(runtime())

    @task(map_index_template="{{ batch_label }}")
    def check_batch(application_ids: list[int], run_id: str | None = None) -> dict:
        """Check one batch of applications; store the results; queue correction/complete mails."""
        from airflow.sdk import get_current_context
        from pipeline_common import runtime

        from award.completeness import batch_label
        from award.completeness import check_batch as check

        get_current_context()["batch_label"] = batch_label(application_ids)
        summary = check(runtime(), application_ids, run_id=run_id)
        if summary.integrity_errors:  # a corrupt stored file is an ops error: the run shows it (failure notice)
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"stored files corrupt for applications {summary.integrity_errors} "
                                       "(not checked, applicants not told): run award blobs verify")
        return summary.as_dict()

    @task(trigger_rule="none_failed")  # also after an empty plan (the mapped check_batch is skipped)
    def sweep_deadlines() -> dict:
        """Remind before correction deadlines; close applications still incomplete after theirs; move the
        applications whose recommending unit ran 征求意见 and 公示 on to the scores."""
        from pipeline_common import runtime

        from award.completeness import sweep

        return sweep(runtime())

    @task
    def write_report() -> dict:
        """Write the staff report (.xlsx and .html) to shared storage and log where it is."""
        import logging

        from pipeline_common import domain_session

        from award.completeness import report_log_lines, write_staff_report

        with domain_session() as (session, rt):
            result = write_staff_report(session, rt)
        log = logging.getLogger("airflow.task")
        for line in report_log_lines(result):
            log.info("%s", line)
        return result.as_dict()

    check_batch.expand(application_ids=plan_checks()) >> sweep_deadlines() >> write_report()


completeness()

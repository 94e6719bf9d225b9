"""Publicity (公示): open a window with one action, wait for its end without a worker slot, close, decide objections.

``publicity`` is triggered by ops (params: purpose, optional submission numbers; default every eligible
application). It opens the window (notice published, applicants e-mailed through the outbox), waits with a
deferrable DateTimeSensorAsync (``ClockDateTimeSensorAsync``: under ``make run`` the demo
clock) until the window's ``end_at`` (the triggerer holds the wait, not a worker),
takes the last objections, asks staff to place objections nobody could match (human-in-the-loop, one per
objection), closes the window, asks for a decision on every open objection (HITL: 异议成立 / 异议不成立 with a
required reason) and applies the decisions (audited, applicant and objector e-mailed).

``publicity_objections`` reads the objections mailbox and the ``objections/`` folder every 30 minutes, so
objections are acknowledged and matched while the window runs.

The recommendation stage reuses the same DAG with ``purpose="candidate"`` (or calls award.publicity directly).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from beijing_cron import BeijingCronTimetable
from demo_clock import ClockDateTimeSensorAsync
from pipeline_common import IMAP_OBJECTIONS_CONN_ID, IMAP_POOL, TAGS, TZ, default_args, domain_session
from reasking_hitl import ReaskingHITLOperator

import award
from award.seasonfile import yaml_load

# the trigger form and the decision form (schemas and words): award.publicity's publicity/forms.yaml
_FORMS = yaml_load((Path(award.__file__).parent / "publicity" / "templates" / "publicity" / "forms.yaml").read_bytes())
TRIGGER_PARAMS = {name: Param(**schema) for name, schema in _FORMS["trigger"].items()}
DECISION = _FORMS["decision"]
DECISION_OPTIONS: list[str] = list(DECISION["options"].values())
DECISION_PARAMS = {name: Param(**schema) for name, schema in DECISION["params"].items()}


def _scan() -> dict[str, int]:
    """Take new objections from the mailbox and the folder (shared by both DAGs).

    The objections mailbox: the Maildir folder ``objections`` (default) or, with AWARD_MAIL_SOURCE=imap, the
    ``award_imap_objections`` connection (same extras as ``award_imap``).
    """
    from airflow.sdk import BaseHook

    from award.connections import ImapSettings
    from award.inbound import mail_source_from_env
    from award.publicity import take_objections

    with domain_session() as (session, rt):
        imap = None
        if os.environ.get("AWARD_MAIL_SOURCE", "maildir").strip().lower() == "imap":
            imap = ImapSettings.from_connection(BaseHook.get_connection(IMAP_OBJECTIONS_CONN_ID))
        return take_objections(session, rt, mail_source_from_env("objections", imap))


def _requests(objection_ids: list[int]) -> list[dict[str, str]]:
    from award.publicity import decision_requests

    with domain_session() as (session, rt):
        return decision_requests(session, rt, objection_ids)


def _apply(objection_ids: list[int], task_id: str) -> dict[str, int]:
    """Apply the human answers of the mapped HITL task ``task_id`` (map index i answers objection_ids[i])."""
    from award.publicity import apply_answers

    if not objection_ids:
        return {"decided": 0}
    ti = get_current_context()["ti"]
    answers = ti.xcom_pull(task_ids=task_id, map_indexes=list(range(len(objection_ids))))
    with domain_session() as (session, rt):
        return apply_answers(session, rt, objection_ids, answers)


@dag(
    dag_id="publicity",
    description="公示：一键开启公示（生成并发布公示、通知申报单位），工作日期满自动结束，异议逐件人工决定",
    schedule=None,
    start_date=pendulum.datetime(2023, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=2,
    default_args=default_args(),
    tags=[*TAGS, "publicity"],
    params=TRIGGER_PARAMS,
)
def publicity() -> None:
    @task
    def open_window() -> dict[str, Any]:
        """Select the applications, open the window, publish the notice, queue the applicants' e-mails."""
        from award.publicity import open_publicity

        params = get_current_context()["params"]
        with domain_session() as (session, rt):
            return open_publicity(session, rt, params["purpose"], params.get("submission_nos") or None,
                                  opened_at=params.get("opened_at") or None, actor="airflow")

    opened = open_window()

    wait = ClockDateTimeSensorAsync(  # the wall clock; under make run the demo clock (award demo advance)
        task_id="wait_for_end",
        target_time="{{ ti.xcom_pull(task_ids='open_window')['end_at'] }}",
    )

    @task(pool=IMAP_POOL)
    def take_objections() -> dict[str, int]:
        """The last objections before the close (the 30-minute DAG took the earlier ones)."""
        return _scan()

    @task
    def unmatched(window: dict[str, Any]) -> list[int]:
        from award.publicity import objections_to_place

        with domain_session() as (session, rt):
            return objections_to_place(session, rt, window["window_id"])

    @task
    def requests(objection_ids: list[int]) -> list[dict[str, str]]:
        return _requests(objection_ids)

    @task(trigger_rule="none_failed")
    def apply_placed(objection_ids: list[int]) -> dict[str, int]:
        return _apply(objection_ids, "place_unmatched")

    @task(trigger_rule="none_failed")
    def close(window: dict[str, Any]) -> list[int]:
        """Close the window: who has no open objection passes; the open objections need a decision."""
        from award.publicity import close_window

        with domain_session() as (session, rt):
            return close_window(session, rt, window["window_id"], actor="airflow").objection_ids

    @task(trigger_rule="none_failed")
    def apply_decisions(objection_ids: list[int]) -> dict[str, int]:
        return _apply(objection_ids, "decide")

    taken = take_objections()
    opened >> wait >> taken
    lost = unmatched(opened)
    taken >> lost
    place = ReaskingHITLOperator.partial(
        task_id="place_unmatched", options=DECISION_OPTIONS, params=DECISION_PARAMS,
        required_params=DECISION["required"],
    ).expand_kwargs(requests(lost))
    placed = apply_placed(lost)
    place >> placed
    pending = close(opened)
    placed >> pending
    decide = ReaskingHITLOperator.partial(
        task_id="decide", options=DECISION_OPTIONS, params=DECISION_PARAMS, required_params=DECISION["required"],
    ).expand_kwargs(requests.override(task_id="decision_requests")(pending))
    decide >> apply_decisions(pending)


publicity_dag = publicity()


@dag(
    dag_id="publicity_objections",
    description="公示异议收取：每30分钟读取异议邮箱和书面异议扫描件目录，登记、匹配并回执",
    schedule=BeijingCronTimetable("*/30 * * * *", timezone=TZ),
    start_date=pendulum.datetime(2023, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[*TAGS, "publicity", "mail"],
    dagrun_timeout=timedelta(minutes=25),
)
def publicity_objections() -> None:
    @task(pool=IMAP_POOL)
    def take_objections() -> dict[str, int]:
        """Archive, match, acknowledge and record new objections."""
        return _scan()

    take_objections()


objections_dag = publicity_objections()

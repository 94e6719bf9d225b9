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

The recommendation stage reuses the same DAG with ``purpose="candidate"`` (or calls award.publicity.core directly).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from beijing_cron import BeijingCronTimetable
from demo_clock import ClockDateTimeSensorAsync
from pipeline_common import IMAP_POOL, TAGS, TZ, default_args
from reasking_hitl import ReaskingHITLOperator

UPHELD_OPTION = "异议成立"
DISMISSED_OPTION = "异议不成立"
DECISIONS = {UPHELD_OPTION: "upheld", DISMISSED_OPTION: "dismissed"}
DECISION_PARAMS = {
    # required in the form (REQUIRED below: the page refuses an empty or blank reason); null is only the task's
    # "not answered yet" value; an invalid answer given through the API is asked again
    "reason": Param(None, type=["null", "string"], minLength=1, pattern=r"\S", title="理由",
                    description="决定理由（必填，记入审计日志）"),
    "submission_no": Param(None, type=["null", "string"], title="申报编号",
                           description="仅在异议未能自动匹配时填写被异议对象的申报编号"),
}


def _scan() -> dict[str, int]:
    """Take new objections from the mailbox and the folder (shared by both DAGs).

    The objections mailbox: the Maildir folder ``objections`` (default) or, with AWARD_MAIL_SOURCE=imap, the
    ``award_imap_objections`` connection (same extras as ``award_imap``).
    """
    from airflow.sdk import BaseHook
    from pipeline_common import runtime

    from award.inbound.sources import ImapSettings, mail_source_from_env
    from award.publicity.core import scan_objections
    from award.store import session_scope

    rt = runtime()
    imap = None
    if os.environ.get("AWARD_MAIL_SOURCE", "maildir").strip().lower() == "imap":
        imap = ImapSettings.from_connection(BaseHook.get_connection("award_imap_objections"))
    source = mail_source_from_env("objections", imap)
    with session_scope(rt.db_url) as session:
        try:
            results = scan_objections(session, rt, source=source)
        finally:
            source.close()
        new = [r for r in results if not r.already]
        return {"new": len(new), "late": sum(r.late for r in new), "unmatched": sum(r.unmatched for r in new)}


def _requests(objection_ids: list[int]) -> list[dict[str, str]]:
    from pipeline_common import runtime

    from award.publicity.core import decision_request
    from award.store import session_scope

    rt = runtime()
    with session_scope(rt.db_url) as session:
        return [decision_request(session, rt.season, i) for i in objection_ids]


def _apply(objection_ids: list[int], task_id: str) -> dict[str, int]:
    """Apply the human answers of the mapped HITL task ``task_id`` (map index i answers objection_ids[i])."""
    from pipeline_common import runtime

    from award.publicity.core import resolve_objection
    from award.store import session_scope

    if not objection_ids:
        return {"decided": 0}
    ti = get_current_context()["ti"]
    answers = ti.xcom_pull(task_ids=task_id, map_indexes=list(range(len(objection_ids))))
    rt = runtime()
    done = 0
    with session_scope(rt.db_url) as session:
        for objection_id, answer in zip(objection_ids, answers, strict=True):
            params = answer.get("params_input") or {}
            user = answer.get("responded_by_user") or {}
            resolve_objection(
                session, rt, objection_id, DECISIONS[answer["chosen_options"][0]], str(params.get("reason", "")),
                str(user.get("name") or user.get("id") or "unknown"),
                submission_no=str(params.get("submission_no") or "").strip() or None,
            )
            done += 1
    return {"decided": done}


@dag(
    dag_id="publicity",
    description="公示：一键开启公示（生成并发布公示、通知申报单位），工作日期满自动结束，异议逐件人工决定",
    schedule=None,
    start_date=pendulum.datetime(2023, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=2,
    default_args=default_args(),
    tags=[*TAGS, "publicity"],
    params={
        "purpose": Param("provincial", enum=["provincial", "candidate"], title="公示类型",
                         values_display={"provincial": "拟推荐申报对象公示", "candidate": "拟推荐候选对象公示"},
                         description="拟推荐申报对象公示（形式审查后）或拟推荐候选对象公示（评审排序后）"),
        # optional fields admit null, so the trigger form does not mark them required
        "submission_nos": Param(None, type=["null", "array"], items={"type": "string"}, title="申报编号（可选）",
                                description="留空则公示所有符合条件的申报"),
        "opened_at": Param(None, type=["null", "string"], title="公示开始时间（可选，ISO 格式）",
                           description="留空为当前时间；仅用于演示或补录"),
    },
)
def publicity() -> None:
    @task
    def open_window() -> dict[str, Any]:
        """Select the applications, open the window, publish the notice, queue the applicants' e-mails."""
        from datetime import datetime

        from pipeline_common import runtime

        from award.clock import TZ as AWARD_TZ
        from award.publicity.core import (
            eligible_application_ids,
            ids_for_submissions,
            open_window,
            window_summary,
        )
        from award.store import session_scope

        params = get_current_context()["params"]
        rt = runtime()
        opened = None
        if params.get("opened_at"):
            opened = datetime.fromisoformat(params["opened_at"])
            opened = opened.replace(tzinfo=AWARD_TZ) if opened.tzinfo is None else opened
        with session_scope(rt.db_url) as session:
            nos = params.get("submission_nos") or []
            ids = (ids_for_submissions(session, rt.season, nos) if nos
                   else eligible_application_ids(session, rt.season, params["purpose"]))
            window_id = open_window(session, rt, ids, params["purpose"], opened_at=opened, actor="airflow")
            return window_summary(session, window_id)

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
        from pipeline_common import runtime

        from award.publicity.core import unmatched_objections
        from award.store import session_scope

        rt = runtime()
        with session_scope(rt.db_url) as session:
            return [o.id for o in unmatched_objections(session, window["window_id"])]

    @task
    def requests(objection_ids: list[int]) -> list[dict[str, str]]:
        return _requests(objection_ids)

    @task(trigger_rule="none_failed")
    def apply_placed(objection_ids: list[int]) -> dict[str, int]:
        return _apply(objection_ids, "place_unmatched")

    @task(trigger_rule="none_failed")
    def close(window: dict[str, Any]) -> list[int]:
        """Close the window: who has no open objection passes; the open objections need a decision."""
        from pipeline_common import runtime

        from award.publicity.core import close_window
        from award.store import session_scope

        rt = runtime()
        with session_scope(rt.db_url) as session:
            return close_window(session, rt, window["window_id"], actor="airflow").objection_ids

    @task(trigger_rule="none_failed")
    def apply_decisions(objection_ids: list[int]) -> dict[str, int]:
        return _apply(objection_ids, "decide")

    taken = take_objections()
    opened >> wait >> taken
    lost = unmatched(opened)
    taken >> lost
    place = ReaskingHITLOperator.partial(
        task_id="place_unmatched", options=list(DECISIONS), params=DECISION_PARAMS, required_params=("reason",),
    ).expand_kwargs(requests(lost))
    placed = apply_placed(lost)
    place >> placed
    pending = close(opened)
    placed >> pending
    decide = ReaskingHITLOperator.partial(
        task_id="decide", options=list(DECISIONS), params=DECISION_PARAMS, required_params=("reason",),
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

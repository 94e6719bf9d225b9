"""Recommendation (推荐): scores -> ranking -> candidate publicity -> leadership approval -> package -> export.

Schedule (documented choice, see docs/ranking.md): one run at 09:00 on every Chinese working day from the
provincial deadline on (WorkdayTimetable, max one active run, no catch-up). Every step is idempotent and does
nothing when it has nothing to do, so a run simply carries the season as far as it can: import new score files,
rank when every score is in, publicise the candidate list (the ``publicity`` DAG with purpose "candidate",
waited for deferrably), ask the leadership group (human-in-the-loop) when the package content is new, then
compile, verify, export and tell the applicants. The export is due at 09:00 on the ``export_lead_workdays``-th
working day before the national deadline; the DAG's deadline alert (FIXED_DATETIME(national deadline) with a
negative interval to that due time) warns ops through the outbox if a run is still unfinished then, and
``ensure_exported`` fails any run that ends after the due time without the current content sent (a failed run
keeps its deadline, so the alert fires).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import (  # type: ignore[attr-defined]  # exported by airflow.sdk, missing from its .pyi stub
    AsyncCallback,
    DeadlineAlert,
    DeadlineReference,
    Param,
    dag,
    get_current_context,
    task,
)
from pipeline_common import TAGS, default_args, facts, local_dt
from workday_timetable import WorkdayTimetable

from award.clock import DEMO_CLOCK_VAR
from award.recommendation.alerts import alert_interval

if TYPE_CHECKING:
    from award.runtime import Runtime

APPROVE = "同意推荐"
REJECT = "不同意，退回修改"
SEASON = facts()  # parse time: dates and names only (the tasks validate the whole season)


def _rt() -> Runtime:
    from pipeline_common import runtime

    return runtime()


@dag(
    dag_id="recommendation",
    description="导入评审得分、按名额排序、拟推荐名单公示、领导小组审定、生成并报送推荐材料包、通知申报单位结果",
    schedule=WorkdayTimetable(at="09:00", timezone="Asia/Shanghai"),
    start_date=local_dt(SEASON.dates.provincial_deadline.date()),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[*TAGS, "recommendation"],
    deadline=DeadlineAlert(
        reference=DeadlineReference.FIXED_DATETIME(SEASON.dates.national_deadline),
        interval=alert_interval(SEASON),
        callback=AsyncCallback("award.recommendation.alerts.export_overdue_alert"),
    ),
)
def recommendation() -> None:
    @task
    def import_scores() -> dict[str, Any]:
        """Archive and import new score files under scores/ (a bad file imports nothing; ops see the error)."""
        from award.recommendation.ranking import import_scores as run
        from award.recommendation.ranking import refused_summary

        results = run(_rt())
        return {"imported": sum(r.imported for r in results), "refused": sum(r.refused for r in results),
                "reason": refused_summary(results)}

    @task
    def scores_accepted(imported: dict[str, Any]) -> None:
        """Fail the run, with the reason, when this run refused a score file (ops got the problem list by mail)."""
        from airflow.sdk.exceptions import AirflowFailException

        if imported.get("reason"):
            raise AirflowFailException(imported["reason"])

    @task
    def score_sheet(_: dict[str, Any]) -> dict[str, Any]:
        """Write the score sheet template (codes and names filled in) when the list awaiting scores changed."""
        from award.recommendation.ranking import write_score_sheet

        return write_score_sheet(_rt())

    @task
    def rank(_: dict[str, Any]) -> dict[str, Any]:
        """Rank each group once all its scores are in (REVIEWED -> CANDIDATE / NOT_RECOMMENDED)."""
        from award.recommendation.ranking import RankingError
        from award.recommendation.ranking import rank as run
        from award.store import session_scope

        rt = _rt()
        try:
            with session_scope(rt.db_url) as session:
                result = run(session, rt.season)
        except RankingError as exc:  # waiting for more scores: a later run ranks
            return {"waiting": str(exc)}
        return {"candidates": len(result.candidates), "not_recommended": len(result.not_recommended)}

    @task.branch
    def publicity_needed(_: dict[str, Any]) -> str:
        """Publicise the candidate list when there are new candidates, else go straight to the approval gate."""
        from sqlalchemy import func, select

        from award.enums import State
        from award.store import session_scope
        from award.store.models import Application

        rt = _rt()
        with session_scope(rt.db_url) as session:
            count = session.scalar(select(func.count()).select_from(Application).where(
                Application.season == rt.season.season_id, Application.state == State.CANDIDATE))
        return "candidate_publicity" if count else "no_publicity"

    @task
    def no_publicity() -> None:
        """No new candidates to publicise."""

    candidate_publicity = TriggerDagRunOperator(
        task_id="candidate_publicity",
        trigger_dag_id="publicity",
        trigger_run_id="candidate__{{ run_id }}",
        conf={"purpose": "candidate", "submission_nos": [], "opened_at": ""},
        wait_for_completion=True,
        deferrable=True,
        # every 10 minutes; under make run's demo clock every 5 s (award demo advance ends the publicity at once)
        poke_interval=5 if os.environ.get(DEMO_CLOCK_VAR) else 600,
        allowed_states=["success"],
        failed_states=["failed"],
        skip_when_already_exists=True,
    )

    @task.branch(trigger_rule="none_failed_min_one_success")
    def approval_gate() -> list[str]:
        """Ask the leadership group only for content not approved yet; resume an approved version; else stop."""
        rt = _rt()
        from award.recommendation.package import approval_prompt, pending_work

        work = pending_work(rt)
        ti = get_current_context()["ti"]
        ti.xcom_push(key="content_hash", value=work["content_hash"])
        ti.xcom_push(key="body", value=approval_prompt(work))
        if work["needed"]:
            return ["approval"]
        if work.get("resume"):
            ti.xcom_push(key="package_id", value=work["package_id"])
            return ["resume"]
        return ["nothing_to_send"]

    @task
    def resume() -> int:
        """An approved version not sent yet (e.g. verification failed and the cause was fixed)."""
        return int(get_current_context()["ti"].xcom_pull(task_ids="approval_gate", key="package_id"))

    @task
    def nothing_to_send() -> None:
        """No candidates yet, a candidate still in publicity, or this content was already sent."""

    approval = HITLOperator(
        task_id="approval",
        subject=f"推荐工作领导小组审定：{SEASON.award.edition}{SEASON.award.name}拟推荐名单及推荐材料",
        body="{{ ti.xcom_pull(task_ids='approval_gate', key='body') }}",
        options=[APPROVE, REJECT],
        params={
            "approver": Param("", type="string", title="审定人", description="签批的领导小组成员姓名"),
            "opinion": Param("", type="string", title="推荐意见", description="领导小组的审定意见"),
            "doc_number": Param("", type="string", title="推荐函文号",
                                description="领导小组推荐函（推荐意见）的文号：填序号（如 45）或完整文号"),
            "audit_doc_number": Param("", type=["string", "null"], title="审核意见文号（可选）",
                                      description="省市场监管局审核意见的文号：填完整文号，可留空"),
        },
        retries=0,
    )

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def record_approval() -> int | None:
        """Record the decision (approver, opinion, the Airflow user who answered); a rejection stops here."""
        from award.recommendation.package import record_approval as record

        ti = get_current_context()["ti"]
        answer = ti.xcom_pull(task_ids="approval") or {}
        params = answer.get("params_input") or {}
        user = answer.get("responded_by_user") or {}
        rt = _rt()
        number = str(params.get("doc_number") or "").strip()
        prefix = rt.season.package_letters.recommendation.doc_prefix or rt.season.recommending_unit.doc_prefix
        doc_number = number if (not number or "〔" in number) else f"{prefix}{number.removesuffix('号')}号"
        approved = APPROVE in (answer.get("chosen_options") or [])
        package_id = record(
            rt, content_hash=ti.xcom_pull(task_ids="approval_gate", key="content_hash"), approved=approved,
            approver=str(params.get("approver") or user.get("name") or ""), opinion=str(params.get("opinion") or ""),
            doc_number=doc_number, audit_doc_number=str(params.get("audit_doc_number") or "").strip(),
            responded_by=user.get("name") or user.get("id"),
        )
        return package_id if approved else None

    @task(trigger_rule="none_failed_min_one_success")
    def compile_package() -> int:
        """Build the approved version's folder and zip (streamed from the blob store)."""
        from award.recommendation.package import compile_package as build

        ti = get_current_context()["ti"]
        package_id = ti.xcom_pull(task_ids="record_approval") or ti.xcom_pull(task_ids="resume")
        build(_rt(), int(package_id))
        return int(package_id)

    @task
    def verify(package_id: int) -> int:
        """Check the zip against the store and the approval; a failure reports to ops and stops the export."""
        from award.recommendation.package import verify_package

        verify_package(_rt(), package_id)
        return package_id

    @task
    def export(package_id: int) -> dict[str, Any]:
        """Upload to the national storage location and queue the e-mail (once per version)."""
        from dataclasses import asdict

        from award.recommendation.package import export_package

        return {k: v for k, v in asdict(export_package(_rt(), package_id)).items() if k != "storage_prefix"}

    @task
    def notify_applicants(_: dict[str, Any]) -> dict[str, int]:
        """E-mail every ranked applicant the result (once each)."""
        from award.recommendation.package import notify_applicants as notify

        return notify(_rt())

    @task(trigger_rule="none_failed")
    def ensure_exported() -> dict[str, Any]:
        """Fail the run when the export is due and the current content has not been sent (keeps the alert)."""
        from airflow.sdk.exceptions import AirflowFailException

        from award.recommendation.package import export_state

        state = export_state(_rt())
        if state["overdue"] and state["candidates"]:
            raise AirflowFailException(f"export overdue (due {state['due_at']}): {state['reason']}")
        return state

    imported = import_scores()
    scores_accepted(imported)
    score_sheet(imported)
    branch = publicity_needed(rank(imported))
    gate = approval_gate()
    branch >> [candidate_publicity, no_publicity()] >> gate
    recorded = record_approval()
    resumed = resume()
    stop = nothing_to_send()
    gate >> [approval, resumed, stop]
    approval >> recorded
    compiled = compile_package()
    [recorded, resumed] >> compiled
    done = notify_applicants(export(verify(compiled)))
    [done, stop] >> ensure_exported()

recommendation_dag = recommendation()

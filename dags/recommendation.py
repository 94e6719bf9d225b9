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
from typing import Any

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
from pipeline_common import TAGS, default_args, domain_session, facts, local_dt, runtime
from workday_timetable import WorkdayTimetable

from award.clock import DEMO_CLOCK_VAR
from award.recommendation.alerts import alert_interval, approval_form

SEASON = facts()  # parse time: dates and names only (the tasks validate the whole season)
FORM = approval_form()  # the approval step's options and fields (templates/recommendation/approval.yaml)
FIELDS = FORM["fields"]


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
        from award.recommendation import import_scores, import_summary

        return import_summary(import_scores(runtime()))

    @task
    def scores_accepted(imported: dict[str, Any]) -> None:
        """Fail the run, with the reason, when this run refused a score file (ops got the problem list by mail)."""
        from airflow.sdk.exceptions import AirflowFailException

        if imported.get("reason"):
            raise AirflowFailException(imported["reason"])

    @task
    def score_sheet(_: dict[str, Any]) -> dict[str, Any]:
        """Write the score sheet template (codes and names filled in) when the list awaiting scores changed."""
        from award.recommendation import write_score_sheet

        return write_score_sheet(runtime())

    @task
    def rank(_: dict[str, Any]) -> dict[str, Any]:
        """Rank each group once all its scores are in (REVIEWED -> CANDIDATE / NOT_RECOMMENDED)."""
        from award.recommendation import RankingError
        from award.recommendation import rank as run

        try:
            with domain_session() as (session, rt):
                result = run(session, rt)
        except RankingError as exc:  # waiting for more scores: a later run ranks
            return {"waiting": str(exc)}
        return {"candidates": len(result.candidates), "not_recommended": len(result.not_recommended)}

    @task.branch
    def publicity_needed(_: dict[str, Any]) -> str:
        """Publicise the candidate list when there are new candidates, else go straight to the approval gate."""
        from award.recommendation import new_candidates

        with domain_session() as (session, rt):
            return "candidate_publicity" if new_candidates(session, rt) else "no_publicity"

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
        from award.recommendation import approval_request

        request = approval_request(runtime())
        ti = get_current_context()["ti"]
        for key in ("content_hash", "subject", "body"):
            ti.xcom_push(key=key, value=request[key])
        if request["needed"]:
            return ["approval"]
        if request.get("resume"):
            ti.xcom_push(key="package_id", value=request["package_id"])
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
        subject="{{ ti.xcom_pull(task_ids='approval_gate', key='subject') }}",
        body="{{ ti.xcom_pull(task_ids='approval_gate', key='body') }}",
        options=[FORM["options"]["approve"], FORM["options"]["reject"]],
        params={
            "approver": Param("", type="string", **FIELDS["approver"]),
            "opinion": Param("", type="string", **FIELDS["opinion"]),
            "doc_number": Param("", type="string", **FIELDS["doc_number"]),
            "audit_doc_number": Param("", type=["string", "null"], **FIELDS["audit_doc_number"]),
        },
        retries=0,
    )

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def record_approval() -> int | None:
        """Record the decision (approver, opinion, the Airflow user who answered); a rejection stops here."""
        from award.recommendation import record_answer

        ti = get_current_context()["ti"]
        return record_answer(runtime(), content_hash=ti.xcom_pull(task_ids="approval_gate", key="content_hash"),
                             answer=ti.xcom_pull(task_ids="approval") or {})

    @task(trigger_rule="none_failed_min_one_success")
    def compile_package() -> int:
        """Build the approved version's folder and zip (streamed from the blob store)."""
        from award.recommendation import compile_package as build

        ti = get_current_context()["ti"]
        package_id = ti.xcom_pull(task_ids="record_approval") or ti.xcom_pull(task_ids="resume")
        build(runtime(), int(package_id))
        return int(package_id)

    @task
    def verify(package_id: int) -> int:
        """Check the zip against the store and the approval; a failure reports to ops and stops the export."""
        from award.recommendation import verify_package

        verify_package(runtime(), package_id)
        return package_id

    @task
    def export(package_id: int) -> dict[str, Any]:
        """Upload to the national storage location and queue the e-mail (once per version)."""
        from dataclasses import asdict

        from award.recommendation import export_package

        return {k: v for k, v in asdict(export_package(runtime(), package_id)).items() if k != "storage_prefix"}

    @task
    def notify_applicants(_: dict[str, Any]) -> dict[str, int]:
        """E-mail every ranked applicant the result (once each)."""
        from award.recommendation import notify_applicants as notify

        return notify(runtime())

    @task(trigger_rule="none_failed")
    def ensure_exported() -> dict[str, Any]:
        """Fail the run when the export is due and the current content has not been sent (keeps the alert)."""
        from airflow.sdk.exceptions import AirflowFailException

        from award.recommendation import export_state

        state = export_state(runtime())
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

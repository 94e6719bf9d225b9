"""征求相关部门意见: letters to departments, replies, reminders, defaults, and the ops decision on objections.

Runs on Chinese working days at 09:00 Asia/Shanghai. Rules: see the modules of ``award.opinions``. Mail is only
queued (the ``outbox`` DAG sends it). Department replies reach the store through intake (mail tagged ``opinion``) and
through shared storage ``opinions/<dept code>/`` (archived here).

The decision step maps a task group over the applications waiting in DEPT_OBJECTION: a human-in-the-loop
question in the Airflow UI (Required Actions) with the options 继续推荐 / 取消推荐 and a required reason, then the
answer is applied (who answered and when go to the audit log; the applicant is e-mailed). An application already
waiting for an answer in an earlier run that is still running is not asked again.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from airflow.sdk import Param, chain, dag, task, task_group
from pipeline_common import TAGS, TZ, default_args, local_dt
from reasking_hitl import ReaskingHITLOperator
from workday_timetable import WorkdayTimetable

import award
from award.seasonfile import yaml_load

DAG_ID = "opinions"
MAX_DECISIONS_PER_RUN = 500  # below [core] max_map_length (1024); the rest are asked in the next run
# the decision's options and reason field (the stage's texts), read at parse time with libyaml: the package itself
# is imported by the tasks only (tests/dags/test_dag_integrity.py)
DECISION_TEXTS = Path(award.__file__).parent / "opinions" / "templates" / "opinions" / "dept_decision.yaml"
_TEXTS = yaml_load(DECISION_TEXTS.read_bytes())
OPTIONS: dict[str, str] = _TEXTS["options"]


@dag(
    dag_id=DAG_ID,
    description="征求相关部门意见：发函、收取回复、催办、逾期默认处理、异议决定",
    schedule=WorkdayTimetable(at="09:00", timezone=TZ),
    start_date=local_dt(date(2023, 1, 1)),
    catchup=False,
    default_args=default_args(),
    tags=[*TAGS, "opinions"],
    doc_md=__doc__,
)
def opinions() -> None:
    @task
    def solicit() -> dict[str, int]:
        """Batch the COMPLETE applications into one letter per department and queue the e-mails."""
        from pipeline_common import domain_session

        from award.opinions import solicit as run

        with domain_session() as (session, rt):
            result = run(session, rt)
        return {"requests": len(result.requests), "applications": len(result.applications),
                "cleared_without_departments": len(result.cleared_without_departments)}

    @task
    def ingest_replies() -> dict[str, int]:
        """Match the replies archived from the mailbox and the files under opinions/<dept code>/."""
        from pipeline_common import runtime

        from award.opinions import ingest_replies as run

        outcomes = run(runtime())
        return {"replies": len(outcomes), "opinions": sum(len(o.opinions) for o in outcomes),
                "problems": sum(len(o.problems) for o in outcomes)}

    @task
    def remind() -> int:
        """Queue the reminders due today."""
        from pipeline_common import domain_session

        from award.opinions import send_reminders

        with domain_session() as (session, rt):
            return len(send_reminders(session, rt))

    @task
    def apply_defaults() -> int:
        """Record the configured default for departments silent after the due date."""
        from pipeline_common import domain_session

        from award.opinions import apply_defaults as run

        with domain_session() as (session, rt):
            return len(run(session, rt))

    @task
    def pending_decisions() -> list[dict[str, Any]]:
        """The applications in DEPT_OBJECTION to put to ops in this run (subject and body of each question)."""
        import logging

        from airflow.sdk import get_current_context
        from pipeline_common import domain_session

        from award.opinions import pending_decisions as pending

        context = get_current_context()
        ti, run_id = context["ti"], context["run_id"]

        def still_waiting(previous_run_id: str) -> bool:
            try:
                return str(ti.get_dagrun_state(dag_id=DAG_ID, run_id=previous_run_id)) in ("queued", "running")
            except Exception:  # noqa: BLE001 - unknown: do not ask twice
                logging.getLogger(__name__).warning("state of run %s unknown; not asking again", previous_run_id)
                return True

        with domain_session() as (session, rt):
            return pending(session, rt, ref=run_id, still_waiting=still_waiting, limit=MAX_DECISIONS_PER_RUN)

    @task
    def apply_decision(application_id: int, round_id: int, answer: dict[str, Any]) -> str:
        """Apply the ops answer: continue -> DEPT_CLEARED, remove -> REMOVED; audit and e-mail the applicant."""
        from airflow.sdk import get_current_context
        from pipeline_common import domain_session

        from award.opinions import apply_answer

        with domain_session() as (session, rt):
            return apply_answer(session, rt, int(application_id), round_id=int(round_id), answer=answer,
                                ref=get_current_context()["run_id"])

    @task_group
    def decision(application_id: int, round_id: int, subject: str, body: str) -> None:
        """One application: ask ops in the Airflow UI, then apply the answer."""
        ask = ReaskingHITLOperator(
            task_id="ask",
            subject=subject,
            body=body,
            options=list(OPTIONS.values()),
            # required in the form itself (a non-blank string: the Required Actions page refuses an empty
            # reason); null is only the task's "not answered yet" value; an invalid answer is asked again
            params={"reason": Param(None, type=["null", "string"], minLength=1, pattern=r"\S",
                                    title=_TEXTS["reason"]["title"], description=_TEXTS["reason"]["description"])},
            required_params=("reason",),
        )
        apply_decision(application_id, round_id, ask.output)

    pending = pending_decisions()
    chain(solicit(), ingest_replies(), remind(), apply_defaults(), pending)
    decision.expand_kwargs(pending)


opinions()

"""The steps of the ``completeness`` DAG, in the stage's typed shape (``fn(rt, ...)`` or ``fn(session, rt, ...)``).

plan_checks -> check_batch (one mapped task per batch) -> sweep (reminders, closing, and the units' proven first
round on to the scores) -> write_staff_report. The texts the DAG shows (a batch's label, the report's log lines)
come from the group ``dag`` of completeness/messages.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from award.clock import now
from award.completeness.correction import CheckSummary, plan_check_batches, run_checks, sweep_deadlines
from award.completeness.report import ReportResult, write_report
from award.process import advance_proven
from award.store import session_scope
from award.templating import message_group

if TYPE_CHECKING:
    from award.runtime import Runtime

CHECK_BATCH_SIZE = 200  # applications per mapped check_batch task

_text = message_group("completeness", "dag")


def plan_checks(rt: Runtime, batch_size: int = CHECK_BATCH_SIZE) -> list[list[int]]:
    """Ids of the applications to check, in batches (small ints only, for XCom)."""
    return plan_check_batches(partial(session_scope, rt.db_url), rt.season, batch_size)


def check_batch(rt: Runtime, application_ids: Sequence[int], *, run_id: str | None = None) -> CheckSummary:
    """Check one batch (one transaction per application); store the results; queue correction/complete mails."""
    return run_checks(partial(session_scope, rt.db_url), rt.season, rt.blobs.get_bytes, run_id=run_id,
                      application_ids=application_ids)


def sweep(rt: Runtime) -> dict[str, Any]:
    """Remind before correction deadlines, close applications still incomplete after theirs (one transaction
    each), then move on to the scores the applications whose recommending unit ran 征求意见 and 公示."""
    result = sweep_deadlines(partial(session_scope, rt.db_url), rt.season).as_dict()
    with session_scope(rt.db_url) as session:
        result["advanced_to_scores"] = len(advance_proven(session, rt.season, today=now().date()))
    return result


def write_staff_report(session: Session, rt: Runtime) -> ReportResult:
    """Write the staff report (.xlsx and .html) to shared storage when its content changed."""
    return write_report(session, rt.season, rt.shared)


def batch_label(application_ids: Sequence[int]) -> str:
    """How a mapped check_batch task is named in the UI: its count and first and last ids."""
    return _text("batch_label", count=len(application_ids), first=application_ids[0], last=application_ids[-1])


def report_log_lines(result: ReportResult) -> list[str]:
    """What the task log says about the report: where its two files are, and the counts."""
    return [_text("report_xlsx", uri=result.xlsx_uri), _text("report_html", uri=result.html_uri),
            _text("report_counts", rows=result.rows, by_state=result.by_state)]

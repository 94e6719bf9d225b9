"""形式审查与补正: the completeness and eligibility checks, the correction loop and the staff report. Entry points the DAGs call are listed in __all__."""

from __future__ import annotations

from typing import TYPE_CHECKING

from award.entrypoints import lazy

if TYPE_CHECKING:
    from award.completeness.correction import ReviewError, confirm_review
    from award.completeness.rules import CheckContext, evaluate
    from award.completeness.steps import (
        batch_label,
        check_batch,
        plan_checks,
        report_log_lines,
        sweep,
        write_staff_report,
    )

__all__ = [
    "CheckContext", "ReviewError", "batch_label", "check_batch", "confirm_review", "evaluate", "plan_checks",
    "report_log_lines", "sweep", "write_staff_report",
]
__getattr__ = lazy(__name__, {
    "plan_checks": ".steps", "check_batch": ".steps", "sweep": ".steps", "write_staff_report": ".steps",
    "batch_label": ".steps", "report_log_lines": ".steps",
    "CheckContext": ".rules", "evaluate": ".rules",
    "confirm_review": ".correction", "ReviewError": ".correction",
})

"""推荐 (recommendation): scores and ranking, the leadership group's approval, the national package and the results. Entry points the DAGs call are listed in __all__."""

from __future__ import annotations

from typing import TYPE_CHECKING

from award.entrypoints import lazy

if TYPE_CHECKING:
    from award.recommendation.alerts import export_state
    from award.recommendation.approval import approval_request, record_answer
    from award.recommendation.compile import compile_package
    from award.recommendation.export import export_package
    from award.recommendation.ranking import RankingError, new_candidates, rank
    from award.recommendation.results import notify_applicants
    from award.recommendation.score_sheet import write_score_sheet
    from award.recommendation.scores import import_scores, import_summary
    from award.recommendation.verify import verify_package

__all__ = [
    "RankingError",
    "approval_request",
    "compile_package",
    "export_package",
    "export_state",
    "import_scores",
    "import_summary",
    "new_candidates",
    "notify_applicants",
    "rank",
    "record_answer",
    "verify_package",
    "write_score_sheet",
]
__getattr__ = lazy(__name__, {
    "RankingError": ".ranking",
    "approval_request": ".approval",
    "compile_package": ".compile",
    "export_package": ".export",
    "export_state": ".alerts",
    "import_scores": ".scores",
    "import_summary": ".scores",
    "new_candidates": ".ranking",
    "notify_applicants": ".results",
    "rank": ".ranking",
    "record_answer": ".approval",
    "verify_package": ".verify",
    "write_score_sheet": ".score_sheet",
})

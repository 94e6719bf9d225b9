"""Publicity (公示): the window, its notice, objections (异议) and their decisions. Entry points the DAGs call are listed in __all__."""
from __future__ import annotations

from typing import TYPE_CHECKING

from award.entrypoints import lazy

if TYPE_CHECKING:
    from award.publicity.decisions import close_window, objections_to_place
    from award.publicity.errors import PublicityError
    from award.publicity.hitl import apply_answers, decision_requests
    from award.publicity.objections import assign_objection, take_objections
    from award.publicity.windows import open_publicity

__all__ = ["open_publicity", "take_objections", "objections_to_place", "decision_requests", "apply_answers",
           "close_window", "assign_objection", "PublicityError"]
__getattr__ = lazy(__name__, {
    "open_publicity": ".windows", "take_objections": ".objections", "objections_to_place": ".decisions",
    "decision_requests": ".hitl", "apply_answers": ".hitl", "close_window": ".decisions",
    "assign_objection": ".objections", "PublicityError": ".errors",
})

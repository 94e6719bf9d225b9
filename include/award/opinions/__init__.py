"""征求相关部门意见: letters to the departments, their replies, reminders, defaults and the ops decision on objections. Entry points the DAGs call are listed in __all__."""
from __future__ import annotations

from typing import TYPE_CHECKING

from award.entrypoints import lazy

if TYPE_CHECKING:
    from award.opinions.decisions import apply_answer, pending_decisions
    from award.opinions.reminders import apply_defaults, send_reminders
    from award.opinions.replies import ingest_replies
    from award.opinions.solicitation import solicit

__all__ = ["apply_answer", "apply_defaults", "ingest_replies", "pending_decisions", "send_reminders", "solicit"]
__getattr__ = lazy(__name__, {
    "solicit": ".solicitation", "ingest_replies": ".replies", "send_reminders": ".reminders",
    "apply_defaults": ".reminders", "pending_decisions": ".decisions", "apply_answer": ".decisions",
})

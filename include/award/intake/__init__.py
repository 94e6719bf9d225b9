"""收件 (intake): applications received by e-mail and through the cities' shared storage. Entry points the DAGs call are listed in __all__."""
from __future__ import annotations

from typing import TYPE_CHECKING

from award.entrypoints import lazy

if TYPE_CHECKING:
    from award.intake.kinds import kind_by_name
    from award.intake.processing import process_pending
    from award.intake.release import ReleaseError, release_held
    from award.intake.schedule import imap_mailbox, window_open
__all__ = ["ReleaseError", "imap_mailbox", "kind_by_name", "process_pending", "release_held", "window_open"]
__getattr__ = lazy(__name__, {
    "ReleaseError": ".release", "imap_mailbox": ".schedule", "kind_by_name": ".kinds",
    "process_pending": ".processing", "release_held": ".release", "window_open": ".schedule",
})

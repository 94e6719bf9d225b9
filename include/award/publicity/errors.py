"""What the publicity stage refuses: each error's message says why and names the item."""

from __future__ import annotations


class PublicityError(ValueError):
    """A publicity operation that cannot be done; the message says why (and names the item)."""


class UnmatchedObjectionsError(PublicityError):
    """The window still has objections nobody has matched to an applicant."""

    def __init__(self, window_id: int, objection_ids: list[int]) -> None:
        self.window_id = window_id
        self.objection_ids = objection_ids
        super().__init__(
            f"publicity window {window_id}: objection(s) {objection_ids} are not matched to an applicant; "
            "assign them (assign_objection) or decide them before the close"
        )

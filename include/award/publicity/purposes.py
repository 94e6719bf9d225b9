"""The two lists a publicity window shows (``WindowPurpose``) and the states each moves applications through.

* ``provincial``: after the department review, DEPT_CLEARED -> IN_PUBLICITY; at the close PUBLICITY_PASSED, or
  OBJECTION_PENDING while an objection is open.
* ``candidate``: the ranked candidate list, CANDIDATE -> CANDIDATE_PUBLICITY; at the close CANDIDATE_CONFIRMED or
  CANDIDATE_OBJECTION.
"""

from __future__ import annotations

from dataclasses import dataclass

from award.enums import WindowPurpose
from award.publicity.errors import PublicityError
from award.states import State

ACTOR = "publicity"  # the audit log's actor when no person acts


@dataclass(frozen=True)
class PurposeStates:
    """The states one purpose moves applications through."""

    eligible: State
    during: State
    passed: State
    pending: State


PURPOSES: dict[str, PurposeStates] = {
    WindowPurpose.PROVINCIAL: PurposeStates(State.DEPT_CLEARED, State.IN_PUBLICITY, State.PUBLICITY_PASSED,
                                            State.OBJECTION_PENDING),
    WindowPurpose.CANDIDATE: PurposeStates(State.CANDIDATE, State.CANDIDATE_PUBLICITY, State.CANDIDATE_CONFIRMED,
                                           State.CANDIDATE_OBJECTION),
}


def purpose_states(purpose: str) -> PurposeStates:
    """The states of ``purpose``; an unknown purpose is an error naming the known ones."""
    try:
        return PURPOSES[purpose]
    except KeyError:
        known = sorted(map(str, PURPOSES))
        raise PublicityError(f"purpose: unknown publicity purpose {purpose!r} (use one of {known})") from None

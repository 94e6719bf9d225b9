"""Withdrawing an application on the applicant's written request (申请人书面申请撤回).

Staff record it from the desk or with ``award withdraw``; both call :func:`withdraw`. The written request (a scan
or the e-mail) is archived in the blob store first when given; the transition to WITHDRAWN is audited under the
staff member's name with the request's reference, and the applicant gets one confirmation e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.mail.outbox import enqueue
from award.states import TERMINAL, State, audit, transition
from award.store.models import Application
from award.templating import message_group

_text = message_group("withdrawal", "withdrawal")


class WithdrawalError(ValueError):
    """The request cannot be recorded; the message names the field."""


@dataclass(frozen=True)
class Withdrawn:
    """The outcome: the application, the state it left, and the archived request (if any)."""

    submission_no: str
    from_state: str
    changed: bool
    request_sha256: str | None


def withdraw(
    session: Session,
    rt: Any,
    submission_no: str,
    *,
    actor: str,
    reference: str,
    request_file: tuple[str, bytes] | None = None,
) -> Withdrawn:
    """Move the application to WITHDRAWN on the applicant's written request.

    ``reference`` says which written request (e.g. the letter's date and how it came); ``request_file`` is
    ``(filename, bytes)`` of the request itself, archived before anything changes. Withdrawing an already
    withdrawn application is a no-op; a closed one (terminal state) is refused.
    """
    reference = (reference or "").strip()
    if not reference:
        raise WithdrawalError("reference: say which written request (date, how it came)")
    if not (actor or "").strip():
        raise WithdrawalError("actor: who records the withdrawal")
    app = session.scalar(select(Application).where(Application.season == rt.season.season_id,
                                                   Application.submission_no == (submission_no or "").strip()))
    if app is None:
        raise WithdrawalError(f"submission_no: no application {submission_no!r} in season {rt.season.season_id}")
    if app.state == State.WITHDRAWN.value:
        return Withdrawn(app.submission_no, app.state, False, None)
    if State(app.state) in TERMINAL:
        raise WithdrawalError(f"submission_no: {app.submission_no} is already closed ({app.state})")
    sha = None
    if request_file is not None:
        name, data = request_file
        if not data:
            raise WithdrawalError(f"request_file: {name} is empty")
        sha = rt.blobs.put_bytes(data).sha256
        audit(session, actor=actor, entity_type="application", entity_id=app.id, action="withdrawal_request",
              reason=reference, details={"filename": name, "sha256": sha, "size": len(data)})
    before = app.state
    transition(session, app, State.WITHDRAWN, actor=actor, reason=_text("reason", reference=reference),
               details={"request_sha256": sha} if sha else None)
    applicant = app.applicant
    if applicant is not None and applicant.email:
        season = rt.season
        enqueue(session, key=f"withdrawal:{app.id}", template="withdrawn", to=[applicant.email],
                application_id=app.id,
                context={"greeting": _text("greeting", name=applicant.contact_name or applicant.name),
                         "submission_no": app.submission_no, "reference": reference,
                         "unit": season.recommending_unit,
                         "season_label": f"{season.award.edition}{season.award.name}"})
    return Withdrawn(app.submission_no, before, True, sha)

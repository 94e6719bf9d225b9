"""Paper copies and the USB stick (the provincial notice: 整理成册的纸质材料一式三份, Word 电子版用优盘拷贝).

Staff record per application what arrived and when (:func:`record_receipt`, the ``award paper`` command and the
desk call it); :func:`paper_state` says what is still missing and whether it came after the provincial deadline,
which applies to paper too (逾期不再受理). The season says how many copies and whether a USB stick is asked for
(``process.paper_copies``, ``process.usb_required``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from award.clock import TZ, now
from award.states import audit
from award.store.models import Application, PaperReceipt

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from award.config import Season

# states in which an application no longer needs its paper (refused, withdrawn, closed)
NOT_NEEDED = frozenset({"ineligible", "late", "withdrawn", "closed_incomplete", "removed", "not_recommended"})


class PaperError(ValueError):
    """A receipt that cannot be recorded (unknown application, nonsense count); the message says which."""


@dataclass(frozen=True)
class PaperState:
    """What one application's paper and USB stick look like against the season's demands."""

    application_id: int
    submission_no: str
    copies_required: int
    copies: int
    paper_received_at: datetime | None
    usb_required: bool
    usb_received_at: datetime | None
    deadline: datetime

    @property
    def missing(self) -> list[str]:
        """``paper`` (fewer copies than required) and/or ``usb``."""
        out = []
        if self.copies < self.copies_required:
            out.append("paper")
        if self.usb_required and self.usb_received_at is None:
            out.append("usb")
        return out

    @property
    def late(self) -> list[str]:
        """What arrived after the provincial deadline (``paper``, ``usb``)."""
        out = []
        if self.paper_received_at is not None and self.paper_received_at > self.deadline:
            out.append("paper")
        if self.usb_received_at is not None and self.usb_received_at > self.deadline:
            out.append("usb")
        return out

    @property
    def required(self) -> bool:
        return self.copies_required > 0 or self.usb_required

    def as_dict(self) -> dict[str, Any]:
        return {
            "submission_no": self.submission_no, "copies_required": self.copies_required, "copies": self.copies,
            "paper_received_at": self.paper_received_at.isoformat() if self.paper_received_at else None,
            "usb_required": self.usb_required,
            "usb_received_at": self.usb_received_at.isoformat() if self.usb_received_at else None,
            "missing": self.missing, "late": self.late,
        }


def paper_state(season: Season, app: Application) -> PaperState:
    """The application's paper and USB state (no receipt yet: nothing arrived)."""
    receipt = getattr(app, "paper_receipt", None)
    return PaperState(
        application_id=app.id, submission_no=app.submission_no,
        copies_required=season.process.paper_copies, copies=receipt.copies if receipt else 0,
        paper_received_at=receipt.paper_received_at if receipt else None,
        usb_required=season.process.usb_required, usb_received_at=receipt.usb_received_at if receipt else None,
        deadline=season.dates.provincial_deadline,
    )


def find_application(session: Session, season: Season, ref: str | int) -> Application:
    """An application of the season by id or submission number, or PaperError naming what was asked."""
    query = select(Application).where(Application.season == season.season_id)
    text = str(ref).strip()
    query = query.where(Application.id == int(text)) if text.isdigit() else query.where(
        Application.submission_no == text)
    app = session.scalars(query).first()
    if app is None:
        raise PaperError(f"no application {text!r} in season {season.season_id}")
    return app


def record_receipt(session: Session, season: Season, application: Application | str | int, *, actor: str,
                   copies: int | None = None, usb: bool = False, received_at: datetime | None = None,
                   note: str | None = None) -> PaperState:
    """Record that paper copies (``copies``: the number now held) and/or the USB stick arrived at ``received_at``.

    Idempotent: recording the same again changes nothing but the audit trail. The time defaults to now
    (Asia/Shanghai); an arrival after the provincial deadline is kept and shows as late. Audited (actor, what,
    when).
    """
    app = application if isinstance(application, Application) else find_application(session, season, application)
    if copies is None and not usb:
        raise PaperError("nothing to record: give the number of paper copies and/or the USB stick")
    if copies is not None and not 0 <= copies <= 99:
        raise PaperError(f"copies: {copies} is not a number of copies (0-99)")
    if not actor.strip():
        raise PaperError("actor: who records the receipt is required")
    at = received_at or now()
    at = at.replace(tzinfo=TZ) if at.tzinfo is None else at.astimezone(TZ)
    receipt = app.paper_receipt
    if receipt is None:
        receipt = PaperReceipt(application_id=app.id, copies=0, recorded_by=actor)
        session.add(receipt)
        app.paper_receipt = receipt
    if copies is not None:
        if copies != receipt.copies or receipt.paper_received_at is None:
            receipt.paper_received_at = at
        receipt.copies = copies
    if usb and receipt.usb_received_at is None:
        receipt.usb_received_at = at
    receipt.recorded_by = actor
    receipt.recorded_at = now()
    if note:
        receipt.note = note
    session.flush()
    state = paper_state(season, app)
    audit(session, actor=actor, entity_type="application", entity_id=app.id, action="paper_receipt",
          reason=note, details={"copies": copies, "usb": usb, "received_at": at.isoformat(),
                                "missing": state.missing, "late": state.late})
    return state


def missing_on_paper(session: Session, season: Season) -> list[PaperState]:
    """Every live application of the season whose paper or USB stick is still missing or came late."""
    if not (season.process.paper_copies or season.process.usb_required):
        return []
    apps = session.scalars(select(Application).where(Application.season == season.season_id)
                           .options(selectinload(Application.paper_receipt)).order_by(Application.submission_no))
    states = [paper_state(season, a) for a in apps if a.state not in NOT_NEEDED]
    return [s for s in states if s.missing or s.late]

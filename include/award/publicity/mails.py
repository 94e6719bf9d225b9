"""Every e-mail the publicity stage queues (through the outbox): to applicants, objectors and staff.

Templates ``mail/publicity_started``, ``mail/objection_ack``, ``mail/objection_staff``,
``mail/objection_outcome_applicant`` and ``mail/objection_outcome_objector`` (publicity/templates/mail/). Each
outbox key names the template, the item and a discriminator, so queueing again is a no-op.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from award.mail.outbox import enqueue
from award.publicity.notice import notice_row
from award.publicity.purposes import ACTOR
from award.states import audit
from award.store.models import Application, InboundItem, Objection, PublicityWindow
from award.templating import message_group

if TYPE_CHECKING:
    from award.config import Season

_text = message_group("publicity", "publicity")



def _applicant_email(app: Application) -> str | None:
    return app.applicant.email or (app.fields or {}).get("email") or None


def mail_applicant(session: Session, season: Season, app: Application, template: str, discriminator: str,
                   extra: dict[str, Any]) -> None:
    """Queue ``template`` to the applicant (audited as skipped when there is no address)."""
    to = _applicant_email(app)
    if not to:
        audit(session, actor=ACTOR, entity_type="application", entity_id=app.id, action="mail_skipped",
              reason=f"{template}: no e-mail address")
        return
    row = notice_row(season, app)
    ctx = {"greeting": app.applicant.contact_name or row.name, "unit": season.recommending_unit,
           "season_label": season.label, "submission_no": app.submission_no, "applicant_name": row.name,
           **extra}
    enqueue(session, key=f"publicity:{template}:{app.id}:{discriminator}", template=template, to=[to],
            context=ctx, application_id=app.id)


def mail_staff(session: Session, season: Season, obj: Objection, kind: str, item: InboundItem, source: str,
               app: Application | None = None, window: PublicityWindow | None = None) -> None:
    """Tell staff about an objection that is ``late`` or ``unmatched`` (``objection_staff``)."""
    enqueue(session, key=f"publicity:objection_staff:{obj.id}:{kind}", template="objection_staff",
            to=[str(season.recommending_unit.ops_email)],
            context=dict(greeting=_text("greeting.staff"), unit=season.recommending_unit,
                         season_label=season.label, kind=kind, inbound_id=item.id, objection_id=obj.id,
                         source=source, subject=item.subject or "",
                         submission_no=app.submission_no if app else "",
                         end_date=window.end_date if window else None))


def mail_objector_ack(session: Session, season: Season, item: InboundItem, to: str, name: str | None,
                      received_at: datetime, late: bool, end_date: date | None) -> None:
    """Acknowledge an objection received by mail (``objection_ack``)."""
    enqueue(session, key=f"publicity:objection_ack:{item.id}:0", template="objection_ack", to=[to],
            context=dict(greeting=name or _text("greeting.objector"), unit=season.recommending_unit,
                         season_label=season.label, inbound_id=item.id, received_at=received_at,
                         late=late, end_date=end_date))


def mail_objector_outcome(session: Session, obj: Objection, to: str, decision: str, ctx: dict[str, Any]) -> None:
    """Tell the objector the decision on the objection (``objection_outcome_objector``)."""
    enqueue(session, key=f"publicity:objection_outcome_objector:{obj.id}:{decision}",
            template="objection_outcome_objector", to=[to],
            context=dict(greeting=obj.objector_name or _text("greeting.objector"),
                         inbound_id=obj.inbound_item_id or obj.id, **ctx))

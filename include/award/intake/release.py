"""Staff release a mail that intake held for review (it came from an address unknown to the application)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from award.enums import InboundStatus
from award.inbound.archive import record_problem
from award.states import audit
from award.store.models import InboundItem
from award.templating import message_group

_text = message_group("intake", "intake")


class ReleaseError(ValueError):
    """An inbound item that cannot be released (unknown, or not held)."""


def release_held(session: Session, item_id: int, *, actor: str) -> InboundItem:
    """Staff release a mail held for review (``held_for_review``): the next intake run takes it as if it came
    from an address on the application. Audited."""
    item = session.get(InboundItem, item_id)
    if item is None or item.status != InboundStatus.HELD:
        raise ReleaseError(f"inbound item {item_id} is not held for review")
    record_problem(session, code="released", message=_text("audit.released"), inbound_item=item,
                   status=InboundStatus.ARCHIVED)
    audit(session, actor=actor, entity_type="inbound_item", entity_id=item.id, action="release",
          reason=_text("audit.released"))
    return item

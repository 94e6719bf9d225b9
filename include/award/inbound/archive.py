"""Archive first, then parse: every inbound object is stored (SHA-256) and recorded before anyone reads it.

``archive_inbound`` is idempotent on (channel, source_key): taking the same object twice returns the first record.
Problems found later are recorded with ``record_problem`` and never lose the archived original.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from award.clock import now
from award.enums import InboundPurpose, InboundStatus
from award.storage.blobs import BlobStore
from award.store.models import InboundItem, Problem
from award.textclean import fit, fit_key

PURPOSES = ("application", "opinion", "objection", "scores")


@dataclass(frozen=True)
class Archived:
    """An archived inbound item and whether this call created it."""

    item: InboundItem
    created: bool


def archive_inbound(
    session: Session,
    blobs: BlobStore,
    *,
    season: str,
    channel: str,
    source_key: str,
    data: bytes,
    purpose: str = InboundPurpose.APPLICATION,
    filename: str | None = None,
    sender: str | None = None,
    subject: str | None = None,
    received_at: datetime | None = None,
) -> Archived:
    """Store ``data`` in the blob store and record it; a known (channel, source_key) is returned unchanged.

    ``received_at`` (default now) is when it reached us, e.g. a message's arrival in the mailbox.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    source_key = fit_key(InboundItem.source_key, source_key)
    existing = session.scalar(
        select(InboundItem).where(InboundItem.channel == channel, InboundItem.source_key == source_key)
    )
    if existing is not None:
        return Archived(existing, False)
    ref = blobs.put_bytes(data)  # the bytes are safe before the row exists
    item = InboundItem(
        season=season, channel=channel, source_key=source_key, purpose=purpose, sha256=ref.sha256, size=ref.size,
        storage_uri=ref.uri, status=InboundStatus.ARCHIVED, received_at=received_at or now(),
        **item_texts(filename=filename, sender=sender, subject=subject),
    )
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:  # a concurrent run archived it first
        again = session.scalar(
            select(InboundItem).where(InboundItem.channel == channel, InboundItem.source_key == source_key)
        )
        assert again is not None
        return Archived(again, False)
    return Archived(item, True)


def item_texts(*, filename: str | None, sender: str | None, subject: str | None) -> dict[str, str | None]:
    """The external texts of an InboundItem, normalised to fit their columns (``award.textclean``); a cut
    file name is kept whole (cleaned) in ``problem``. The raw bytes keep the original."""
    out = {
        "filename": fit(InboundItem.filename, filename) or None,
        "sender": fit(InboundItem.sender, sender) or None,
        "subject": fit(InboundItem.subject, subject) or None,
    }
    if filename and out["filename"] != filename:
        out["problem"] = f"filename: {fit(InboundItem.problem, filename)}"
    return out


def record_problem(
    session: Session,
    *,
    code: str,
    message: str,
    inbound_item: InboundItem | None = None,
    application_id: int | None = None,
    filename: str | None = None,
    status: str | None = "failed",
) -> Problem:
    """Record why a file could not be used (the message is the Chinese text the sender is told)."""
    problem = Problem(
        inbound_item_id=inbound_item.id if inbound_item is not None else None, application_id=application_id,
        filename=fit(Problem.filename, filename), code=code, message=fit(Problem.message, message, single_line=False),
        created_at=now(),
    )
    session.add(problem)
    if inbound_item is not None and status is not None:
        inbound_item.status = status
        inbound_item.problem = (inbound_item.problem + "\n" if inbound_item.problem else "") + f"{code}: {message}"
    return problem

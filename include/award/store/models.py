"""SQLAlchemy 2 models of the domain store.

Natural keys carry uniqueness so that every stage can upsert: applicants by (kind, key), applications by
(season, applicant), materials by (application, sha256), inbound items by (channel, source_key), outbox e-mails by
idempotency key. The audit log is append-only (ORM guard here, database triggers in the migration).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from award.clock import TZ, now
from award.enums import (
    InboundPurpose,
    InboundStatus,
    ObjectionStatus,
    OpinionRequestStatus,
    OutboxStatus,
    PackageStatus,
    State,
    WindowStatus,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class AwareDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware Asia/Shanghai datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use award.clock.now()")
        return value.astimezone(UTC) if dialect.name == "postgresql" else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(TZ)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (for Alembic)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: AwareDateTime()}


def _now() -> datetime:
    return now()


class Applicant(Base):
    """An organisation (keyed by credit code) or a person (keyed by ID number)."""

    __tablename__ = "applicant"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # ApplicantKind
    key: Mapped[str] = mapped_column(String(200))  # credit code, ID number, or "<credit code>/<team name>"
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=_now)

    applications: Mapped[list[Application]] = relationship(back_populates="applicant")


class Application(Base):
    """One applicant's application in one season and category; its ``state`` moves only through award.states."""

    __tablename__ = "application"
    __table_args__ = (UniqueConstraint("season", "applicant_id"), Index("ix_application_season_state", "season", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    season: Mapped[str] = mapped_column(String(40))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicant.id"))
    category: Mapped[str] = mapped_column(String(20))
    submission_no: Mapped[str] = mapped_column(String(32), unique=True)
    state: Mapped[str] = mapped_column(String(32), default=State.RECEIVED)  # State
    channel: Mapped[str] = mapped_column(String(16))  # ApplicationChannel
    channels: Mapped[list[Any]] = mapped_column(default=list)  # every channel it arrived through
    city: Mapped[str | None] = mapped_column(String(50))
    multi_channel: Mapped[bool] = mapped_column(Boolean, default=False)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)  # parsed form fields
    received_at: Mapped[datetime] = mapped_column(default=_now)
    changed_at: Mapped[datetime] = mapped_column(default=_now)  # last material change (re-check trigger)
    checked_at: Mapped[datetime | None] = mapped_column()
    correction_due: Mapped[date | None] = mapped_column(Date)
    priority: Mapped[bool] = mapped_column(Boolean, default=False)
    state_changed_at: Mapped[datetime] = mapped_column(default=_now)

    applicant: Mapped[Applicant] = relationship(back_populates="applications")
    materials: Mapped[list[Material]] = relationship(
        back_populates="application", order_by="Material.id", foreign_keys="Material.application_id"
    )
    paper_receipt: Mapped[PaperReceipt | None] = relationship(back_populates="application")


class InboundItem(Base):
    """A raw inbound object (an e-mail or an uploaded file), archived before it is parsed."""

    __tablename__ = "inbound_item"
    __table_args__ = (UniqueConstraint("channel", "source_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    season: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))  # SourceChannel
    source_key: Mapped[str] = mapped_column(String(500))  # e.g. imap:INBOX:<uidvalidity>:<uid>, s3:<key>@<etag>
    purpose: Mapped[str] = mapped_column(String(20), default=InboundPurpose.APPLICATION)  # InboundPurpose
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    storage_uri: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str | None] = mapped_column(String(300))
    sender: Mapped[str | None] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default=InboundStatus.ARCHIVED)  # InboundStatus
    problem: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=_now)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"))


class Material(Base):
    """A file belonging to an application; a newer version of the same kind supersedes the older (both kept)."""

    __tablename__ = "material"
    __table_args__ = (UniqueConstraint("application_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(100))
    source_channel: Mapped[str] = mapped_column(String(16))  # ApplicationChannel
    inbound_item_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_item.id"))
    storage_uri: Mapped[str] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("material.id"))
    received_at: Mapped[datetime] = mapped_column(default=_now)

    application: Mapped[Application] = relationship(back_populates="materials", foreign_keys=[application_id])


class Problem(Base):
    """A recorded problem with an inbound file (unreadable, refused, unmatched) and the reason given."""

    __tablename__ = "problem"

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_item_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_item.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"), index=True)
    filename: Mapped[str | None] = mapped_column(String(300))
    code: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class CheckRun(Base):
    """One completeness/eligibility check of an application (history kept, never overwritten)."""

    __tablename__ = "check_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    run_id: Mapped[str | None] = mapped_column(String(250))
    checked_at: Mapped[datetime] = mapped_column(default=_now)
    outcome: Mapped[str] = mapped_column(String(20))  # CheckOutcome
    input_hash: Mapped[str] = mapped_column(String(64))
    problems_hash: Mapped[str] = mapped_column(String(64))

    results: Mapped[list[CheckResult]] = relationship(back_populates="run", order_by="CheckResult.id")


class CheckResult(Base):
    """One rule's result within a check run."""

    __tablename__ = "check_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    check_run_id: Mapped[int] = mapped_column(ForeignKey("check_run.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10))  # Severity
    passed: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    run: Mapped[CheckRun] = relationship(back_populates="results")


class OpinionRequest(Base):
    """A solicitation letter to one department, covering a batch of applications, identified by a token."""

    __tablename__ = "opinion_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    season: Mapped[str] = mapped_column(String(40))
    department: Mapped[str] = mapped_column(String(40))
    token: Mapped[str] = mapped_column(String(40), unique=True)
    sent_at: Mapped[datetime | None] = mapped_column()
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=OpinionRequestStatus.OPEN)  # OpinionRequestStatus
    letter_sha256: Mapped[str | None] = mapped_column(String(64))
    sheet_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=_now)

    items: Mapped[list[OpinionRequestItem]] = relationship(back_populates="request")


class OpinionRequestItem(Base):
    """An application listed in an opinion request."""

    __tablename__ = "opinion_request_item"
    __table_args__ = (UniqueConstraint("request_id", "application_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("opinion_request.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)

    request: Mapped[OpinionRequest] = relationship(back_populates="items")


class Opinion(Base):
    """A department's opinion on one application (an answer, or a default applied on silence)."""

    __tablename__ = "opinion"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("opinion_request.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    department: Mapped[str] = mapped_column(String(40))
    verdict: Mapped[str] = mapped_column(String(20))  # Verdict
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # OpinionSource
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(default=_now)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("opinion.id"))


class PublicityWindow(Base):
    """A publicity window (公示) over a list of applications."""

    __tablename__ = "publicity_window"

    id: Mapped[int] = mapped_column(primary_key=True)
    season: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(20))  # WindowPurpose
    opened_at: Mapped[datetime] = mapped_column()
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    end_at: Mapped[datetime] = mapped_column()
    workdays: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=WindowStatus.OPEN)  # WindowStatus
    notice_docx_sha256: Mapped[str | None] = mapped_column(String(64))
    notice_html_sha256: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column()

    entries: Mapped[list[PublicityEntry]] = relationship(back_populates="window")


class PublicityEntry(Base):
    """An application listed in a publicity window, with its outcome."""

    __tablename__ = "publicity_entry"
    __table_args__ = (UniqueConstraint("window_id", "application_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("publicity_window.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))  # passed | removed

    window: Mapped[PublicityWindow] = relationship(back_populates="entries")


class Objection(Base):
    """An objection (异议) received during (or after) a publicity window, tracked to a resolution."""

    __tablename__ = "objection"

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int | None] = mapped_column(ForeignKey("publicity_window.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"), index=True)
    inbound_item_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_item.id"))
    objector_name: Mapped[str | None] = mapped_column(String(100))
    objector_email: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=_now)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=ObjectionStatus.OPEN)  # ObjectionStatus
    resolution: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column()


class PaperReceipt(Base):
    """The bound paper copies (一式三份) and the USB stick of one application: how many arrived, and when."""

    __tablename__ = "paper_receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    copies: Mapped[int] = mapped_column(Integer, default=0)
    paper_received_at: Mapped[datetime | None] = mapped_column()
    usb_received_at: Mapped[datetime | None] = mapped_column()
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(default=_now)
    note: Mapped[str | None] = mapped_column(Text)

    application: Mapped[Application] = relationship(back_populates="paper_receipt")


class ReviewScore(Base):
    """A third-party review score, with the rank and placement computed under the quota."""

    __tablename__ = "review_score"
    __table_args__ = (UniqueConstraint("season", "application_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    season: Mapped[str] = mapped_column(String(40))
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"))
    group: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    source_sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(default=_now)
    rank: Mapped[int | None] = mapped_column(Integer)
    placement: Mapped[str | None] = mapped_column(String(16))  # award | nomination | none
    priority: Mapped[bool] = mapped_column(Boolean, default=False)


class Package(Base):
    """A version of the recommendation package sent to the national regulator."""

    __tablename__ = "package"
    __table_args__ = (UniqueConstraint("season", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    season: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PackageStatus.COMPILED)  # PackageStatus
    content_hash: Mapped[str] = mapped_column(String(64))  # over the manifest: a change makes a new version
    path: Mapped[str | None] = mapped_column(String(500))
    zip_sha256: Mapped[str | None] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approval_text: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=_now)
    sent_at: Mapped[datetime | None] = mapped_column()


class OutboxEmail(Base):
    """A queued e-mail; the idempotency key makes enqueueing and sending safe to repeat."""

    __tablename__ = "outbox_email"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    template: Mapped[str] = mapped_column(String(80))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"), index=True)
    to_addrs: Mapped[list[Any]] = mapped_column(default=list)
    cc_addrs: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(default=list)  # [{"sha256", "filename"}]
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.PENDING)  # OutboxStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=_now)  # due time; when "sending"/"unknown": since
    retry_until: Mapped[datetime | None] = mapped_column()  # after a first definite failure: when to give up
    created_at: Mapped[datetime] = mapped_column(default=_now)
    sent_at: Mapped[datetime | None] = mapped_column()
    message_id: Mapped[str | None] = mapped_column(String(300))


class MailboxCursor(Base):
    """How far an IMAP folder has been read: UIDVALIDITY and the last archived UID."""

    __tablename__ = "mailbox_cursor"
    __table_args__ = (UniqueConstraint("mailbox", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditEvent(Base):
    """Append-only audit log: who did what, when and why."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=_now)
    actor: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


@event.listens_for(AuditEvent, "before_update")
def _no_update(*_: Any) -> None:
    raise AppendOnlyError("audit_event is append-only")


@event.listens_for(AuditEvent, "before_delete")
def _no_delete(*_: Any) -> None:
    raise AppendOnlyError("audit_event is append-only")


__all__ = [name for name in dir() if name[:1].isupper()] + ["func"]

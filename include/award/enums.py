"""Every status vocabulary of the domain, in one place: the values stored in the database's status columns.

Code compares and assigns these members, never raw strings (tests/unit/test_enums.py scans for raw literals),
and the model columns name their enum, so the comments in ``award.store.models`` cannot drift from the code.
This module imports nothing of the project: the models, the state machine and every stage stand on it.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Application states (values are stored in the database)."""

    RECEIVED = "received"  # 已接收: archived and parsed, not yet checked
    INCOMPLETE = "incomplete"  # 待补正: problems sent, waiting for corrections
    COMPLETE = "complete"  # 形式审查通过
    NEEDS_REVIEW = "needs_review"  # 待人工核对: only staff can settle a finding (a scanned PDF form, a field not found)
    CLOSED_INCOMPLETE = "closed_incomplete"  # 逾期未补正，终止
    INELIGIBLE = "ineligible"  # 不符合申报条件 (e.g. defence industry, school type)
    LATE = "late"  # 逾期不再受理
    WITHDRAWN = "withdrawn"  # 申请人撤回
    DEPT_REVIEW = "dept_review"  # 征求相关部门意见中
    DEPT_OBJECTION = "dept_objection"  # 部门有异议，待研究决定
    DEPT_CLEARED = "dept_cleared"  # 部门无异议（或按默认处理）
    IN_PUBLICITY = "in_publicity"  # 省级公示中
    OBJECTION_PENDING = "objection_pending"  # 公示异议待处理
    PUBLICITY_PASSED = "publicity_passed"  # 公示无异议，待评审
    REVIEWED = "reviewed"  # 第三方评审已打分
    CANDIDATE = "candidate"  # 拟推荐（名额内）
    CANDIDATE_PUBLICITY = "candidate_publicity"  # 拟推荐名单公示中
    CANDIDATE_OBJECTION = "candidate_objection"  # 拟推荐名单公示异议待处理
    CANDIDATE_CONFIRMED = "candidate_confirmed"  # 公示通过，待领导小组审定
    RECOMMENDED = "recommended"  # 领导小组审定推荐
    NOT_RECOMMENDED = "not_recommended"  # 未获推荐
    REMOVED = "removed"  # 因部门意见或公示异议取消
    EXPORTED = "exported"  # 已报送国家市场监管总局


class OutboxStatus(StrEnum):
    """Where a queued e-mail stands (``OutboxEmail.status``); moves only along ``OUTBOX_TRANSITIONS``."""

    PENDING = "pending"  # queued, due at next_attempt_at (after a definite failure: backing off)
    SENDING = "sending"  # claimed by a drain; the SMTP conversation is under way
    SENT = "sent"  # the server answered 250 to the data (or the copy was found in the sent folder)
    UNKNOWN = "unknown"  # the data went out but no answer came (timeout, crash): never resent blindly
    FAILED = "failed"  # refused for good (5xx) or still undeliverable after a working day; ops alerted


class InboundStatus(StrEnum):
    """Where an archived inbound item stands (``InboundItem.status``)."""

    ARCHIVED = "archived"  # raw bytes stored and recorded; not yet parsed
    PARSED = "parsed"  # turned into applicants, applications and materials (or replies, objections, scores)
    FAILED = "failed"  # could not be read: a recorded problem, and a message to its sender
    REFUSED = "refused"  # hostile or not allowed (an archive bomb, active content, a wrong channel)
    LATE = "late"  # arrived after the deadline: 逾期不再受理
    WAITING = "waiting"  # a city folder's file waiting for its form
    HELD = "held"  # a mail from an unknown address for an existing application: staff review it
    QUARANTINED = "quarantined"  # could not even be archived as it came (a storage error): kept aside, retried


class InboundPurpose(StrEnum):
    """What an inbound item is for (``InboundItem.purpose``): which stage reads it."""

    APPLICATION = "application"
    OPINION = "opinion"  # a department's reply (征求意见)
    OBJECTION = "objection"  # an objection during publicity (异议)
    SCORES = "scores"  # the third-party review scores


class SourceChannel(StrEnum):
    """Where an inbound item was read (``InboundItem.channel``): the mail and storage backends."""

    IMAP = "imap"
    MAILDIR = "maildir"
    S3 = "s3"
    LOCAL = "local"


class ApplicationChannel(StrEnum):
    """How an application reached the office (``Application.channel``, ``Material.source_channel``)."""

    MAIL = "mail"  # the office mailbox
    CITY = "city"  # a recommending unit's shared-storage folder
    LOCAL = "local"  # entered or dropped locally by staff


class CheckOutcome(StrEnum):
    """The result of one completeness check (``CheckRun.outcome``)."""

    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    INELIGIBLE = "ineligible"
    REVIEW = "review"  # only staff can settle a finding: the application waits in needs_review


class Severity(StrEnum):
    """How much a finding of the completeness check weighs (``Finding.severity``)."""

    BLOCKING = "blocking"
    WARNING = "warning"
    REVIEW = "review"  # staff must look (a scanned form, a field not found)


class OpinionRequestStatus(StrEnum):
    """A letter asking one department's opinion (``OpinionRequest.status``)."""

    OPEN = "open"
    ANSWERED = "answered"
    DEFAULTED = "defaulted"  # silent past the deadline: the department's default_on_silence was recorded


class Verdict(StrEnum):
    """A department's opinion on one application (``Opinion.verdict``)."""

    NO_OBJECTION = "no_objection"
    OBJECTION = "objection"
    FOLLOW_UP = "follow_up"


class OpinionSource(StrEnum):
    """Where an opinion came from (``Opinion.source``)."""

    REPLY = "reply"
    DEFAULT = "default"  # recorded on silence, not an answer


class WindowPurpose(StrEnum):
    """Which list a publicity window shows (``PublicityWindow.purpose``)."""

    PROVINCIAL = "provincial"  # 拟推荐申报对象名单
    CANDIDATE = "candidate"  # 拟推荐候选对象名单


class WindowStatus(StrEnum):
    """A publicity window (``PublicityWindow.status``)."""

    OPEN = "open"
    CLOSED = "closed"


class ObjectionStatus(StrEnum):
    """An objection raised during publicity (``Objection.status``)."""

    OPEN = "open"
    UNMATCHED = "unmatched"  # names no application on the list: staff match it
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class PackageStatus(StrEnum):
    """A version of the national package (``Package.status``)."""

    APPROVED = "approved"  # the leadership group approved this content; not yet compiled
    REJECTED = "rejected"  # the leadership group did not approve it
    COMPILED = "compiled"
    VERIFIED = "verified"
    FAILED = "failed"
    SENT = "sent"


class ApplicantKind(StrEnum):
    """Who applies (``Applicant.kind``)."""

    ORGANIZATION = "organization"
    PERSON = "person"


# Every vocabulary above, for the raw-literal scan and for readers.
VOCABULARIES: tuple[type[StrEnum], ...] = (
    State, OutboxStatus, InboundStatus, InboundPurpose, SourceChannel, ApplicationChannel, CheckOutcome, Severity,
    OpinionRequestStatus, Verdict, OpinionSource, WindowPurpose, WindowStatus, ObjectionStatus, PackageStatus,
    ApplicantKind,
)

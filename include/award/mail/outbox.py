"""The outbox: every e-mail is queued with an idempotency key, then sent by a drain with retries and backoff.

Enqueueing the same key twice keeps the first e-mail; a drained e-mail is never sent again. ``plan_batches`` splits
the due e-mails into batches for the ``outbox`` DAG, which sends each batch with ``drain(ids=...)`` in a mapped task.
The SMTP side (``YagmailSender``, telling "not delivered" from "outcome unknown") is ``award.mail.smtp``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from award.batching import MAX_MAP_LENGTH
from award.calendar import default_calendar
from award.clock import TZ, now
from award.identity import mask_pii_text
from award.states import OUTBOX_TRANSITIONS, IllegalTransition, OutboxStatus, audit
from award.store.db import session_scope
from award.store.models import OutboxEmail
from award.templating import message_group, render_mail

if TYPE_CHECKING:
    from award.config import Season
    from award.runtime import Runtime

log = logging.getLogger(__name__)
_text = message_group("outbox", "outbox")

ACTOR = "outbox"
ALERT_PREFIX = "outbox:ops-alert:"
STALE_SENDING = timedelta(minutes=15)  # "sending" this long: the worker died mid-send -> unknown
SETTLE = timedelta(minutes=15)  # "unknown" this long before the sent folder is asked (the server files late)
MAX_BACKOFF = timedelta(hours=1)
WORKDAY_END = time(18, 0)
UNFINISHED = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.UNKNOWN)


@dataclass(frozen=True)
class OutgoingAttachment:
    """An attachment by content (from the blob store) and the name the recipient sees."""

    filename: str
    data: bytes


class Sender(Protocol):
    """Anything that sends one e-mail and returns its Message-ID."""

    def send(
        self,
        *,
        to: Sequence[str],
        cc: Sequence[str],
        subject: str,
        text: str,
        attachments: Sequence[OutgoingAttachment],
        message_id: str,
    ) -> str: ...


def message_id_for(key: str, domain: str = "award.local") -> str:
    """A deterministic Message-ID, so a receiver can drop a duplicate after a crash mid-send."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def enqueue(
    session: Session,
    *,
    key: str,
    template: str,
    to: Sequence[str],
    context: dict[str, Any],
    application_id: int | None = None,
    cc: Sequence[str] = (),
    attachments: Sequence[dict[str, str]] = (),
) -> tuple[OutboxEmail, bool]:
    """Queue an e-mail rendered from ``templates/mail/<template>.txt.j2``; returns (row, created).

    ``attachments`` are ``{"sha256": ..., "filename": ...}`` of blobs. The same key never queues twice.
    """
    existing = session.scalar(select(OutboxEmail).where(OutboxEmail.idempotency_key == key))
    if existing is not None:
        return existing, False
    mail = prepare(key=key, template=template, to=to, context=context, application_id=application_id, cc=cc,
                   attachments=attachments)
    return _insert_one(session, mail)


@dataclass(frozen=True)
class PreparedMail:
    """An e-mail rendered but not yet queued (``prepare``); ``enqueue_many`` queues a batch of them."""

    key: str
    template: str
    to: tuple[str, ...]
    subject: str
    body: str
    application_id: int | None = None
    cc: tuple[str, ...] = ()
    attachments: tuple[dict[str, str], ...] = ()

    def row(self) -> OutboxEmail:
        """A new pending OutboxEmail row (not added to any session)."""
        return OutboxEmail(
            idempotency_key=self.key, template=self.template, application_id=self.application_id,
            to_addrs=list(self.to), cc_addrs=list(self.cc), subject=self.subject, body_text=self.body,
            attachments=[dict(a) for a in self.attachments], status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now(),
            created_at=now(),
        )


def prepare(
    *,
    key: str,
    template: str,
    to: Sequence[str],
    context: dict[str, Any],
    application_id: int | None = None,
    cc: Sequence[str] = (),
    attachments: Sequence[dict[str, str]] = (),
) -> PreparedMail:
    """Render ``templates/mail/<template>.txt.j2`` now (arguments as ``enqueue``); queue it with ``enqueue_many``."""
    subject, body = render_mail(f"mail/{template}.txt.j2", **context)
    return PreparedMail(key, template, tuple(to), subject, body, application_id, tuple(cc), tuple(attachments))


def _insert_one(session: Session, mail: PreparedMail) -> tuple[OutboxEmail, bool]:
    row = mail.row()
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent run queued it first
        existing = session.scalar(select(OutboxEmail).where(OutboxEmail.idempotency_key == mail.key))
        assert existing is not None
        return existing, False
    return row, True


def enqueue_many(session: Session, mails: Sequence[PreparedMail]) -> list[tuple[OutboxEmail, bool]]:
    """Queue prepared e-mails with the rule of ``enqueue`` (the first e-mail of a key wins), in order.

    One SELECT per 500 keys for the keys already queued and one flush for the new rows; if a concurrent run
    queued one of them meanwhile (unique key), the batch is rolled back and queued one by one.
    """
    if not mails:
        return []
    keys = list(dict.fromkeys(m.key for m in mails))
    known: dict[str, OutboxEmail] = {}
    for start in range(0, len(keys), 500):
        known.update((row.idempotency_key, row) for row in session.scalars(
            select(OutboxEmail).where(OutboxEmail.idempotency_key.in_(keys[start:start + 500]))))
    out: list[tuple[OutboxEmail, bool]] = []
    new: list[OutboxEmail] = []
    for mail in mails:
        if mail.key in known:
            out.append((known[mail.key], False))
            continue
        row = known[mail.key] = mail.row()
        new.append(row)
        out.append((row, True))
    if not new:
        return out
    try:
        with session.begin_nested():
            session.add_all(new)
            session.flush()
        return out
    except IntegrityError:
        pass
    final: list[tuple[OutboxEmail, bool]] = []
    done: dict[str, OutboxEmail] = {}
    for mail in mails:  # the rolled-back rows are gone: fresh rows, one savepoint each
        if mail.key in done:
            final.append((done[mail.key], False))
            continue
        found = session.scalar(select(OutboxEmail).where(OutboxEmail.idempotency_key == mail.key))
        row, created = (found, False) if found is not None else _insert_one(session, mail)
        done[mail.key] = row
        final.append((row, created))
    return final


@dataclass
class DrainResult:
    """What one drain (or planning pass) did, by e-mail id."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # due, but an earlier e-mail to the same recipient is not out


class SendFailed(Exception):
    """Not delivered, for sure: the conversation broke off before the end of the data, or the server said no."""


class SendRejected(SendFailed):
    """Refused for good (a 5xx reply): retrying will not help."""


class SendOutcomeUnknown(Exception):
    """The data went out but the server's final reply never came: the server may have stored the e-mail."""


class SentFolder(Protocol):
    """Where the mail server files what it sent (an IMAP folder): answers whether a Message-ID is there."""

    def contains(self, message_id: str) -> bool: ...


# An ops alert: called with the session and the rows that just became "unknown" or "failed".
OpsAlert = Callable[[Session, list[OutboxEmail]], None]


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th definite failure: 1, 2, 4, ... minutes, at most an hour."""
    return min(timedelta(minutes=2 ** min(max(attempts - 1, 0), 10)), MAX_BACKOFF)


def give_up_at(first_failure: datetime) -> datetime:
    """When retries stop: the end of the first working day after the day of the first failure (Asia/Shanghai).

    The retries thus span a whole working day of the office's mail server, whenever the outage began; a day the
    working-day calendar does not know counts as a working day unless it is a weekend.
    """
    day = first_failure.astimezone(TZ).date()
    try:
        next_day = default_calendar().next_workday(day)
    except ValueError:  # a year the calendar does not know
        next_day = day + timedelta(days=1)
        while next_day.weekday() >= 5:
            next_day += timedelta(days=1)
    return datetime.combine(next_day, WORKDAY_END, tzinfo=TZ)


def _move(session: Session, row: OutboxEmail, target: OutboxStatus, *, actor: str = ACTOR,
          reason: str | None = None, audited: bool = True) -> None:
    """Change a row's status along ``OUTBOX_TRANSITIONS``; the unusual moves are written to the audit log."""
    current = OutboxStatus(row.status)
    if target not in OUTBOX_TRANSITIONS[current]:
        raise IllegalTransition(f"outbox e-mail {row.id}: {current} -> {target} is not allowed")
    row.status = target
    if audited:
        audit(session, actor=actor, entity_type="outbox_email", entity_id=row.id, action="outbox_status",
              from_state=current, to_state=target, reason=reason)


def _unfinished(session: Session) -> list[tuple[int, list[Any], str, datetime]]:
    return [(r[0], r[1], r[2], r[3]) for r in session.execute(
        select(OutboxEmail.id, OutboxEmail.to_addrs, OutboxEmail.status, OutboxEmail.next_attempt_at)
        .where(OutboxEmail.status.in_(UNFINISHED)).order_by(OutboxEmail.id))]


def _recipients(addrs: Iterable[Any]) -> frozenset[str]:
    return frozenset(str(a).strip().lower() for a in addrs)


def due_groups(session: Session) -> tuple[list[list[int]], list[int]]:
    """The due e-mails in per-recipient chains, and the held ones.

    An e-mail is due when it is pending, its time has come, and every earlier unfinished e-mail to one of its
    recipients is due too (so that it can go right after it, in the same chain). Chains that share a recipient
    are one group: a group is sent by one drain, in queue order. Returns (groups of ids, held ids).
    """
    at = now()
    blocked: set[str] = set()
    due: list[tuple[int, frozenset[str]]] = []
    held: list[int] = []
    for email_id, to_addrs, status, next_at in _unfinished(session):
        rcpts = _recipients(to_addrs)
        is_due = status == OutboxStatus.PENDING and next_at <= at
        if is_due and not rcpts & blocked:
            due.append((email_id, rcpts))
            continue
        if is_due:
            held.append(email_id)
        blocked |= rcpts
    # union of chains that share a recipient (ids stay in queue order inside a group)
    owner: dict[str, int] = {}
    groups: dict[int, list[int]] = {}
    for email_id, rcpts in due:
        roots = sorted({owner[r] for r in rcpts if r in owner})
        root = roots[0] if roots else email_id
        members = groups.setdefault(root, [])
        for other in roots[1:]:
            members.extend(groups.pop(other))
            for r, o in owner.items():
                if o == other:
                    owner[r] = root
        members.append(email_id)
        for r in rcpts:
            owner[r] = root
    return [sorted(g) for _root, g in sorted(groups.items())], held


def recover_stale(session: Session, alert: OpsAlert | None = None) -> list[int]:
    """E-mails left "sending" for ``STALE_SENDING`` (a worker killed mid-send) become "unknown", never resent.

    The server may have taken the e-mail before the worker died; ``reconcile_unknown`` looks for it in the sent
    folder, or ops decide (``award outbox retry --unknown`` / ``award outbox resolve``). Returns their ids.
    """
    rows = list(session.scalars(select(OutboxEmail).where(
        OutboxEmail.status == OutboxStatus.SENDING, OutboxEmail.next_attempt_at < now() - STALE_SENDING)))
    for row in rows:
        _move(session, row, OutboxStatus.UNKNOWN, reason=_text("reason.interrupted"))
        row.last_error = _text("reason.interrupted")
        row.next_attempt_at = now()
    if rows and alert is not None:
        alert(session, rows)
    return [row.id for row in rows]


def reconcile_unknown(session: Session, sent_folder: SentFolder | None, *, settle: timedelta = SETTLE) -> DrainResult:
    """Settle "unknown" e-mails through the sent folder: found -> sent, not found -> pending (sent again).

    Only e-mails unknown for ``settle`` (the server files a copy after it answered) are looked up. Without a
    sent folder they stay "unknown", shown to ops. A lookup that fails leaves the row as it is.
    """
    result = DrainResult()
    if sent_folder is None:
        return result
    rows = list(session.scalars(select(OutboxEmail).where(
        OutboxEmail.status == OutboxStatus.UNKNOWN, OutboxEmail.next_attempt_at <= now() - settle)
        .order_by(OutboxEmail.id)))
    for row in rows:
        mid = row.message_id or message_id_for(row.idempotency_key)
        try:
            found = sent_folder.contains(mid)
        except Exception as exc:  # noqa: BLE001 - the mailbox may be down too: try again next time
            log.warning("outbox e-mail %s: sent folder lookup failed (%s)", row.id, type(exc).__name__)
            continue
        if found:
            _move(session, row, OutboxStatus.SENT, reason=_text("reason.found_in_sent"))
            row.sent_at, row.message_id = now(), mid
            result.sent.append(row.id)
        else:
            _move(session, row, OutboxStatus.PENDING, reason=_text("reason.not_in_sent"))
            row.next_attempt_at = now()
            result.retried.append(row.id)
    return result


def plan_batches(
    session_factory: Callable[[], Any],
    batch_size: int = 50,
    *,
    max_batches: int = MAX_MAP_LENGTH,
    sent_folder: SentFolder | None = None,
    alert: OpsAlert | None = None,
) -> list[list[int]]:
    """Recover stale sends, settle unknown ones, then list the due e-mail ids in batches of about ``batch_size``.

    All due e-mails to one recipient are in one batch, in queue order (``due_groups``), so that the mapped
    ``drain(ids=batch)`` tasks, which run in parallel, never reorder one recipient's e-mails. Airflow maps a task
    over at most ``[core] max_map_length`` (1024) items: beyond 1024 batches the batches grow
    (``award.batching.chunk``) rather than exceed the limit.
    """
    with session_factory() as session:
        recovered = recover_stale(session, alert)
        settled = reconcile_unknown(session, sent_folder)
        groups, held = due_groups(session)
    batches = _pack(groups, batch_size, max_batches)
    log.info("outbox plan: %d due e-mails in %d batches (%d held behind earlier ones, %d stale sends now unknown, "
             "%d unknown settled)", sum(map(len, groups)), len(batches), len(held), len(recovered),
             len(settled.sent) + len(settled.retried))
    return batches


def _pack(groups: list[list[int]], batch_size: int, max_batches: int) -> list[list[int]]:
    """Whole groups into batches of about ``batch_size`` ids (a larger group is one batch), at most ``max_batches``."""
    if not groups:
        return []
    total = sum(map(len, groups))
    size = max(batch_size, -(-total // max_batches))
    batches: list[list[int]] = []
    current: list[int] = []
    for group in groups:
        if current and len(current) + len(group) > size:
            batches.append(current)
            current = []
        current.extend(group)
    batches.append(current)
    while len(batches) > max_batches:  # large groups: merge the two smallest neighbours
        i = min(range(len(batches) - 1), key=lambda k: len(batches[k]) + len(batches[k + 1]))
        batches[i:i + 2] = [batches[i] + batches[i + 1]]
    return [sorted(b) for b in batches]


def drain(
    session_factory: Callable[[], Any],
    sender: Sender,
    load_blob: Callable[[str], bytes],
    *,
    limit: int = 100,
    domain: str = "award.local",
    ids: Iterable[int] | None = None,
    sent_folder: SentFolder | None = None,
    alert: OpsAlert | None = None,
) -> DrainResult:
    """Send due e-mails one by one, in queue order; each is claimed first so two drains never send the same row.

    A send counts only on the server's 250 reply. ``SendOutcomeUnknown`` (the data went out, no reply) makes the
    row "unknown": it is not resent until the sent folder (or ops) says it was not delivered. A definite failure
    goes back to "pending" with ``backoff`` until ``give_up_at``, then "failed"; a 5xx refusal fails at once.
    ``alert`` hears of every row that became "unknown" or "failed". After a failure, the later e-mails of the
    same recipients wait (their order is kept).

    ``ids=None``: recover stale sends, settle unknown ones, then send up to ``limit`` due e-mails. With ``ids``
    (a batch from ``plan_batches``, which did the recovery): only those of the given rows that are due.
    """
    result = DrainResult()
    with session_factory() as session:
        if ids is None:
            recover_stale(session, alert)
            reconcile_unknown(session, sent_folder)
            groups, result.held = due_groups(session)
            todo = sorted(i for g in groups for i in g)[:limit]
        else:
            wanted = {int(i) for i in ids}
            groups, held = due_groups(session)
            todo = sorted(i for g in groups for i in g if i in wanted)
            result.held = [i for i in held if i in wanted]
    stopped: set[str] = set()  # recipients whose earlier e-mail did not go out in this drain
    for email_id in todo:
        with session_factory() as session:
            row = session.get(OutboxEmail, email_id)
            if row is None:
                continue
            rcpts = _recipients(row.to_addrs)
            if rcpts & stopped:
                stopped |= rcpts
                result.held.append(email_id)
                continue
            claimed = session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id == email_id, OutboxEmail.status == OutboxStatus.PENDING)
                .values(status=OutboxStatus.SENDING, next_attempt_at=now())
            ).rowcount
            if not claimed:
                stopped |= rcpts
                continue
            session.refresh(row)
            mail = dict(
                to=list(row.to_addrs), cc=list(row.cc_addrs), subject=row.subject, text=row.body_text,
                attachments=[OutgoingAttachment(a["filename"], load_blob(a["sha256"])) for a in row.attachments],
                message_id=message_id_for(row.idempotency_key, domain),
            )
        outcome: BaseException | None = None
        message_id = str(mail["message_id"])
        try:
            message_id = sender.send(**mail)
        except (SendFailed, SendOutcomeUnknown) as exc:
            outcome = exc
        except Exception as exc:  # noqa: BLE001 - a sender that broke before talking to the server
            outcome = SendFailed(f"{type(exc).__name__}: {exc}")
        with session_factory() as session:
            row = session.get(OutboxEmail, email_id)
            assert row is not None
            row.attempts += 1
            if outcome is None:
                _move(session, row, OutboxStatus.SENT, audited=False)
                row.sent_at, row.message_id, row.last_error, row.retry_until = now(), message_id, None, None
                result.sent.append(email_id)
                continue
            stopped |= _recipients(row.to_addrs)
            row.last_error = f"{type(outcome).__name__}: {outcome}"[:2000]
            row.message_id = message_id
            if isinstance(outcome, SendOutcomeUnknown):
                _move(session, row, OutboxStatus.UNKNOWN, reason=row.last_error)
                row.next_attempt_at = now()
                result.unknown.append(email_id)
            else:
                first = row.retry_until is None
                row.retry_until = row.retry_until or give_up_at(now())
                if isinstance(outcome, SendRejected) or (not first and now() >= row.retry_until):
                    _move(session, row, OutboxStatus.FAILED, reason=row.last_error)
                    result.failed.append(email_id)
                else:
                    _move(session, row, OutboxStatus.PENDING, audited=False)
                    row.next_attempt_at = min(now() + backoff(row.attempts), row.retry_until)
                    result.retried.append(email_id)
            if alert is not None and row.status in (OutboxStatus.UNKNOWN, OutboxStatus.FAILED):
                alert(session, [row])
        log.warning("outbox e-mail %s not sent (%s)", email_id, type(outcome).__name__)
    return result


def retry(session: Session, *, failed: bool = False, unknown: bool = False, ids: Sequence[int] = (),
          actor: str = "ops") -> list[int]:
    """Requeue e-mails now (``award outbox retry``): pending ones skip their backoff; with ``failed`` the failed
    ones, with ``unknown`` the unknown ones (ops decided they were not delivered) go back to "pending".

    ``ids`` limits it to those e-mails. A requeued e-mail gets a fresh working day of retries. Returns the ids.
    """
    wanted = [OutboxStatus.PENDING] + ([OutboxStatus.FAILED] if failed else []) + (
        [OutboxStatus.UNKNOWN] if unknown else [])
    query = select(OutboxEmail).where(OutboxEmail.status.in_(wanted)).order_by(OutboxEmail.id)
    if ids:
        query = query.where(OutboxEmail.id.in_(list(ids)))
    done = []
    for row in session.scalars(query):
        if row.status != OutboxStatus.PENDING:
            _move(session, row, OutboxStatus.PENDING, actor=actor, reason=_text("reason.requeued"))
        row.next_attempt_at, row.retry_until = now(), None
        done.append(row.id)
    return done


def resolve_sent(session: Session, ids: Sequence[int], *, actor: str = "ops") -> list[int]:
    """Ops confirmed that these "unknown" e-mails arrived (``award outbox resolve --sent``): mark them sent."""
    done = []
    for row in session.scalars(select(OutboxEmail).where(
            OutboxEmail.id.in_(list(ids)), OutboxEmail.status == OutboxStatus.UNKNOWN)):
        _move(session, row, OutboxStatus.SENT, actor=actor, reason=_text("reason.confirmed_sent"))
        row.sent_at = now()
        done.append(row.id)
    return done


def ops_alert(season: Season) -> OpsAlert:
    """An ``OpsAlert`` that queues a staff notice to the season's ops address for each unknown or failed e-mail.

    The notice goes through the outbox too (it waits out an outage like every e-mail); a notice about an ops
    notice is not queued (no loop).
    """
    def alert(session: Session, rows: list[OutboxEmail]) -> None:
        ops = str(season.recommending_unit.ops_email)
        for row in rows:
            if row.idempotency_key.startswith(ALERT_PREFIX):
                continue
            status = OutboxStatus(row.status)
            unknown = status == OutboxStatus.UNKNOWN
            enqueue(session, key=f"{ALERT_PREFIX}{status}:{row.id}:{row.attempts}", template="staff_notice",
                    to=[ops], context={
                        "greeting": _text("alert.greeting"), "unit": season.recommending_unit,
                        "season_label": season.label,
                        "title": _text("alert.title_unknown", id=row.id) if unknown else _text(
                            "alert.title_failed", id=row.id),
                        "text": _text("alert.text_unknown", id=row.id) if unknown else _text(
                            "alert.text_failed", id=row.id),
                        "items": [mask_pii_text(x) for x in (
                            _text("alert.item_subject", subject=row.subject),
                            _text("alert.item_to", to=", ".join(map(str, row.to_addrs))),
                            _text("alert.item_error", error=row.last_error or ""),
                            _text("alert.item_action", id=row.id))]})
    return alert


# ------------------------------------------------------------------------------------------ entry points


def plan_sends(rt: Runtime, batch_size: int = 50, *, sent_folder: SentFolder | None = None) -> list[list[int]]:
    """The ``outbox`` DAG's planning step: ``plan_batches`` on the runtime's store, alerts to the season's ops."""
    return plan_batches(partial(session_scope, rt.db_url), batch_size, sent_folder=sent_folder,
                        alert=ops_alert(rt.season))


def send_planned(rt: Runtime, sender: Sender, ids: Iterable[int]) -> DrainResult:
    """The ``outbox`` DAG's sending step: ``drain`` the given e-mails (one transaction each), attachments from
    the runtime's blob store, alerts to the season's ops."""
    return drain(partial(session_scope, rt.db_url), sender, rt.blobs.get_bytes, ids=ids, alert=ops_alert(rt.season))

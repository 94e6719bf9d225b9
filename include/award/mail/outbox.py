"""The outbox: every e-mail is queued with an idempotency key, then sent by a drain with retries and backoff.

Enqueueing the same key twice keeps the first e-mail; a drained e-mail is never sent again. ``plan_batches`` splits
the due e-mails into batches for the ``outbox`` DAG, which sends each batch with ``drain(ids=...)`` in a mapped task.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from award.batching import MAX_MAP_LENGTH, chunk
from award.clock import now
from award.store.models import OutboxEmail
from award.templating import render_mail

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
STALE_SENDING = timedelta(minutes=15)


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
    import hashlib

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
            attachments=[dict(a) for a in self.attachments], status="pending", attempts=0, next_attempt_at=now(),
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
    """What one drain did."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def recover_stale(session: Session) -> int:
    """Put e-mails left "sending" by a crashed worker (for ``STALE_SENDING``) back in the queue; returns how many."""
    return int(session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.status == "sending", OutboxEmail.next_attempt_at < now() - STALE_SENDING)
        .values(status="pending")
    ).rowcount or 0)


def _due() -> Any:
    return select(OutboxEmail.id).where(OutboxEmail.status == "pending", OutboxEmail.next_attempt_at <= now())


def plan_batches(
    session_factory: Callable[[], Any],
    batch_size: int = 50,
    *,
    max_batches: int = MAX_MAP_LENGTH,
) -> list[list[int]]:
    """Recover stale "sending" e-mails, then list the due e-mail ids in batches of ``batch_size``.

    The ``outbox`` DAG maps one ``drain(ids=batch)`` task per batch. Airflow maps a task over at most
    ``[core] max_map_length`` (1024) items: 1024 batches of 50 cover 51,200 due e-mails; beyond that the batches
    grow (``award.batching.chunk``) rather than exceed the limit.
    """
    with session_factory() as session:
        recovered = recover_stale(session)
        ids = list(session.scalars(_due().order_by(OutboxEmail.id)))
    batches = chunk(ids, batch_size, max_batches=max_batches)
    log.info("outbox plan: %d due e-mails in %d batches (%d stale sends recovered)", len(ids), len(batches),
             recovered)
    return batches


def drain(
    session_factory: Callable[[], Any],
    sender: Sender,
    load_blob: Callable[[str], bytes],
    *,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    domain: str = "award.local",
    ids: Iterable[int] | None = None,
) -> DrainResult:
    """Send due e-mails one by one; each is claimed first so two drains never send the same row.

    ``ids=None``: recover stale sends, then send up to ``limit`` due e-mails. With ``ids`` (a batch from
    ``plan_batches``, which did the recovery): only those of the given rows that are still due, whatever ``limit``.
    """
    result = DrainResult()
    with session_factory() as session:
        todo: list[int]
        if ids is None:
            recover_stale(session)
            todo = list(session.scalars(_due().order_by(OutboxEmail.id).limit(limit)))
        else:
            wanted = sorted({int(i) for i in ids})
            todo = [i for start in range(0, len(wanted), 500)  # bounded IN lists
                    for i in session.scalars(_due().where(OutboxEmail.id.in_(wanted[start:start + 500]))
                                             .order_by(OutboxEmail.id))]
    for email_id in todo:
        with session_factory() as session:
            claimed = session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id == email_id, OutboxEmail.status == "pending")
                .values(status="sending", next_attempt_at=now())
            ).rowcount
            if not claimed:
                continue
            row = session.get(OutboxEmail, email_id)
            assert row is not None
            mail = dict(
                to=list(row.to_addrs), cc=list(row.cc_addrs), subject=row.subject, text=row.body_text,
                attachments=[OutgoingAttachment(a["filename"], load_blob(a["sha256"])) for a in row.attachments],
                message_id=message_id_for(row.idempotency_key, domain),
            )
        try:
            message_id = sender.send(**mail)
        except Exception as exc:  # noqa: BLE001 - any send failure is retried, then shown as failed
            with session_factory() as session:
                row = session.get(OutboxEmail, email_id)
                assert row is not None
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if row.attempts >= max_attempts:
                    row.status = "failed"
                    result.failed.append(email_id)
                else:
                    row.status = "pending"
                    row.next_attempt_at = now() + timedelta(minutes=2 ** row.attempts)
                    result.retried.append(email_id)
            log.warning("outbox e-mail %s not sent (attempt failed): %s", email_id, type(exc).__name__)
            continue
        with session_factory() as session:
            row = session.get(OutboxEmail, email_id)
            assert row is not None
            row.status = "sent"
            row.attempts += 1
            row.sent_at = now()
            row.message_id = message_id
            row.last_error = None
        result.sent.append(email_id)
    return result


class YagmailSender:
    """Sends through SMTP with yagmail (the connection's host, port, login and TLS settings)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        from_addr: str,
        from_name: str | None = None,
        user: str | None = None,
        password: str | None = None,
        ssl: bool = False,
        starttls: bool = False,
        timeout: int = 30,
    ) -> None:
        self.host, self.port, self.from_addr, self.from_name = host, port, from_addr, from_name
        self.user, self.password, self.ssl, self.starttls, self.timeout = user, password, ssl, starttls, timeout

    def send(
        self,
        *,
        to: Sequence[str],
        cc: Sequence[str],
        subject: str,
        text: str,
        attachments: Sequence[OutgoingAttachment],
        message_id: str,
    ) -> str:
        import html

        files = []
        for att in attachments:
            handle = io.BytesIO(att.data)
            handle.name = att.filename
            files.append(handle)
        address = self.user or self.from_addr  # yagmail logs in as the sender address
        user = {address: self.from_name} if self.from_name else address
        client = _plain_text_smtp_class()(
            user=user, password=self.password, host=self.host, port=self.port,
            smtp_ssl=self.ssl, smtp_starttls=self.starttls, smtp_skip_login=self.password is None,
            soft_email_validation=False, timeout=self.timeout,
        )
        client.plain_text = text
        try:
            client.send(
                to=list(to), cc=list(cc) or None, subject=subject, contents=[html.escape(text)],
                attachments=files or None, message_id=message_id, group_messages=False,
                prettify_html=False,
            )
        finally:
            client.close()
        return message_id


def _plain_text_smtp_class() -> type:
    """yagmail.SMTP whose text/plain alternative is the text itself (yagmail puts ``<br>`` into it)."""
    import email
    import email.policy

    import yagmail

    class PlainTextSMTP(yagmail.SMTP):  # type: ignore[misc]
        plain_text: str = ""

        def prepare_send(self, *args: Any, **kwargs: Any) -> tuple[list[str], str]:
            recipients, msg_string = super().prepare_send(*args, **kwargs)
            msg = email.message_from_string(msg_string, policy=email.policy.compat32)
            for part in msg.walk():
                if part.get_content_type() == "text/plain" and not part.get_filename():
                    part.set_payload(self.plain_text, charset="utf-8")
                    break
            return recipients, msg.as_string()

    return PlainTextSMTP

"""Where inbound objects come from: mailboxes (a local Maildir, or IMAP) and shared storage (folder or S3).

Every source archives first (``award.inbound.archive.archive_inbound``) and only then marks the original as taken:

* ``MaildirSource``: a Maildir folder read with ``mailbox.Maildir``; a taken message is renamed into the
  ``.processed`` sub-folder with the Seen flag (atomic rename on the same file system), never deleted.
  Source key ``maildir:<folder>:<maildir key>``.
* ``ImapSource``: ``UID SEARCH`` above the stored cursor and ``UID FETCH BODY.PEEK[]`` (nothing is marked seen on
  read); UIDVALIDITY and the last UID are kept in ``MailboxCursor``. After the archive rows and the cursor are
  committed, the message is flagged ``\\Seen $Archived`` and moved to the processed folder with ``UID MOVE``
  (RFC 6851), or, without MOVE, copied there and left flagged in place (never deleted or expunged).
  Source key ``imap:<user@host>:<folder>:<uidvalidity>:<uid>``.
* ``fetch_storage``: lists a shared-storage prefix; an object is taken once per (key, ETag): source key
  ``<key>@<etag>``, so a changed object becomes a new version.

``fetch_mail(session, rt, source, classify)`` is the entry point other stages use (publicity reads the
objections mailbox with ``purpose="objection"``). The default classifier tags department replies
``opinion`` (sender is a configured department address, or the subject carries an opinion token) and
everything else ``application``.
"""

from __future__ import annotations

import email.parser
import email.policy
import imaplib
import logging
import mailbox
import os
import re
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from award.clock import TZ, now
from award.config import Season
from award.connections import IMAP_CONN_ID, ImapSettings
from award.enums import InboundPurpose, InboundStatus, SourceChannel
from award.inbound import archive  # its functions are looked up at call time (tests replace them)
from award.inbound.mime import _raw_header, decode_words, sender_display
from award.runtime import Runtime, maildir
from award.store.models import InboundItem, MailboxCursor
from award.textclean import fit_key

log = logging.getLogger(__name__)

OPINION_TOKEN = re.compile(r"YJ-\d{4}-[a-z0-9_]+-[0-9a-f]{6}")
PROCESSED_FOLDER = "processed"
ARCHIVED_FLAG = "$Archived"
BATCH = 50
BATCH_BYTES = 64 * 1024 * 1024  # a batch is also committed once it holds this many raw bytes (memory)

Classifier = Callable[[str, str], str]  # (sender, subject) -> an InboundPurpose


class SourceError(RuntimeError):
    """A mail source cannot be read (connection, login or folder problem); names the source."""


@dataclass(frozen=True)
class MailItem:
    """One raw message read from a source, not yet marked as taken."""

    source_key: str
    data: bytes
    handle: Any  # the source's own reference (Maildir key, IMAP UID)
    delivered_at: datetime | None = None  # arrival in the mailbox (Maildir file time, IMAP INTERNALDATE)


class MailSource(Protocol):
    """What ``fetch_mail`` needs from a mailbox."""

    name: str

    @property
    def channel(self) -> SourceChannel:
        """The mailbox's backend (a ``SourceChannel``), recorded on every item read from it."""
        ...

    def messages(self, session: Session) -> Iterator[MailItem]: ...
    def advance(self, session: Session, items: list[MailItem]) -> None: ...
    def mark_processed(self, items: list[MailItem]) -> None: ...
    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------ classification


def header_summary(data: bytes) -> tuple[str, str]:
    """(sender address, subject) of a raw message, decoded; ("", "") when the headers are unreadable."""
    try:
        msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(data[:_header_end(data)])
        _name, addr = sender_display(msg)
        subject = decode_words(_raw_header(msg, "Subject") or "").strip()
    except Exception:  # noqa: BLE001 - the message is archived anyway; parsing problems surface later
        return "", ""
    return addr.lower(), subject


def _header_end(data: bytes) -> int:
    """Offset just past the blank line ending the header block (the whole message when there is none).

    The header parser reads no further than that line anyway, but it would split the whole body into lines.
    """
    ends = [i + len(sep) for sep in (b"\n\n", b"\n\r\n") if (i := data.find(sep)) >= 0]
    return min(ends) if ends else len(data)


def purpose_classifier(season: Season, default: InboundPurpose = InboundPurpose.APPLICATION) -> Classifier:
    """Classifier tagging department replies ``opinion`` (by sender or subject token), else ``default``."""
    departments = {str(d.email).lower() for d in season.departments}

    def classify(sender: str, subject: str) -> InboundPurpose:
        if sender.lower() in departments or OPINION_TOKEN.search(subject or ""):
            return InboundPurpose.OPINION
        return default

    return classify


# ------------------------------------------------------------------------------------------ Maildir


_MAILDIR_KEY = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.")


def maildir_order(key: str) -> tuple[int, int, int, str]:
    """Arrival order of a Maildir key. Python's mailbox writes ``<sec>.M<usec>P<pid>Q<n>.<host>`` with the
    microseconds unpadded, so sorting keys as text puts ``M99999`` after ``M100000``; other writers' keys sort
    by their leading seconds, then as text."""
    found = _MAILDIR_KEY.match(key)
    if found:
        return int(found.group(1)), int(found.group(2)), int(found.group(4)), key
    head = key.split(".", 1)[0]
    return (int(head) if head.isdigit() else 0), 0, 0, key


class MaildirSource:
    """A Maildir folder (``<root>/<folder>``); taken messages move to ``<root>/<folder>/.processed``."""

    channel = SourceChannel.MAILDIR

    def __init__(self, root: str | Path, folder: str = "office") -> None:
        self.root = Path(root)
        self.folder = folder
        self.name = f"maildir:{folder}"
        self.path = self.root / folder
        # The folders are made here with exist_ok: mailbox's own create=True / add_folder race (FileExistsError)
        # when two runs start at once on a new mailbox.
        processed = self.path / f".{PROCESSED_FOLDER}"
        for folder_path in (self.path, processed):
            for sub in ("tmp", "new", "cur"):
                (folder_path / sub).mkdir(parents=True, exist_ok=True)
        (processed / "maildirfolder").touch(exist_ok=True)
        self.box = mailbox.Maildir(str(self.path), factory=None, create=False)
        self.processed = self.box.get_folder(PROCESSED_FOLDER)

    def messages(self, session: Session) -> Iterator[MailItem]:
        for key in sorted(self.box.keys(), key=maildir_order):
            try:
                data = self.box.get_bytes(key)
                delivered = os.stat(Path(self.box._path) / self.box._lookup(key)).st_mtime  # type: ignore[attr-defined]  # noqa: SLF001 - Maildir's private API
            except (KeyError, FileNotFoundError):  # taken by a concurrent run meanwhile
                continue
            yield MailItem(f"maildir:{self.folder}:{key}", data, key, datetime.fromtimestamp(delivered, TZ))

    def advance(self, session: Session, items: list[MailItem]) -> None:
        """Nothing to record: a taken message leaves the folder."""

    def mark_processed(self, items: list[MailItem]) -> None:
        target = Path(self.processed._path) / "cur"  # noqa: SLF001 - mailbox has no public path API
        for item in items:
            try:
                rel = self.box._lookup(item.handle)  # type: ignore[attr-defined]  # noqa: SLF001 - Maildir's private API
            except KeyError:
                continue
            try:
                os.replace(Path(self.box._path) / rel, target / f"{item.handle}:2,S")  # noqa: SLF001
            except FileNotFoundError:  # a concurrent run moved it first
                continue
        self.box._refresh()  # type: ignore[attr-defined]  # noqa: SLF001 - Maildir's private API

    def close(self) -> None:
        self.box.close()


# ------------------------------------------------------------------------------------------ IMAP


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapSource:
    """An IMAP folder read by UID above a stored cursor; taken messages are flagged and moved, never deleted."""

    channel = SourceChannel.IMAP

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.mailbox_id = f"{settings.user}@{settings.host}"
        self.name = f"imap:{self.mailbox_id}:{settings.folder}"
        self.uidvalidity = 0
        self.capabilities: set[str] = set()
        self.conn = self._connect()

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        try:
            if s.use_ssl:
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    s.host, s.port, ssl_context=ssl.create_default_context(), timeout=s.timeout
                )
            else:
                conn = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
                if s.starttls:
                    conn.starttls(ssl.create_default_context())
            conn.login(s.user, s.password)
            typ, caps = conn.capability()  # servers list more capabilities (MOVE) after login
            self.capabilities = set((caps[0] or b"").decode("ascii", "replace").upper().split()) if typ == "OK" else set()
            typ, data = conn.select(_quote(s.folder))
            if typ != "OK":
                raise SourceError(f"{self.name}: cannot select folder: {data!r}")
            typ, data = conn.response("UIDVALIDITY")
            if not data or data[0] is None:
                typ, data = conn.status(_quote(s.folder), "(UIDVALIDITY)")
                match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
                self.uidvalidity = int(match.group(1)) if match else 0
            else:
                self.uidvalidity = int(data[0])
            conn.create(_quote(s.processed_folder))  # NO when it exists: fine
        except (OSError, imaplib.IMAP4.error) as exc:
            raise SourceError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        return conn

    def _cursor(self, session: Session) -> MailboxCursor:
        cur = session.scalar(
            select(MailboxCursor).where(
                MailboxCursor.mailbox == self.mailbox_id, MailboxCursor.folder == self.settings.folder
            )
        )
        if cur is None:
            cur = MailboxCursor(mailbox=self.mailbox_id, folder=self.settings.folder, uidvalidity=self.uidvalidity,
                                last_uid=0)
            session.add(cur)
            session.flush()
        elif cur.uidvalidity != self.uidvalidity:
            log.warning("%s: UIDVALIDITY changed (%s -> %s); reading the folder again", self.name,
                        cur.uidvalidity, self.uidvalidity)
            cur.uidvalidity = self.uidvalidity
            cur.last_uid = 0
        return cur

    def _has_move(self) -> bool:
        return "MOVE" in self.capabilities or "MOVE" in self.conn.capabilities

    def finish_taken(self, last: int) -> list[int]:
        """Flag and move what a run archived but could not move (the server died after the commit).

        The cursor advances in the same commit as the archive, so a message still in the folder with a UID at or
        below it was taken already. Without MOVE the originals stay, flagged after their copy: only unflagged ones
        are copied. Returns the UIDs finished now.
        """
        if last <= 0:
            return []
        query = f"UID 1:{last}" if self._has_move() else f"UID 1:{last} UNKEYWORD {ARCHIVED_FLAG}"
        typ, data = self.conn.uid("SEARCH", query)
        if typ != "OK":
            raise SourceError(f"{self.name}: UID SEARCH failed: {data!r}")
        uids = sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u <= last)
        if uids:
            log.warning("%s: %d message(s) archived by an earlier run were still in the folder: moving them now",
                        self.name, len(uids))
            self.mark_processed([MailItem("", b"", uid) for uid in uids])
        return uids

    def messages(self, session: Session) -> Iterator[MailItem]:
        last = self._cursor(session).last_uid
        self.finish_taken(last)
        typ, data = self.conn.uid("SEARCH", f"UID {last + 1}:*")
        if typ != "OK":
            raise SourceError(f"{self.name}: UID SEARCH failed: {data!r}")
        uids = sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u > last)
        for uid in uids:
            typ, fetched = self.conn.uid("FETCH", str(uid), "(INTERNALDATE BODY.PEEK[])")
            part = next((p for p in fetched if isinstance(p, tuple)), None) if typ == "OK" else None
            if part is None:
                log.warning("%s: UID %s vanished before it was read", self.name, uid)
                continue
            stamp = imaplib.Internaldate2tuple(part[0])
            delivered = datetime.fromtimestamp(time.mktime(stamp), TZ) if stamp else None
            yield MailItem(f"imap:{self.mailbox_id}:{self.settings.folder}:{self.uidvalidity}:{uid}", part[1], uid,
                           delivered)

    def advance(self, session: Session, items: list[MailItem]) -> None:
        if items:
            cur = self._cursor(session)
            cur.last_uid = max(cur.last_uid, *(int(i.handle) for i in items))

    def mark_processed(self, items: list[MailItem]) -> None:
        if not items:
            return
        uids = ",".join(str(i.handle) for i in items)
        target = _quote(self.settings.processed_folder)
        if self._has_move():  # flagged, then moved with its flags
            self.conn.uid("STORE", uids, "+FLAGS", f"(\\Seen {ARCHIVED_FLAG})")
            typ, data = self.conn.uid("MOVE", uids, target)
        else:  # copied, then flagged: a flagged original has its copy (``finish_taken`` relies on it)
            typ, data = self.conn.uid("COPY", uids, target)
            if typ == "OK":
                self.conn.uid("STORE", uids, "+FLAGS", f"(\\Seen {ARCHIVED_FLAG})")
        if typ != "OK":
            log.warning("%s: could not move UIDs to %s: %r (the next run tries again)", self.name, target, data)

    def close(self) -> None:
        try:
            self.conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


# ------------------------------------------------------------------------------------------ entry points


@dataclass(frozen=True)
class _ToArchive:
    source_key: str
    data: bytes
    purpose: str  # an InboundPurpose
    filename: str | None = None
    sender: str | None = None
    subject: str | None = None
    delivered_at: datetime | None = None

    def received_at(self, at: datetime) -> datetime:
        """When it was received: its arrival in the mailbox when known (never later than ``at``)."""
        return min(at, self.delivered_at) if self.delivered_at is not None else at


def archive_batch(session: Session, rt: Runtime, channel: SourceChannel, entries: list[_ToArchive]) -> list[int]:
    """Archive several objects; returns the ids of the InboundItems created.

    Every external text is normalised first (``award.inbound.archive.item_texts``: control characters removed, capped to
    its column; a too long source key keeps a hash of the whole). Fast path: blobs first, then all rows in one
    savepoint and one flush (the same rows ``archive_inbound`` writes). If that fails (a (channel, source_key)
    that exists already, from a concurrent run or a message archived before a crash; or any other database
    error), the savepoint is rolled back and each entry goes through ``archive_inbound`` in its own savepoint.
    An entry that still fails is quarantined (``quarantine``): recorded with its reason, and the batch goes on.
    """
    if not entries:
        return []
    rows: list[dict[str, Any]] = []
    at = now()
    try:
        with session.begin_nested():
            for e in entries:
                ref = rt.blobs.put_bytes(e.data)  # the bytes are safe before the row exists
                rows.append(dict(
                    season=rt.season.season_id, channel=channel, source_key=fit_key(InboundItem.source_key, e.source_key),
                    purpose=e.purpose, sha256=ref.sha256, size=ref.size, storage_uri=ref.uri, status=InboundStatus.ARCHIVED,
                    received_at=e.received_at(at), application_id=None,
                    **{"problem": None, **archive.item_texts(filename=e.filename, sender=e.sender, subject=e.subject)},
                ))
            # one executemany (ORM objects would be INSERTed ... RETURNING row by row on SQLite), then the ids
            session.execute(insert(InboundItem), rows)
            keys = [r["source_key"] for r in rows]
            ids = {key: item_id for key, item_id in session.execute(select(InboundItem.source_key, InboundItem.id).where(
                InboundItem.channel == channel, InboundItem.source_key.in_(keys)))}
        return [ids[k] for k in keys]
    except SQLAlchemyError as exc:
        log.info("%s: batch of %d not archived at once (%s); one by one", channel, len(entries), type(exc).__name__)
    created = []
    for e in entries:
        try:
            with session.begin_nested():
                archived = archive.archive_inbound(
                    session, rt.blobs, season=rt.season.season_id, channel=channel, source_key=e.source_key,
                    data=e.data, purpose=e.purpose, filename=e.filename, sender=e.sender, subject=e.subject,
                    received_at=e.received_at(at),
                )
        except SQLAlchemyError as exc:
            created.append(quarantine(session, rt, channel, e, exc, at))
            continue
        if archived.created:
            created.append(archived.item.id)
    return created


def quarantine(session: Session, rt: Runtime, channel: SourceChannel, entry: _ToArchive, exc: Exception,
               at: datetime) -> int:
    """Record an object whose row could not be written: the raw bytes are archived, the row keeps only what
    cannot fail (no sender, subject or file name) with status ``quarantined`` and the reason; intake skips it and
    staff see it. The error class only is logged (its parameters may hold personal data)."""
    log.error("%s: object quarantined (%s)", channel, type(exc).__name__)
    ref = rt.blobs.put_bytes(entry.data)
    item = InboundItem(
        season=rt.season.season_id, channel=channel, purpose=entry.purpose, sha256=ref.sha256, size=ref.size,
        source_key=fit_key(InboundItem.source_key, entry.source_key), storage_uri=ref.uri, status=InboundStatus.QUARANTINED,
        problem=f"quarantined: {type(exc).__name__}", received_at=entry.received_at(at),
    )
    with session.begin_nested():
        session.add(item)
        session.flush()
    return item.id


def fetch_mail(
    session: Session,
    rt: Runtime,
    source: MailSource,
    classify: Classifier | None = None,
    *,
    purpose: str | None = None,
    limit: int | None = None,
) -> list[int]:
    """Archive every new message of ``source``; return the ids of the InboundItems created.

    ``purpose`` forces one purpose (e.g. ``"objection"``); otherwise ``classify(sender, subject)`` decides
    (default: ``purpose_classifier(rt.season)``). Commits every ``BATCH`` messages, then marks them taken.
    """
    if purpose is None and classify is None:
        classify = purpose_classifier(rt.season)
    created: list[int] = []
    batch: list[MailItem] = []
    entries: list[_ToArchive] = []

    def flush() -> None:
        created.extend(archive_batch(session, rt, source.channel, entries))
        source.advance(session, batch)
        session.commit()
        source.mark_processed(batch)
        batch.clear()
        entries.clear()

    for n, item in enumerate(source.messages(session), start=1):
        sender, subject = header_summary(item.data)
        item_purpose = purpose or (classify(sender, subject) if classify else InboundPurpose.APPLICATION)
        entries.append(_ToArchive(item.source_key, item.data, item_purpose, None, sender or None, subject or None,
                                  item.delivered_at))
        batch.append(item)
        if len(batch) >= BATCH or sum(len(e.data) for e in entries) >= BATCH_BYTES:
            flush()
        if limit is not None and n >= limit:
            break
    flush()
    return created


def fetch_storage(
    session: Session,
    rt: Runtime,
    prefix: str = "incoming/",
    *,
    purpose: str = InboundPurpose.APPLICATION,
    channel: SourceChannel | None = None,
) -> list[int]:
    """Archive every object under ``prefix`` not yet taken in its current version; return new item ids."""
    channel = channel or rt.shared.channel
    objects = rt.shared.list(prefix)
    keys = [fit_key(InboundItem.source_key, f"{o.key}@{o.etag}") for o in objects]
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        known.update(session.scalars(
            select(InboundItem.source_key).where(
                InboundItem.channel == channel, InboundItem.source_key.in_(keys[start:start + 500])
            )
        ))
    created: list[int] = []
    entries: list[_ToArchive] = []
    for obj, key in zip(objects, keys, strict=True):
        if key in known:
            continue
        entries.append(_ToArchive(key, rt.shared.read(obj.key), purpose, obj.key))
        if len(entries) >= BATCH or sum(len(e.data) for e in entries) >= BATCH_BYTES:
            created.extend(archive_batch(session, rt, channel, entries))
            session.commit()
            entries.clear()
    created.extend(archive_batch(session, rt, channel, entries))
    session.commit()
    return created


# The InboundItem channels of the mailboxes (``award.storage.registry.STORAGE_CHANNELS``: those of shared storage).
MAIL_CHANNELS: tuple[SourceChannel, ...] = (MaildirSource.channel, ImapSource.channel)


def mail_source_from_env(folder: str = "office", imap: ImapSettings | None = None) -> MailSource:
    """The mailbox named by ``AWARD_MAIL_SOURCE`` (``maildir``, the default, or ``imap`` with ``imap`` settings)."""
    kind = os.environ.get("AWARD_MAIL_SOURCE", "maildir").strip().lower()
    if kind == "imap":
        if imap is None:
            raise SourceError(f"AWARD_MAIL_SOURCE=imap needs IMAP settings (the {IMAP_CONN_ID} connection)")
        return ImapSource(imap)
    if kind != "maildir":
        raise SourceError(f"AWARD_MAIL_SOURCE: unknown source {kind!r} (expected maildir or imap)")
    return MaildirSource(maildir(), folder)

"""Cheap checks for arrivals that intake has not taken yet (the domain side of the event-driven intake watcher).

The triggerer's watcher (``plugins/arrivals_trigger.py``) asks a probe, again and again, "what is waiting?" and
fires when something waiting was not announced before. What is waiting is read from the sources and the store, never
from memory kept in the watcher, so a restarted triggerer announces again whatever is still waiting: nothing is lost.
An extra announcement costs one extra intake run, which takes nothing twice (items are keyed by source).

* ``MaildirProbe``: the names in ``new/`` and ``cur/`` of the mailbox folder (intake moves taken messages into
  ``.processed``): two directory listings.
* ``StorageProbe``: the ``key@etag`` of every object under the intake prefix (a folder walk or one S3 listing)
  minus the source keys already archived (one indexed query).
* ``ImapProbe``: ``STATUS (UIDNEXT UIDVALIDITY)`` against the stored cursor (``MailboxCursor``); where the server
  offers IDLE, ``wait`` blocks in IDLE until the server pushes a change (or the timeout), otherwise the watcher polls.

No Airflow here: the trigger builds a probe from its connections and runs ``ArrivalWatch.check`` in a thread.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from sqlalchemy import select

from award.connections import ImapSettings
from award.storage.shared import SharedStorage
from award.store.db import session_scope
from award.store.models import InboundItem, MailboxCursor

log = logging.getLogger(__name__)

IDLE_RENEW_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes


class Probe(Protocol):
    """What is waiting in one source, identified by keys that stay the same until intake takes the item."""

    name: str
    push: bool  # True: ``wait`` returns when the source changes (IMAP IDLE); False: the watcher polls

    def waiting(self) -> frozenset[str]: ...
    def wait(self, timeout: float) -> bool: ...
    def close(self) -> None: ...


class ArrivalWatch:
    """Announces each waiting item once per watcher life.

    ``settle=True`` announces an item only once two probes in a row saw it unchanged (a city still copying a large
    file into a folder changes its size/mtime ETag between probes).
    """

    def __init__(self, probe: Probe, *, settle: bool = False) -> None:
        self.probe = probe
        self.settle = settle
        self.announced: frozenset[str] = frozenset()
        self._previous: frozenset[str] = frozenset()

    def check(self) -> frozenset[str]:
        """The waiting keys not announced before (all that wait, at the first check)."""
        waiting = self.probe.waiting()
        ready = waiting & self._previous if self.settle else waiting
        self._previous = waiting
        new = ready - self.announced
        self.announced = (self.announced & waiting) | ready  # forget what intake took
        return new


# ------------------------------------------------------------------------------------------ Maildir


class MaildirProbe:
    """A Maildir folder: every message in ``new/`` or ``cur/`` is waiting (taken ones move to ``.processed``)."""

    push = False

    def __init__(self, root: str | Path, folder: str = "office") -> None:
        self.path = Path(root) / folder
        self.name = f"maildir:{folder}"

    def waiting(self) -> frozenset[str]:
        names: set[str] = set()
        for sub in ("new", "cur"):
            try:
                names.update(n.split(":", 1)[0] for n in os.listdir(self.path / sub) if not n.startswith("."))
            except FileNotFoundError:
                continue
        return frozenset(f"{self.name}:{n}" for n in names)

    def wait(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        """Nothing to release."""


# ------------------------------------------------------------------------------------------ shared storage


class StorageProbe:
    """Objects under ``prefix`` in shared storage whose current version (``key@etag``) is not archived yet."""

    push = False

    def __init__(self, storage: SharedStorage, db_url: str, prefix: str = "incoming/") -> None:
        self.storage = storage
        self.db_url = db_url
        self.prefix = prefix
        self.channel = storage.channel
        self.name = f"{self.channel}:{prefix}"

    def waiting(self) -> frozenset[str]:
        keys = [f"{o.key}@{o.etag}" for o in self.storage.list(self.prefix)]
        if not keys:
            return frozenset()
        known: set[str] = set()
        with session_scope(self.db_url) as session:
            for start in range(0, len(keys), 500):
                known.update(session.scalars(select(InboundItem.source_key).where(
                    InboundItem.channel == self.channel, InboundItem.source_key.in_(keys[start:start + 500]))))
        return frozenset(k for k in keys if k not in known)

    def wait(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        """Nothing to release."""


# ------------------------------------------------------------------------------------------ IMAP


def _mailbox_factory(settings: ImapSettings) -> Any:
    """An unconnected-then-connected imap_tools mailbox for ``settings`` (TLS, STARTTLS or plain)."""
    if settings.use_ssl:
        return MailBox(settings.host, settings.port, timeout=settings.timeout,
                       ssl_context=ssl.create_default_context())
    if settings.starttls:
        return MailBoxStartTls(settings.host, settings.port, timeout=settings.timeout,
                               ssl_context=ssl.create_default_context())
    return MailBoxUnencrypted(settings.host, settings.port, timeout=settings.timeout)


def _buffered(box: Any) -> bool:
    """Whether imaplib's reader holds unread server lines (peeked without blocking)."""
    sock = box.client.sock
    old = sock.gettimeout()
    sock.settimeout(0)
    try:
        return bool(box.client.file.peek(1))
    except (BlockingIOError, OSError):
        return False
    finally:
        sock.settimeout(old)


class ImapProbe:
    """An IMAP folder: waiting when ``UIDNEXT - 1`` is above the stored cursor, or UIDVALIDITY changed.

    ``idle=True`` uses IDLE when the server lists it (``push`` tells the watcher); otherwise a ``STATUS`` poll.
    One connection is kept open between probes and reopened after an error.
    """

    def __init__(self, settings: ImapSettings, db_url: str, *, idle: bool = True,
                 connect: Callable[[ImapSettings], Any] = _mailbox_factory) -> None:
        self.settings = settings
        self.db_url = db_url
        self.mailbox_id = f"{settings.user}@{settings.host}"
        self.name = f"imap:{self.mailbox_id}:{settings.folder}"
        self._connect = connect
        self._box: Any = None
        self.push = False
        self._want_idle = idle
        self._open()

    def _open(self) -> Any:
        if self._box is None:
            box = self._connect(self.settings)
            box.login(self.settings.user, self.settings.password, initial_folder=None)
            self.push = self._want_idle and "IDLE" in {c.upper() for c in box.client.capabilities}
            if self.push:  # IDLE reports changes of the selected folder
                box.folder.set(self.settings.folder)
            self._box = box
        return self._box

    def status(self) -> tuple[int, int]:
        """(UIDVALIDITY, UIDNEXT) of the folder."""
        try:
            box = self._open()
            if self.push:  # STATUS of the selected folder is as of the last sync (RFC 3501 6.3.10): sync first
                box.client.noop()
            st = box.folder.status(self.settings.folder, ["UIDNEXT", "UIDVALIDITY"])
        except Exception:
            self._drop()
            raise
        return int(st["UIDVALIDITY"]), int(st["UIDNEXT"])

    def waiting(self) -> frozenset[str]:
        uidvalidity, uidnext = self.status()
        with session_scope(self.db_url) as session:
            cur = session.scalar(select(MailboxCursor).where(
                MailboxCursor.mailbox == self.mailbox_id, MailboxCursor.folder == self.settings.folder))
            last = (cur.last_uid if cur.uidvalidity == uidvalidity else 0) if cur is not None else 0
        if uidnext - 1 > last:
            return frozenset({f"imap:{self.mailbox_id}:{self.settings.folder}:{uidvalidity}:{uidnext - 1}"})
        return frozenset()

    def wait(self, timeout: float) -> bool:
        """Block in IDLE until the server reports a change (True) or ``timeout`` passes (False)."""
        if not self.push:
            return False
        try:
            box = self._open()
            box.client.untagged_responses.clear()
            box.idle.start()
            # A change since the last probe is reported as IDLE starts: imaplib may have kept it as an untagged
            # response, or already buffered the line after "+ idling" (then the socket itself has nothing to poll).
            pending = any(box.client.untagged_responses.get(k) for k in ("EXISTS", "RECENT")) or _buffered(box)
            responses = [] if pending else box.idle.poll(timeout=min(timeout, IDLE_RENEW_SECONDS))
            box.idle.stop()
        except Exception:
            self._drop()
            raise
        return bool(pending or responses)

    def _drop(self) -> None:
        box, self._box = self._box, None
        if box is None:
            return
        try:
            box.client.shutdown()
        except Exception:  # noqa: BLE001, S110 - the connection is being thrown away
            pass

    def close(self) -> None:
        """Close the connection; a thread blocked in ``wait`` returns at once."""
        box = self._box
        if box is not None:
            try:
                box.client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._drop()

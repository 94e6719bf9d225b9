"""The office's "Sent" folder over IMAP: did the mail server store an e-mail with this Message-ID?

The outbox asks it before it resends an e-mail whose outcome is unknown (a timeout after the data, a worker
killed mid-send). Configured by the ``sent_folder`` extra of the ``award_imap`` connection: the folder where the
mail server files the messages it accepted from the office (e.g. ``Sent`` or ``已发送``, as the server names it).
"""

from __future__ import annotations

import imaplib
import ssl
from typing import Any

from award.connections import ImapSettings
from award.inbound.sources import SourceError


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapSentFolder:
    """``contains(message_id)`` by ``UID SEARCH HEADER Message-ID`` in a folder opened read-only."""

    def __init__(self, settings: ImapSettings, folder: str | None = None) -> None:
        self.settings = settings
        self.folder = folder or settings.sent_folder or "Sent"
        self._conn: imaplib.IMAP4 | None = None

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        if s.use_ssl:
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=ssl.create_default_context(),
                                                    timeout=s.timeout)
        else:
            conn = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
            if s.starttls:
                conn.starttls(ssl.create_default_context())
        conn.login(s.user, s.password)
        typ, data = conn.select(_quote(self.folder), readonly=True)
        if typ != "OK":
            conn.logout()
            raise SourceError(f"sent folder {self.folder!r}: cannot select: {data!r}")
        return conn

    def contains(self, message_id: str) -> bool:
        """Whether a message with this Message-ID header is in the folder (raises when the server fails)."""
        if self._conn is None:
            self._conn = self._connect()
        else:
            self._conn.noop()  # sees messages filed since the folder was selected
        typ, data = self._conn.uid("SEARCH", "HEADER", "Message-ID", _quote(message_id.strip()))
        if typ != "OK":
            raise SourceError(f"sent folder {self.folder!r}: SEARCH failed: {data!r}")
        return bool((data[0] or b"").split())

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.logout()
            except (OSError, imaplib.IMAP4.error):
                pass
            self._conn = None

    def __enter__(self) -> ImapSentFolder:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

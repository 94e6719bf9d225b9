"""Every Airflow connection the pipeline reads, by id, and the one parser of each kind (no Airflow import here).

The DAG layer looks a connection up and hands it (or its plain values) to ``SmtpSettings`` / ``ImapSettings``; the
failure notice and the outbox both send through ``SmtpSettings``, so they honour the same extras. README.md lists
the connections ("Connections"). Imported at DAG-parse time: stdlib only.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

SMTP_CONN_ID = "smtp_default"  # outgoing mail: the outbox and the failure notice
IMAP_CONN_ID = "award_imap"  # the office mailbox (AWARD_MAIL_SOURCE=imap) and its sent folder
IMAP_OBJECTIONS_CONN_ID = "award_imap_objections"  # the objections mailbox during publicity
S3_CONN_ID = "award_s3"  # blob store and shared storage when their URLs are s3://
DB_CONN_ID = "award_db"  # the domain store, for operators' tools (the code reads AWARD_DB_URL)
CONNECTION_IDS = (SMTP_CONN_ID, IMAP_CONN_ID, IMAP_OBJECTIONS_CONN_ID, S3_CONN_ID, DB_CONN_ID)

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


class ConnectionFields(Protocol):
    """What the parsers read of a connection (an Airflow ``Connection`` has it): no Airflow import needed."""

    @property
    def host(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def login(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def extra_dejson(self) -> dict[str, Any]: ...


class ConnectionSettingsError(ValueError):
    """A connection's fields or extras cannot be read; names the connection and the field."""


def _extras(conn_id: str, extra: Mapping[str, Any] | str | None, known: Mapping[str, str]) -> dict[str, Any]:
    """The extras as a dict; a key not in ``known`` is an error naming it (and the nearest known key)."""
    if isinstance(extra, str):
        try:
            extra = json.loads(extra) if extra.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConnectionSettingsError(f"{conn_id}: extra is not JSON ({exc})") from exc
    values = dict(extra or {})
    if not isinstance(extra, Mapping | None) or not all(isinstance(k, str) for k in values):
        raise ConnectionSettingsError(f"{conn_id}: extra must be a JSON object")
    unknown = sorted(set(values) - set(known))
    if unknown:
        hints = [f"{key!r} (did you mean {near[0]!r}?)" if (near := difflib.get_close_matches(key, known, 1))
                 else repr(key) for key in unknown]
        raise ConnectionSettingsError(f"{conn_id}: unknown extra {', '.join(hints)}; known: {', '.join(known)}")
    return values


def flag(conn_id: str, key: str, value: Any, default: bool) -> bool:
    """A yes/no extra: JSON true/false, or the strings true/false, 1/0, yes/no, on/off (a URI's query string)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConnectionSettingsError(f"{conn_id}: extra {key!r} must be true or false, not {value!r}")


def number(conn_id: str, key: str, value: Any, default: float) -> float:
    """A positive number extra (seconds, a count)."""
    if value is None or value == "":
        return default
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ConnectionSettingsError(f"{conn_id}: extra {key!r} must be a number, not {value!r}") from None
    if result < 0:
        raise ConnectionSettingsError(f"{conn_id}: extra {key!r} must not be negative, not {value!r}")
    return result


def _port(conn_id: str, value: Any, default: int) -> int:
    if value in (None, "", 0):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConnectionSettingsError(f"{conn_id}: port must be a number, not {value!r}") from None


# ------------------------------------------------------------------------------------------ SMTP

SMTP_EXTRAS: dict[str, str] = {
    "from_email": "the sender address (default: the season's recommending unit)",
    "disable_ssl": "true: no implicit TLS (port 465); then STARTTLS unless disable_tls",
    "disable_tls": "true: no STARTTLS (with disable_ssl: plain SMTP, a local relay only)",
    "timeout": "seconds to wait for the server (default 30)",
    "retry_limit": "the failure notice's reconnect attempts (default 5; the outbox retries with its own backoff)",
    "ssl_context": "default (verify the server's certificate) or none (a self-signed test server)",
    "auth_type": "basic only (login and password)",
    "subject_template": "not used: the failure notice has its own texts",
    "html_content_template": "not used: the failure notice has its own texts",
}


@dataclass(frozen=True)
class SmtpSettings:
    """How to send mail: the ``smtp_default`` connection read once, for the outbox and the failure notice alike.

    TLS: implicit TLS (``ssl``, port 465) unless ``disable_ssl``; then STARTTLS unless ``disable_tls``; both
    disabled is plain SMTP (port 25). Never both TLS kinds at once.
    """

    host: str = "127.0.0.1"
    port: int = 465
    login: str | None = None
    password: str | None = None
    from_email: str | None = None
    ssl: bool = True
    starttls: bool = False
    timeout: float = 30
    retry_limit: int = 5
    verify_certificate: bool = True

    @classmethod
    def from_values(cls, host: str | None = None, port: Any = None, login: str | None = None,
                    password: str | None = None, extra: Mapping[str, Any] | str | None = None, *,
                    conn_id: str = SMTP_CONN_ID) -> SmtpSettings:
        """From a connection's plain fields and its extras (a dict or its JSON text)."""
        values = _extras(conn_id, extra, SMTP_EXTRAS)
        ssl = not flag(conn_id, "disable_ssl", values.get("disable_ssl"), False)
        starttls = not ssl and not flag(conn_id, "disable_tls", values.get("disable_tls"), False)
        context = str(values.get("ssl_context") or "default").strip().lower()
        if context not in ("default", "none"):
            raise ConnectionSettingsError(f"{conn_id}: extra 'ssl_context' must be default or none, not {context!r}")
        auth = str(values.get("auth_type") or "basic").strip().lower()
        if auth != "basic":
            raise ConnectionSettingsError(f"{conn_id}: extra 'auth_type' {auth!r} is not supported (basic only: "
                                          "the outbox logs in with the login and password)")
        return cls(
            host=host or "127.0.0.1",
            port=_port(conn_id, port, 465 if ssl else 25),
            login=login or None,
            password=password or None,
            from_email=str(values.get("from_email") or "").strip() or None,
            ssl=ssl,
            starttls=starttls,
            timeout=number(conn_id, "timeout", values.get("timeout"), 30),
            retry_limit=int(number(conn_id, "retry_limit", values.get("retry_limit"), 5)),
            verify_certificate=context == "default",
        )

    @classmethod
    def from_connection(cls, conn: ConnectionFields, *, conn_id: str = SMTP_CONN_ID) -> SmtpSettings:
        """From an Airflow Connection-like object (host, port, login, password, ``extra_dejson``)."""
        return cls.from_values(conn.host, conn.port, conn.login, conn.password, conn.extra_dejson, conn_id=conn_id)

    def sender(self, default: str) -> str:
        """The From address: the ``from_email`` extra, else ``default`` (the recommending unit's address)."""
        return self.from_email or default


# ------------------------------------------------------------------------------------------ IMAP

IMAP_EXTRAS: dict[str, str] = {
    "use_ssl": "false: no implicit TLS (port 143) (default true, port 993)",
    "starttls": "true: STARTTLS on a plain connection",
    "folder": "the folder read (default INBOX)",
    "processed_folder": "where taken messages are moved (default Processed)",
    "sent_folder": "where the server files what the office sent (the outbox looks there; default none)",
    "timeout": "seconds to wait for the server (default 60)",
}


@dataclass(frozen=True)
class ImapSettings:
    """How to reach an IMAP mailbox (the ``award_imap`` or ``award_imap_objections`` connection)."""

    host: str
    port: int = 993
    user: str = ""
    password: str = ""
    use_ssl: bool = True
    starttls: bool = False
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    timeout: float = 60
    sent_folder: str | None = None  # where the server files what the office sent (the outbox checks it)

    @classmethod
    def from_connection(cls, conn: ConnectionFields, *, conn_id: str = IMAP_CONN_ID) -> ImapSettings:
        """From an Airflow Connection-like object (host, port, login, password, ``extra_dejson``)."""
        extra = _extras(conn_id, conn.extra_dejson, IMAP_EXTRAS)
        use_ssl = flag(conn_id, "use_ssl", extra.get("use_ssl"), True)
        return cls(
            host=conn.host or "127.0.0.1",
            port=_port(conn_id, conn.port, 993 if use_ssl else 143),
            user=conn.login or "",
            password=conn.password or "",
            use_ssl=use_ssl,
            starttls=flag(conn_id, "starttls", extra.get("starttls"), False),
            folder=extra.get("folder", "INBOX"),
            processed_folder=extra.get("processed_folder", "Processed"),
            timeout=number(conn_id, "timeout", extra.get("timeout"), 60),
            sent_folder=extra.get("sent_folder") or None,
        )

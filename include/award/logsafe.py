"""Log records of the domain package never carry personal data.

``install()`` (run when ``award`` is imported) wraps the logging record factory: every record from a logger named
``award.*`` or ``sqlalchemy.*`` gets its message and its traceback (moved into the message) masked with
``identity.mask_pii_text`` (ID numbers, phones, e-mail addresses). The engines also run with
``hide_parameters=True`` (store/db.py), so SQL errors carry no bound values; the masking catches what a database
puts into its own error text (PostgreSQL's ``DETAIL: Key (key)=(...)``). Records of other loggers are untouched.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

PREFIXES = ("award", "sqlalchemy")
_installed = False


def _covered(name: str | None) -> bool:
    # logging.makeLogRecord (structlog's stdlib formatter in Airflow's processes) builds records with name None
    return isinstance(name, str) and any(name == p or name.startswith(p + ".") for p in PREFIXES)


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Mask personal data in a record's message and exception text (in place); returns the record."""
    from award.identity import mask_pii_text  # noqa: PLC0415 - `import award` runs at DAG parse time; identity is not in its parse-time set

    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string: leave it to logging's own error report
        return record
    if record.exc_info and record.exc_info[0] is not None:
        # the traceback goes into the message, masked: every formatter (stdlib, structlog) shows it as it is
        message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_info, record.exc_text = None, None
    record.msg, record.args = mask_pii_text(message), ()
    return record


def install() -> None:
    """Wrap the record factory once per process (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        return scrub(record) if _covered(record.name) else record

    logging.setLogRecordFactory(factory)
    _installed = True

"""Normalise text that comes from outside before it reaches the database.

PostgreSQL refuses a NUL character in any text and a value longer than its ``VARCHAR(n)``; SQLite accepts both,
which is why such input used to pass the tests and stop intake in production. Every external text (a header, a
file name, a path, a form value) goes through ``clean`` (control characters and lone surrogates removed) and, for
a column, ``fit`` (capped to the column's length). The original stays in the archived raw bytes.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

# C0 and C1 controls except tab/newline/carriage return, DEL, and lone surrogates (left by surrogateescape)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"\s*[\r\n\t]+\s*")


def clean(value: str | None, limit: int | None = None, *, single_line: bool = True) -> str | None:
    """``value`` without NUL/control characters or lone surrogates; line breaks become one space when
    ``single_line``; capped to ``limit`` characters. None stays None."""
    if value is None:
        return None
    text = _CONTROLS.sub("", str(value))
    if single_line:
        text = _LINE_BREAKS.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return text


def column_length(column: Any) -> int | None:
    """The declared length of a mapped String column (``Model.attr``), or None for unbounded text."""
    col = column.property.columns[0] if hasattr(column, "property") else column
    return getattr(col.type, "length", None)


def fit(column: Any, value: str | None, *, single_line: bool = True) -> str | None:
    """``clean(value)`` capped to the length of ``column`` (a mapped attribute such as ``InboundItem.sender``)."""
    return clean(value, column_length(column), single_line=single_line)


def fit_key(column: Any, value: str) -> str:
    """A unique key that fits ``column``: cleaned; a longer one keeps its start plus the SHA-256 of the whole,
    so the same original always gives the same key (idempotency) and two originals never collide."""
    text = clean(value) or ""
    limit = column_length(column)
    if limit is None or len(text) <= limit:
        return text
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{text[:limit - len(digest) - 1]}~{digest}"


def clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Form fields with every string value cleaned (multi-line kept); other values unchanged."""
    return {k: clean(v, single_line=False) if isinstance(v, str) else v for k, v in fields.items()}

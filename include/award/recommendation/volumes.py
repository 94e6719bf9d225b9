"""The mail volumes: the package's electronic files split into zips that each fit one mail under the season's
size limit (``national.attachment_limit_mb``), files never split, the loose letters counted in the first."""

from __future__ import annotations

MAIL_OVERHEAD_BYTES = 64 * 1024  # headers and body text of one mail


def mail_size(attachment_bytes: int) -> int:
    """The size of a mail carrying attachments of this total size (base64: 4/3, plus line ends and headers)."""
    return attachment_bytes * 4 // 3 + attachment_bytes // 38 + MAIL_OVERHEAD_BYTES


def attachment_budget(limit_mb: int) -> int:
    """The attachment bytes one mail may carry under the season's mail size limit."""
    limit = limit_mb * 1024 * 1024
    return max(1, (limit - MAIL_OVERHEAD_BYTES) * 38 * 3 // (38 * 4 + 3))


def _zip_entry_cost(path: str, size: int) -> int:
    return size + 200 + 2 * len(path.encode("utf-8"))


def plan_volumes(entries: list[tuple[str, int]], *, budget: int, first_extra: int = 0) -> list[list[str]]:
    """Split the electronic files (in order) into volumes that each fit one mail's ``budget``.

    ``first_extra`` is what the first mail carries besides its zip (the loose letters). Files are never split;
    a file larger than the budget gets a volume of its own (verification then names it).
    """
    volumes: list[list[str]] = [[]]
    used = first_extra + 22
    for path, size in entries:
        cost = _zip_entry_cost(path, size)
        if volumes[-1] and used + cost > budget:
            volumes.append([])
            used = 22
        volumes[-1].append(path)
        used += cost
    return volumes

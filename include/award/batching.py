"""Batches of ids for Airflow's dynamic task mapping: one mapped task per batch, never one per item.

Airflow refuses to map a task over more than ``[core] max_map_length`` items (1024 by default), so a planner's
list of batches must stay within it: ``chunk`` makes the batches larger when ``batch_size`` would need more.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_MAP_LENGTH = 1024  # Airflow's [core] max_map_length default


def chunk(ids: Iterable[int], batch_size: int, *, max_batches: int = MAX_MAP_LENGTH) -> list[list[int]]:
    """Split ``ids`` (order kept) into batches of ``batch_size``; at most ``max_batches`` batches.

    When ``batch_size`` would need more than ``max_batches`` batches, every batch grows to
    ``ceil(len(ids) / max_batches)`` ids instead, so the mapped task never exceeds Airflow's limit.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if max_batches < 1:
        raise ValueError(f"max_batches must be at least 1, got {max_batches}")
    items = [int(i) for i in ids]
    size = max(batch_size, -(-len(items) // max_batches))
    return [items[start:start + size] for start in range(0, len(items), size)]

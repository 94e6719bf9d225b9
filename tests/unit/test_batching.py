"""Batches for dynamic task mapping: in order, of the asked size, never more than max_map_length of them."""

from __future__ import annotations

import pytest

from award.batching import MAX_MAP_LENGTH, chunk


def test_chunks_in_order_with_a_short_last_batch() -> None:
    assert chunk(range(1, 8), 3) == [[1, 2, 3], [4, 5, 6], [7]]
    assert chunk([5, 9], 200) == [[5, 9]]
    assert chunk([], 50) == []


def test_batches_grow_rather_than_exceed_the_map_limit() -> None:
    assert MAX_MAP_LENGTH == 1024
    assert len(chunk(range(200 * 1024), 200)) == 1024  # 204,800 applications still fit at 200 a batch
    batches = chunk(range(200 * 1024 + 1), 200)
    assert len(batches) <= 1024 and {len(b) for b in batches[:-1]} == {201}
    assert [i for b in batches for i in b] == list(range(200 * 1024 + 1))
    assert chunk(range(10), 2, max_batches=3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize("size,limit", [(0, 10), (5, 0)])
def test_bad_sizes_are_refused(size: int, limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        chunk([1, 2], size, max_batches=limit)

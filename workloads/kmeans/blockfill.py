"""A partition built from a ``make`` that writes its blocks into given arrays
(``BlockMaker.fill`` for generated blobs, ``readrows.ReadBlocks.fill`` for the user's
data): every block written straight into the partition's rows, float32 copy and norms,
with its statistics, in one pass; blocks in parallel threads when the worker has several.

Such a ``make`` has ``fill(block_id, x, pieces)``, ``n_features`` and
``block_rows(block_id)`` (the rows of a block, known before it is made; None where only
making it tells, and then the partition concatenates what ``make(i)`` returns instead).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any


def fills(make: Any, block_ids: list[int]) -> bool:
    """Whether the partition of ``block_ids`` can be filled by ``make`` (see above)."""
    if not block_ids or not all(hasattr(make, a) for a in ("fill", "block_rows", "n_features")):
        return False
    return all(make.block_rows(b) is not None for b in block_ids)


def fill_partition(
    part: Any, keep: bool, segment_bounds: Callable[[int], list[tuple[int, int]]], threads: int
) -> list[tuple[int, Any, Any, float]]:
    """``part``'s blocks (a ``partitions.Partition``) written by ``part.make.fill``: into
    ``part.x`` and its segments (rows split by ``segment_bounds``) when ``keep``, else each
    into a scratch block, for its statistics only; in up to ``threads`` threads. The
    blocks' (rows, mean, m2, sum of squares)."""
    import numpy as np
    import scalecloud.workloads.kmeans.blobs as blobs
    import scalecloud.workloads.kmeans.lloyd as lloydkernel

    make, ids = part.make, part.block_ids
    d = make.n_features
    sizes = [int(make.block_rows(b)) for b in ids]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
    n = starts[-1]
    if keep:
        part.x = blobs.allocate((n, d), np.float64)
        if lloydkernel.available(d):
            part.segments = [
                (a, b, (blobs.allocate((d, b - a), np.float32), blobs.allocate(b - a, np.float32)))
                for a, b in segment_bounds(n)
            ]

    scratch = threading.local()  # without keep: one block's rows per thread, reused

    def one(position: int) -> tuple[int, Any, Any, float]:
        first, rows = starts[position], sizes[position]
        if not keep:
            if getattr(scratch, "x", None) is None or len(scratch.x) < rows:
                scratch.x = np.empty((rows, d))
            return (rows, *make.fill(ids[position], scratch.x[:rows]))
        pieces = [
            (xt, norms, first - a, max(a, first) - first, min(b, first + rows) - first)
            for a, b, (xt, norms) in part.segments or []
            if a < first + rows and b > first
        ]
        return (rows, *make.fill(ids[position], part.x[first : first + rows], pieces))

    threads = min(threads, len(ids))
    if threads == 1:
        return [one(p) for p in range(len(ids))]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(len(ids))))


def prepared_blocks(make: Any, block_ids: list[int]) -> Iterator[tuple[Any, Any]]:
    """Each block made again with what the fused kernel reads besides its rows, in one
    pass, into the same arrays for every block: each is valid until the next is asked
    for."""
    import numpy as np

    d = make.n_features
    buffers: dict[int, tuple[Any, Any, Any]] = {}  # by rows: blocks of a size share them
    for block_id in block_ids:
        rows = int(make.block_rows(block_id))
        if rows not in buffers:
            buffers[rows] = (np.empty((rows, d)), np.empty((d, rows), np.float32),
                             np.empty(rows, np.float32))  # fmt: skip
        x, xt, norms = buffers[rows]
        make.fill(block_id, x, [(xt, norms, 0, 0, rows)])
        yield x, (xt, norms)

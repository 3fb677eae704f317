"""The partitions of scalecloud's distributed KMeans: one worker's rows, and what runs on
them where they live.

A :class:`Partition` holds the rows of its share of the blocks, concatenated, in memory,
or only the block ids when the rows are regenerated in every pass. A Lloyd pass on it
(:func:`lloyd_pass`) labels every row and returns the per-cluster sums and counts: with
the fused kernel of ``lloydkernel`` (``PassState`` keeps its bounds between passes) for
data with few features, else scikit-learn's compiled Lloyd kernel. The labels stay on
the worker.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

CHUNK_ROWS = 32_768


class Partition:
    """One worker's rows: in memory (``x``) or regenerated from their blocks in each pass."""

    def __init__(self, make: Callable[[int], Any], block_ids: list[int], keep: bool) -> None:
        import scalecloud.workloads.kmeans.blockfill as blockfill
        import scalecloud.workloads.kmeans.lloyd as lloydkernel

        self.make = make
        self.block_ids = block_ids
        self.x: Any = None
        # What the fused kernel reads besides the rows (their float32 feature-major copy
        # and norms), one segment per thread: (start, stop, prepared). None when the kernel
        # does not apply or the rows are regenerated.
        self.segments: list[tuple[int, int, Any]] | None = None
        # The fused kernel's state between passes (``PassState``).
        self.state: Any = None
        # Labels of the last pass and a spare buffer, swapped each pass (state on the worker).
        self.labels: Any = None
        self._spare: Any = None
        self._ones: Any = None
        if blockfill.fills(make, block_ids):
            stats = blockfill.fill_partition(self, keep, segment_bounds, worker_threads())
        else:
            stats = self._concatenate(keep)
        n, xx = 0, 0.0
        mean: Any = None
        m2: Any = None
        for b_n, b_mean, b_m2, b_xx in stats:
            # Chan et al.'s pairwise update keeps the variance exact enough for tol.
            if mean is None:
                mean, m2 = b_mean, b_m2
            else:
                delta = b_mean - mean
                mean = mean + delta * b_n / (n + b_n)
                m2 = m2 + b_m2 + delta**2 * n * b_n / (n + b_n)
            n += b_n
            xx += b_xx
        self.n, self.mean, self.m2, self.xx = n, mean, m2, xx
        d = 0 if mean is None else len(mean)
        if keep and self.segments is None and lloydkernel.available(d):
            x: Any = self.x  # set by _concatenate
            self.segments = [(a, b, lloydkernel.prepare(x[a:b])) for a, b in segment_bounds(n)]

    def _concatenate(self, keep: bool) -> list[tuple[int, Any, Any, float]]:
        """Any ``make``: its blocks generated, their statistics, concatenated when kept."""
        import numpy as np

        stats, parts = [], []
        for rows in self._generate():
            b_mean = rows.mean(0)
            b_m2 = ((rows - b_mean) ** 2).sum(0)
            stats.append((len(rows), b_mean, b_m2, float(np.einsum("ij,ij->", rows, rows))))
            if keep:
                parts.append(rows)
        if keep:
            self.x = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return stats

    def _generate(self) -> Iterator[Any]:
        import numpy as np

        for block_id in self.block_ids:
            yield np.ascontiguousarray(self.make(block_id), dtype=np.float64)

    def chunks(self) -> Iterator[Any]:
        """The rows: all of them when in memory, else block by block; same order always."""
        if self.x is None:
            yield from self._generate()
        else:
            yield self.x

    def pieces(self) -> Iterator[tuple[int, int, Any, Any]]:
        """(start, stop, prepared, rows) for the fused kernel (see ``lloydkernel.prepare``);
        when regenerated, block by block, each valid until the next is asked for."""

        if self.segments is not None:
            for start, stop, prepared in self.segments:
                yield start, stop, prepared, self.x[start:stop]
            return
        start = 0
        for rows, prepared in self._prepared_blocks():
            yield start, start + len(rows), prepared, rows
            start += len(rows)

    def _prepared_blocks(self) -> Iterator[tuple[Any, Any]]:
        """Each block regenerated, with what the fused kernel reads besides its rows."""
        import scalecloud.workloads.kmeans.blockfill as blockfill
        import scalecloud.workloads.kmeans.lloyd as lloydkernel

        if blockfill.fills(self.make, self.block_ids):
            yield from blockfill.prepared_blocks(self.make, self.block_ids)
            return
        for rows in self._generate():
            yield rows, lloydkernel.prepare(rows)

    @property
    def nbytes(self) -> int:
        """Bytes held in memory: the rows and, for the fused kernel, their float32 copy and
        norms."""
        copies = sum(xt.nbytes + norms.nbytes for _, _, (xt, norms) in self.segments or [])
        return 0 if self.x is None else int(self.x.nbytes + copies)


def segment_bounds(n: int) -> list[tuple[int, int]]:
    """The rows of each thread's segment: ``n`` rows split evenly."""
    import numpy as np

    bounds = np.linspace(0, n, worker_threads() + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


def summary(part: Partition) -> dict[str, Any]:
    return {"n": part.n, "mean": part.mean, "m2": part.m2, "xx": part.xx, "nbytes": part.nbytes}


def sample_rows(part: Partition, size: int, seed: int) -> Any:
    """``size`` rows drawn uniformly without replacement from the partition."""
    import numpy as np

    rng = np.random.RandomState([seed, part.block_ids[0] if part.block_ids else 0])
    take = np.sort(rng.choice(part.n, size=min(size, part.n), replace=False))
    out, offset, i = [], 0, 0
    j: Any
    for chunk in part.chunks():
        j = np.searchsorted(take, offset + len(chunk), side="left")
        out.append(chunk[take[i:j] - offset])
        offset, i = offset + len(chunk), j
    return np.concatenate(out)


def lloyd_pass(
    part: Partition, centers: Any, first: bool = False, previous: Any = None
) -> dict[str, Any]:
    """E-step on one partition: per-cluster sums and counts, and how many labels changed
    since the last pass (all of them on the ``first`` pass of a fit).

    The labels stay on the worker (``part.labels``); only k×d + k numbers travel back.
    A partition rebuilt after its worker was lost has no labels: it first labels its rows
    with the ``previous`` pass's centers (a first pass: fresh Hamerly bounds), so that
    ``changed`` counts what an undisturbed partition would.
    """
    if not first and part.labels is None and previous is not None:
        _lloyd_pass(part, previous, True)
    return _lloyd_pass(part, centers, first)


def _lloyd_pass(part: Partition, centers: Any, first: bool) -> dict[str, Any]:
    import numpy as np
    import scalecloud.workloads.kmeans.lloyd as lloydkernel

    k, d = centers.shape
    if lloydkernel.available(d):
        return _fused_pass(part, centers, first)
    labels = part._spare if part._spare is not None else np.empty(part.n, dtype=np.int32)
    if part._ones is None:
        part._ones = np.ones(part.n)
    sums = np.zeros((k, d))
    counts = np.zeros(k)
    threads = worker_threads()
    start = 0
    for chunk in part.chunks():
        m = len(chunk)
        _assign(chunk, part._ones[:m], centers, labels[start : start + m], sums, counts, threads)
        start += m
    previous = part.labels
    changed = part.n if first or previous is None else int(np.count_nonzero(labels != previous))
    part.labels, part._spare = labels, previous
    return {"sums": sums, "counts": counts, "changed": changed}


def warm_up(part: Partition, k: int) -> None:
    import scalecloud.workloads.kmeans.lloyd as lloydkernel

    d = len(part.mean) if part.mean is not None else 0
    if lloydkernel.available(d):
        lloydkernel.warm_up(k, d)


def _fused_pass(part: Partition, centers: Any, first: bool) -> dict[str, Any]:
    """``lloyd_pass`` with the fused kernel: segments in parallel threads (or blocks in
    turn when regenerated). After the first pass of a fit the kernel skips the rows that
    provably keep their center (Hamerly's bounds) and moves only changed rows between
    sums."""
    import numpy as np
    import scalecloud.workloads.kmeans.lloyd as lloydkernel

    k, d = centers.shape
    shape = (k, d, len(part.segments) if part.segments is not None else len(part.block_ids))
    state = part.state
    incremental = not first and state is not None and state.shape == shape
    if not incremental:
        if part.labels is None or len(part.labels) != part.n:
            part.labels = np.empty(part.n, dtype=np.int32)  # every row is labelled below
        # The first pass writes every row's bounds: last fit's arrays can be reused.
        bounds = state.bounds if state is not None else lloydkernel.new_bounds(part.n)
        state = part.state = PassState(
            shape=shape,
            totals=[(np.zeros((k, d)), np.zeros(k)) for _ in range(shape[2])],
            bounds=bounds,
            centers=centers,
        )
        shift = None
    else:
        shift = np.sqrt(((centers - state.centers) ** 2).sum(1))
        state.centers = centers
    labels, (upper, lower) = part.labels, state.bounds

    def one(index: int, piece: tuple[int, int, Any, Any]) -> tuple[int, int, int]:
        start, stop, prepared, rows = piece
        sums, counts = state.totals[index]
        window = slice(start, stop)
        return lloydkernel.assign(
            prepared, rows, centers, labels[window], sums, counts,
            (upper[window], lower[window]), shift,
        )  # fmt: skip

    pieces = enumerate(part.pieces())
    if part.segments is not None and len(part.segments) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(part.segments)) as pool:
            done = list(pool.map(lambda item: one(*item), pieces))
    else:
        done = [one(i, piece) for i, piece in pieces]
    return {
        "sums": sum(s for s, _ in state.totals),
        "counts": sum(c for _, c in state.totals),
        "changed": sum(c for c, _, _ in done),  # every row on a first pass
        "rechecked": sum(r for _, r, _ in done),
        "skipped": sum(s for _, _, s in done),
    }


@dataclass
class PassState:
    """What the fused kernel keeps on a partition between the passes of a fit."""

    shape: tuple[int, int, int]  # (k, d, pieces) it was made for
    totals: list[tuple[Any, Any]]  # per piece: float64 sums and counts for the labels
    bounds: tuple[Any, Any]  # per row: upper bound to its center, lower bound to others
    centers: Any  # the centers of the last pass


_local = threading.local()


def worker_threads() -> int:
    if getattr(_local, "threads", None):
        return int(_local.threads)
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1


def _assign(
    x: Any, ones: Any, centers: Any, labels: Any, sums: Any, counts: Any, threads: int
) -> None:
    """Nearest centers of the rows ``x`` into ``labels``; their sums and counts added.

    Uses scikit-learn's compiled Lloyd kernel (chunked BLAS distances, OpenMP); falls back
    to NumPy when it is missing or when a cluster is empty in this chunk (the kernel
    would relocate it locally, but relocation must be global).
    """
    import numpy as np

    try:
        from sklearn.cluster._k_means_lloyd import lloyd_iter_chunked_dense
    except ImportError:  # pragma: no cover - a scikit-learn without the private kernel
        lloyd_iter_chunked_dense = None
    k = len(centers)
    if lloyd_iter_chunked_dense is not None:
        new_centers = np.zeros_like(centers)
        weight = np.zeros(k)
        lloyd_iter_chunked_dense(
            x, ones, centers, new_centers, weight, labels, np.zeros(k), threads
        )
        if (weight > 0).all():
            sums += new_centers * weight[:, None]
            counts += weight
            return
    for start in range(0, len(x), CHUNK_ROWS):
        chunk = x[start : start + CHUNK_ROWS]
        dist = chunk @ (-2.0 * centers.T) + np.einsum("ij,ij->i", centers, centers)
        nearest = dist.argmin(1)
        labels[start : start + len(chunk)] = nearest
        np.add.at(sums, nearest, chunk)
        counts += np.bincount(nearest, minlength=k)


def far_points(part: Partition, centers: Any, count: int) -> list[tuple[float, Any, int]]:
    """The ``count`` rows farthest from their centers, as (distance, row, label)."""
    import numpy as np

    if part.labels is None:  # rebuilt since the pass: label it with that pass's centers
        _lloyd_pass(part, centers, True)
    found: list[tuple[float, Any, int]] = []
    start = 0
    for rows in part.chunks():
        lab = part.labels[start : start + len(rows)]
        dist = ((rows - centers[lab]) ** 2).sum(1)
        top = np.argsort(dist)[::-1][:count]
        found += [(float(dist[i]), rows[i].copy(), int(lab[i])) for i in top]
        start += len(rows)
    return sorted(found, key=lambda f: -f[0])[:count]


def with_threads(threads: int, fn: Callable[..., Any], *args: Any) -> Any:
    _local.threads = threads
    try:
        return fn(*args)
    finally:
        _local.threads = None

"""scalecloud's distributed KMeans: data stays on the workers, only k×d sums travel.

Each worker holds one *partition*: the rows of its share of the blocks, concatenated. A
Lloyd pass runs on every partition where it lives: the fused kernel of ``lloydkernel``
(certified float32 distances, float64 sums; after the first pass rows that provably keep
their center are skipped) for data with few features, else scikit-learn's compiled Lloyd
kernel; the client
receives k×d sums and k counts per partition and does the M-step. The
algorithm, convergence rule (strict label convergence, else total squared center shift <= tol × mean feature variance), empty
cluster relocation and final E-step follow scikit-learn's ``_kmeans_single_lloyd``, so
the same initial centers give the same iterations and inertia.

Partitions either keep their rows in memory or, for data larger than the cluster's
memory, keep only the block seeds and regenerate the rows in every pass.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

CHUNK_ROWS = 32_768


class Partition:
    """One worker's rows: in memory (``x``) or regenerated from their blocks in each pass."""

    def __init__(self, make: Callable[[int], Any], block_ids: list[int], keep: bool) -> None:
        import numpy as np
        from scalecloud.workloads.kmeans import lloyd as lloydkernel

        self.make = make
        self.block_ids = block_ids
        self.x = None
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
        n = 0
        total = None
        mean = None
        m2 = None
        xx = 0.0
        parts = []
        for rows in self._generate():
            # Chan et al.'s pairwise update keeps the variance exact enough for tol.
            b_n, b_mean = len(rows), rows.mean(0)
            b_m2 = ((rows - b_mean) ** 2).sum(0)
            if total is None:
                mean, m2 = b_mean, b_m2
            else:
                delta = b_mean - mean
                mean = mean + delta * b_n / (n + b_n)
                m2 = m2 + b_m2 + delta**2 * n * b_n / (n + b_n)
            total = True
            n += b_n
            xx += float(np.einsum("ij,ij->", rows, rows))
            if keep:
                parts.append(rows)
        if keep:
            self.x = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self.n, self.mean, self.m2, self.xx = n, mean, m2, xx
        d = 0 if mean is None else len(mean)
        if keep and lloydkernel.available(d):
            bounds = np.linspace(0, n, _threads() + 1).astype(int)
            self.segments = [
                (int(a), int(b), lloydkernel.prepare(self.x[a:b]))
                for a, b in itertools.pairwise(bounds)
                if b > a
            ]

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
        """(start, stop, prepared, rows) for the fused kernel (see ``lloydkernel.prepare``)."""
        from scalecloud.workloads.kmeans import lloyd as lloydkernel

        if self.segments is not None:
            for start, stop, prepared in self.segments:
                yield start, stop, prepared, self.x[start:stop]
            return
        start = 0
        for rows in self.chunks():
            yield start, start + len(rows), lloydkernel.prepare(rows), rows
            start += len(rows)

    @property
    def nbytes(self) -> int:
        """Bytes held in memory: the rows and, for the fused kernel, their float32 copy and
        norms."""
        copies = sum(xt.nbytes + norms.nbytes for _, _, (xt, norms) in self.segments or [])
        return 0 if self.x is None else int(self.x.nbytes + copies)


def summary(part: Partition) -> dict[str, Any]:
    return {"n": part.n, "mean": part.mean, "m2": part.m2, "xx": part.xx, "nbytes": part.nbytes}


def sample_rows(part: Partition, size: int, seed: int) -> Any:
    """``size`` rows drawn uniformly without replacement from the partition."""
    import numpy as np

    rng = np.random.RandomState([seed, part.block_ids[0] if part.block_ids else 0])
    take = np.sort(rng.choice(part.n, size=min(size, part.n), replace=False))
    out, offset, i = [], 0, 0
    for chunk in part.chunks():
        j = np.searchsorted(take, offset + len(chunk), side="left")
        out.append(chunk[take[i:j] - offset])
        offset, i = offset + len(chunk), j
    return np.concatenate(out)


def lloyd_pass(part: Partition, centers: Any, first: bool = False) -> dict[str, Any]:
    """E-step on one partition: per-cluster sums and counts, and how many labels changed
    since the last pass (all of them on the ``first`` pass of a fit).

    The labels stay on the worker (``part.labels``); only k×d + k numbers travel back.
    """
    import numpy as np
    from scalecloud.workloads.kmeans import lloyd as lloydkernel

    k, d = centers.shape
    if lloydkernel.available(d):
        return _fused_pass(part, centers, first)
    labels = part._spare if part._spare is not None else np.empty(part.n, dtype=np.int32)
    if part._ones is None:
        part._ones = np.ones(part.n)
    sums = np.zeros((k, d))
    counts = np.zeros(k)
    threads = _threads()
    start = 0
    for chunk in part.chunks():
        m = len(chunk)
        _assign(chunk, part._ones[:m], centers, labels[start : start + m], sums, counts, threads)
        start += m
    previous = part.labels
    changed = part.n if first or previous is None else int(np.count_nonzero(labels != previous))
    part.labels, part._spare = labels, previous
    return {"sums": sums, "counts": counts, "changed": changed}


def _warm_up(part: Partition, k: int) -> None:
    from scalecloud.workloads.kmeans import lloyd as lloydkernel

    d = len(part.mean) if part.mean is not None else 0
    if lloydkernel.available(d):
        lloydkernel.warm_up(k, d)


def _fused_pass(part: Partition, centers: Any, first: bool) -> dict[str, Any]:
    """``lloyd_pass`` with the fused kernel: segments in parallel threads (or blocks in
    turn when regenerated). After the first pass of a fit the kernel skips the rows that
    provably keep their center (Hamerly's bounds) and moves only changed rows between
    sums."""
    import numpy as np
    from scalecloud.workloads.kmeans import lloyd as lloydkernel

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


def _threads() -> int:
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

    found: list[tuple[float, Any, int]] = []
    start = 0
    for rows in part.chunks():
        lab = part.labels[start : start + len(rows)]
        dist = ((rows - centers[lab]) ** 2).sum(1)
        top = np.argsort(dist)[::-1][:count]
        found += [(float(dist[i]), rows[i].copy(), int(lab[i])) for i in top]
        start += len(rows)
    return sorted(found, key=lambda f: -f[0])[:count]


@dataclass
class KMeansFit:
    """The result of :func:`fit`."""

    centers: Any
    init_centers: Any
    inertia: float
    n_iter: int
    cluster_sizes: list[int]
    converged: str
    inertia_history: list[float] = field(default_factory=list)
    pass_s: list[float] = field(default_factory=list)


@dataclass
class DistributedData:
    """Partitions on the workers, as futures, and their global statistics."""

    futures: list[Any]
    workers: list[str]
    n: int
    n_features: int
    xx: float
    variance: Any
    nbytes: int


def scatter_partitions(
    client: Any, make_block: Callable[[int], Any], n_blocks: int, keep: bool = True
) -> DistributedData:
    """One partition per worker, generated there from contiguous ranges of blocks."""
    import numpy as np

    workers = _workers(client)
    share = np.array_split(np.arange(n_blocks), max(1, min(len(workers), n_blocks)))
    futures = [
        client.submit(
            Partition,
            make_block,
            ids.tolist(),
            keep,
            workers=[worker],
            allow_other_workers=True,
            pure=False,
        )
        for worker, ids in zip(workers, share, strict=False)
    ]
    # Labels live inside the partitions, so every later task on a partition must run
    # where it is: a stolen task would work on a copy and leave stale labels behind.
    from distributed import wait

    wait(futures)
    placed = client.who_has(futures)
    homes = [next(iter(placed[f.key])) for f in futures]
    stats = client.gather(
        [
            client.submit(summary, f, workers=[w], allow_other_workers=False)
            for f, w in zip(futures, homes, strict=True)
        ]
    )
    n = sum(s["n"] for s in stats)
    mean = sum(s["mean"] * s["n"] for s in stats) / n
    m2 = sum(s["m2"] + s["n"] * (s["mean"] - mean) ** 2 for s in stats)
    return DistributedData(
        futures=futures,
        workers=homes,
        n=n,
        n_features=len(mean),
        xx=sum(s["xx"] for s in stats),
        variance=m2 / n,
        nbytes=sum(s["nbytes"] for s in stats),
    )


WAIT_FOR_WORKERS_S = 60.0


def _workers(client: Any) -> list[str]:
    """The cluster's workers, waiting for a first one (an adaptive cluster at zero, or a
    worker restarting) rather than splitting the data over none."""
    from scalecloud.infra.errors import ScalecloudError

    workers = sorted(client.scheduler_info()["workers"])
    if workers:
        return workers
    try:
        client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
    except TimeoutError as exc:
        raise ScalecloudError(
            f"the cluster has no workers (waited {WAIT_FOR_WORKERS_S:.0f} s)",
            "give it some: scalecloud scale N (or scalecloud scale --adapt 1:MAX)",
        ) from exc
    return sorted(client.scheduler_info()["workers"])


def on_partitions(
    client: Any, data: DistributedData, fn: Callable[..., Any], *args: Any
) -> list[Any]:
    """``fn(partition, *args)`` on every partition, each where the partition lives.

    The call goes straight to the workers (``Client.run``: one RPC through the scheduler,
    a few milliseconds) and runs in the worker's thread pool on the partition it holds; a
    task per partition (about four times the latency on a busy 2-core machine, which a
    Lloyd pass over 1M rows does not amortise) is the fallback when a partition is not
    in a worker's memory.
    """
    keys = {home: part.key for part, home in zip(data.futures, data.workers, strict=True)}
    try:
        found = client.run(_run_on_partition, keys, fn, args, workers=list(keys))
    except (KeyError, OSError):
        found = {}
    if not any(_is_missing(found.get(home, _MISSING)) for home in data.workers):
        return [found[home] for home in data.workers]
    return client.gather(
        [
            client.submit(fn, part, *args, workers=[home], allow_other_workers=False, pure=False)
            for part, home in zip(data.futures, data.workers, strict=True)
        ]
    )


_MISSING = "__scalecloud_partition_missing__"


def _is_missing(value: Any) -> bool:
    return isinstance(value, str) and value == _MISSING


async def _run_on_partition(
    keys: dict[str, Any], fn: Callable[..., Any], args: tuple[Any, ...], dask_worker: Any = None
) -> Any:
    key = keys.get(dask_worker.address)
    if key is None or key not in dask_worker.data:
        return _MISSING
    part = dask_worker.data[key]
    call = functools.partial(_with_threads, dask_worker.state.nthreads, fn, part, *args)
    return await asyncio.get_running_loop().run_in_executor(dask_worker.executors["default"], call)


def _with_threads(threads: int, fn: Callable[..., Any], *args: Any) -> Any:
    _local.threads = threads
    try:
        return fn(*args)
    finally:
        _local.threads = None


def init_centers(
    client: Any, data: DistributedData, k: int, seed: int, sample: int = 10_000
) -> Any:
    """k-means++ on a uniform sample of rows gathered from the partitions."""
    import numpy as np
    from sklearn.cluster import kmeans_plusplus

    size = max(sample, 50 * k)
    rows = np.concatenate(on_partitions(client, data, sample_rows, size, seed))
    rng = np.random.RandomState(seed)
    if len(rows) > size:
        rows = rows[np.sort(rng.choice(len(rows), size=size, replace=False))]
    centers, _ = kmeans_plusplus(rows, n_clusters=k, random_state=seed)
    return centers


def fit(
    client: Any,
    data: DistributedData,
    centers: Any,
    max_iter: int = 300,
    tol: float = 1e-4,
    on_iteration: Callable[[int, float], None] | None = None,
) -> KMeansFit:
    """Lloyd's algorithm from ``centers``, exactly as scikit-learn runs it."""
    import numpy as np

    centers = np.array(centers, dtype=np.float64)
    init = centers.copy()
    k = len(centers)
    if k > data.n:
        raise ValueError(f"n_clusters={k} exceeds the {data.n} rows")
    tol_scaled = float(np.mean(data.variance) * tol) if tol else 0.0
    # The fused kernel for these shapes, compiled (or loaded from numba's disk cache) on
    # every worker before the first pass rather than inside it.
    on_partitions(client, data, _warm_up, k)
    history, pass_s = [], []
    converged = "max_iter"
    sums = counts = None
    for i in range(max_iter):
        started = time.perf_counter()
        sums, counts, changed = _e_step(client, data, centers, first=i == 0)
        history.append(_inertia(data.xx, sums, counts, centers))
        new_sums, new_counts = sums.copy(), counts.copy()
        if (new_counts == 0).any():
            _relocate(client, data, centers, new_sums, new_counts)
        new_centers = centers.copy()
        filled = new_counts > 0
        new_centers[filled] = new_sums[filled] / new_counts[filled, None]
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        pass_s.append(time.perf_counter() - started)
        if on_iteration is not None:
            on_iteration(i, history[-1])
        if changed == 0:
            converged = "strict"
            break
        if shift <= tol_scaled:
            converged = "tol"
            break
    if converged != "strict":
        # The final E-step, so that labels, sizes and inertia match the final centers.
        sums, counts, _ = _e_step(client, data, centers)
    inertia = _inertia(data.xx, sums, counts, centers)
    return KMeansFit(
        centers=centers,
        init_centers=init,
        inertia=inertia,
        n_iter=i + 1,
        cluster_sizes=[int(c) for c in counts],
        converged=converged,
        inertia_history=history,
        pass_s=pass_s,
    )


def _e_step(
    client: Any, data: DistributedData, centers: Any, first: bool = False
) -> tuple[Any, Any, int]:
    stats = on_partitions(client, data, lloyd_pass, centers, first)
    return (
        sum(s["sums"] for s in stats),
        sum(s["counts"] for s in stats),
        sum(s["changed"] for s in stats),
    )


def _inertia(xx: float, sums: Any, counts: Any, centers: Any) -> float:
    """Σ‖x − c(x)‖² from the E-step's sums: Σ‖x‖² − 2 Σ_j s_j·c_j + Σ_j n_j ‖c_j‖²."""
    import numpy as np

    value = xx - 2.0 * float(np.einsum("ij,ij->", sums, centers))
    return max(value + float(counts @ np.einsum("ij,ij->i", centers, centers)), 0.0)


def gather_labels(client: Any, data: DistributedData) -> Any:
    """The labels of the last pass, in row order (blocks in order): for tests and small data."""
    import numpy as np

    return np.concatenate(on_partitions(client, data, _labels_of))


def _labels_of(part: Partition) -> Any:
    return part.labels


def _relocate(client: Any, data: DistributedData, centers: Any, sums: Any, counts: Any) -> None:
    """scikit-learn's rule: each empty cluster takes one of the points farthest from
    their centers, which leaves its old cluster."""
    empty = [int(j) for j in (counts == 0).nonzero()[0]]
    found = on_partitions(client, data, far_points, centers, len(empty))
    candidates = sorted((p for f in found for p in f), key=lambda p: -p[0])
    if not candidates or candidates[0][0] == 0:
        return
    for cluster, (_, row, old) in zip(empty, candidates, strict=False):
        sums[old] -= row
        counts[old] -= 1
        sums[cluster] = row
        counts[cluster] = 1

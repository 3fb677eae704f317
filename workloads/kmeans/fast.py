"""scalecloud's distributed KMeans: data stays on the workers, only k×d sums travel.

Each worker holds one *partition* (see ``partitions``): the rows of its share of the
blocks, concatenated. A Lloyd pass runs on every partition where it lives: the fused
kernel of ``lloydkernel`` (certified float32 distances, float64 sums; after the first pass
rows that provably keep their center are skipped) for data with few features, else
scikit-learn's compiled Lloyd kernel; the client receives k×d sums and k counts per
partition and does the M-step. The algorithm, convergence rule (strict label
convergence, else total squared center shift <= tol × mean feature variance), empty
cluster relocation and final E-step follow scikit-learn's ``_kmeans_single_lloyd``, so
the same initial centers give the same iterations and inertia.

Partitions either keep their rows in memory or, for data larger than the cluster's
memory, keep only the block seeds and regenerate the rows in every pass.

A run survives losing workers (see ``recovery``): their partitions are rebuilt from the
block seeds elsewhere, a pass goes on for them from the same centers, and no wait on the
workers lacks a liveness check or a deadline.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import scalecloud.workloads.kmeans.recovery as recovery
from scalecloud.infra.events import EventFn
from scalecloud.workloads.kmeans.partitions import (
    Partition,
    far_points,
    lloyd_pass,
    sample_rows,
    summary,
    warm_up,
    with_threads,
)


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
    """Partitions on the workers, as futures, where each lives, their global statistics,
    and the watch on the run's workers."""

    futures: list[Any]
    workers: list[str]
    n: int = 0
    n_features: int = 0
    xx: float = 0.0
    variance: Any = None
    nbytes: int = 0
    watch: recovery.Watch = field(default_factory=recovery.Watch)


def scatter_partitions(
    client: Any,
    make_block: Callable[[int], Any],
    n_blocks: int,
    keep: bool = True,
    on_event: EventFn | None = None,
    no_worker_timeout: float | None = None,
) -> DistributedData:
    """One partition per worker, generated there from contiguous ranges of blocks.

    ``on_event`` hears of lost workers; ``no_worker_timeout`` (seconds, default
    ``SCALECLOUD_NO_WORKER_TIMEOUT`` or 120) is how long the run waits when none is left.
    """
    import numpy as np

    watch = recovery.Watch(on_event, no_worker_timeout)
    workers = _workers(client)
    share = np.array_split(np.arange(n_blocks), max(1, min(len(workers), n_blocks)))
    # A partition is a function of its block ids alone: when its worker is lost, the
    # scheduler recomputes it (from the blocks' seeds) wherever it can.
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
    data = DistributedData(futures=futures, workers=[""] * len(futures), watch=watch)
    stats = on_partitions(client, data, summary)
    n = sum(s["n"] for s in stats)
    mean = sum(s["mean"] * s["n"] for s in stats) / n
    m2 = sum(s["m2"] + s["n"] * (s["mean"] - mean) ** 2 for s in stats)
    data.n, data.n_features, data.variance = n, len(mean), m2 / n
    data.xx = sum(s["xx"] for s in stats)
    data.nbytes = sum(s["nbytes"] for s in stats)
    return data


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
    """``fn(partition, *args)`` on every partition, each where the partition lives, in
    partition order.

    The call goes straight to the workers (``Client.run``: one RPC through the scheduler,
    a few milliseconds) and runs in the worker's thread pool on the partitions it holds; a
    task per partition (about four times the latency on a busy 2-core machine, which a
    Lloyd pass over 1M rows does not amortise) is the fallback when a partition is not
    in its worker's memory. The partitions of a worker lost on the way are rebuilt
    elsewhere and ``fn`` runs on them there; the others' results are kept.
    """
    results: dict[int, Any] = {}
    pending = list(range(len(data.futures)))
    recheck: set[int] = set()
    as_tasks: set[int] = set()
    while pending:
        recovery.place(client, data.watch, data.futures, data.workers, pending, recheck)
        asked, recheck = recheck, set()
        groups: dict[str, list[int]] = {}
        for i in pending:
            groups.setdefault(data.workers[i], []).append(i)
        calls = {
            home: functools.partial(
                _start_tasks if any(i in as_tasks for i in ids) else _start_direct,
                client, data, fn, args, home, ids,
            )
            for home, ids in groups.items()
        }  # fmt: skip
        answers, _lost = recovery.run_on_workers(client, data.watch, calls)
        for home, answer in answers.items():
            ids = groups[home]
            found = [_MISSING] * len(ids) if _is_missing(answer) else answer
            for i, value in zip(ids, found, strict=True):
                if not _is_missing(value):
                    results[i] = value
                elif i in asked:  # not where the scheduler says, twice: run it as a task
                    as_tasks.add(i)
                else:
                    recheck.add(i)
        # Partitions of lost workers stay pending: placed again once rebuilt.
        pending = [i for i in pending if i not in results]
    return [results[i] for i in range(len(data.futures))]


def _start_direct(
    client: Any, data: DistributedData, fn: Callable[..., Any], args: tuple[Any, ...],
    home: str, ids: list[int],
) -> Any:  # fmt: skip
    keys = {home: [data.futures[i].key for i in ids]}
    coro = client._run(_run_on_partition, keys, fn, args, workers=[home])
    return _on_loop(client, _first(coro, home))


def _start_tasks(
    client: Any, data: DistributedData, fn: Callable[..., Any], args: tuple[Any, ...],
    home: str, ids: list[int],
) -> Any:  # fmt: skip
    tasks = [
        client.submit(fn, data.futures[i], *args, workers=[home], allow_other_workers=False,
                      pure=False)
        for i in ids
    ]  # fmt: skip
    future = _on_loop(client, client._gather(tasks))
    future.add_done_callback(lambda f: f.cancelled() and client.cancel(tasks))
    return future


async def _first(coro: Any, home: str) -> Any:
    return (await coro)[home]


def _on_loop(client: Any, coro: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, client.loop.asyncio_loop)


_MISSING = "__scalecloud_partition_missing__"


def _is_missing(value: Any) -> bool:
    return isinstance(value, str) and value == _MISSING


async def _run_on_partition(
    keys: dict[str, list[Any]],
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    dask_worker: Any = None,
) -> list[Any]:
    """``fn`` on each of this worker's partitions in turn (``_MISSING`` for one it lacks)."""
    found = []
    for key in keys.get(dask_worker.address, []):
        if key not in dask_worker.data:
            found.append(_MISSING)
            continue
        part = dask_worker.data[key]
        call = functools.partial(with_threads, dask_worker.state.nthreads, fn, part, *args)
        executor = dask_worker.executors["default"]
        found.append(await asyncio.get_running_loop().run_in_executor(executor, call))
    return found


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
    on_partitions(client, data, warm_up, k)
    history, pass_s = [], []
    converged = "max_iter"
    sums: Any = None
    counts: Any = None
    previous = None  # the centers of the last pass, for partitions rebuilt since
    for i in range(max_iter):
        started = time.perf_counter()
        sums, counts, changed = _e_step(client, data, centers, i == 0, previous)
        previous = centers
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
        sums, counts, _ = _e_step(client, data, centers, False, previous)
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
    client: Any, data: DistributedData, centers: Any, first: bool = False, previous: Any = None
) -> tuple[Any, Any, int]:
    stats = on_partitions(client, data, lloyd_pass, centers, first, previous)
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

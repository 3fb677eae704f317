"""KMeans, side by side on the same data and cluster: scalecloud, dask-ml, scikit-learn,
and the memory-bandwidth bound of one pass over the data, measured in the same run.

    python bench/kmeans.py                  # 100 blocks (2M × 20, 0.32 GB)
    python bench/kmeans.py --n-blocks 500   # the lecture's 10M × 20 (1.6 GB)
    python bench/kmeans.py --storage regenerate --n-blocks 50   # larger-than-memory mode

The generation line: generating the data on the workers against its bound, the legacy
normal draws that fix the blocks (``RandomState(i).standard_normal``, timed on the workers,
all at once, in the same run) × blocks ÷ workers.

The recovery line: a fit with one worker killed (SIGKILL) after its first pass, against
the undisturbed fits of the same run (--skip-recovery leaves it out).

--read adds the read of the same data as a Parquet dataset against the page cache's bound
(``dataread.py``); --read-only prints that alone.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import local_cluster, machine, table, timed


def read_pass(part) -> float:
    """Seconds to stream-read one partition once (the bound of any pass over it)."""
    start = time.perf_counter()
    for chunk in part.chunks():
        chunk.sum()
    return time.perf_counter() - start


def block_costs(make, ids: list[int]) -> dict[str, float]:
    """Median seconds per block on this worker, of the wall clock and of this thread's CPU:
    the legacy normal draws alone (the bound), scikit-learn's make_blobs (the generation
    before ``kmeans.blobs``), and ``fill`` into fresh arrays (rows, float32 copy, norms,
    statistics)."""
    import numpy as np
    from scalecloud.workloads.kmeans import block_seed
    from sklearn.datasets import make_blobs

    rows, d = make.rows, make.n_features

    def fill(i: int) -> None:
        x, xt, norms = (
            np.empty((rows, d)),
            np.empty((d, rows), np.float32),
            np.empty(rows, np.float32),
        )
        make.fill(i, x, [(xt, norms, 0, 0, rows)])

    steps = {
        "draws": lambda i: np.random.RandomState(block_seed(make.seed, i)).standard_normal(
            (rows, d)
        ),
        "make_blobs": lambda i: make_blobs(
            n_samples=rows, centers=make.centers, random_state=block_seed(make.seed, i)
        ),
        "fill": fill,
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for i in ids:
        for name, step in steps.items():
            wall, cpu = time.perf_counter(), time.thread_time()
            step(i)
            times[name].append((time.perf_counter() - wall, time.thread_time() - cpu))
    return {
        f"{name} {clock}": statistics.median(t[k] for t in values)
        for name, values in times.items()
        for k, clock in enumerate(("wall", "cpu"))
    }


def warm_generation(make) -> None:
    """Compile (or load from numba's cache) the generation kernel: not part of its cost."""
    import numpy as np

    rows, d = 2, make.n_features
    x, xt, norms = np.empty((rows, d)), np.empty((d, rows), np.float32), np.empty(rows, np.float32)
    make.fill(0, x, [(xt, norms, 0, 0, rows)])


def cpu_seconds() -> float:
    """CPU time of this worker process so far (all its threads)."""
    return time.process_time()


def spilled(dask_worker) -> int:
    return len(getattr(dask_worker.data, "slow", {}) or {})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-blocks", type=int, default=100)
    parser.add_argument("--rows-per-block", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage", choices=["memory", "regenerate"], default="memory")
    parser.add_argument("--skip-dask-ml", action="store_true", help="dask-ml is slow on big data")
    parser.add_argument(
        "--skip-recovery", action="store_true", help="no fit with a worker killed mid-fit"
    )
    parser.add_argument(
        "--kernel",
        choices=["fused", "sklearn"],
        default="fused",
        help="scalecloud's Lloyd pass: its fused kernel, or scikit-learn's kernel on each worker",
    )
    parser.add_argument("--read", action="store_true", help="also the data read section")
    parser.add_argument("--read-only", action="store_true", help="only the data read section")
    parser.add_argument("--read-files", type=int, default=10, help="Parquet files written")
    parser.add_argument("--read-compression", default="none", help="none, snappy, zstd, ...")
    parser.add_argument(
        "--read-nullable", action="store_true", help="nullable columns (as pandas writes them)"
    )
    args = parser.parse_args()
    if args.read_only:
        read_section(args)
        return
    if args.kernel == "sklearn":
        os.environ["SCALECLOUD_LLOYD_KERNEL"] = "sklearn"  # inherited by the worker processes

    import numpy as np
    from scalecloud.workloads import kmeans
    from scalecloud.workloads.kmeans import fast as fastkmeans
    from sklearn.cluster import KMeans
    from sklearn.cluster._k_means_lloyd import lloyd_iter_chunked_dense
    from threadpoolctl import threadpool_info

    centers = kmeans.blob_centers(12, 20, args.seed)
    make = kmeans.BlockMaker(args.rows_per_block, centers, args.seed)
    print(machine())
    print(
        f"data: {args.n_blocks} blocks × {args.rows_per_block} rows × 20 features; "
        f"{args.workers} workers × 1 thread; storage {args.storage}; {args.repeats} repeats; "
        f"scalecloud's kernel: {args.kernel}\n"
    )
    with local_cluster(args.workers) as client:
        client.run(warm_generation, make)
        # The bound of generation, measured on every worker at once, as generation runs:
        # blocks of its share, each drawn, made with make_blobs, and filled.
        sample = min(20, max(1, args.n_blocks // args.workers))
        workers = sorted(client.scheduler_info()["workers"])
        costs = client.gather(
            [
                client.submit(
                    block_costs, make, list(range(w * sample, (w + 1) * sample)),
                    workers=[worker], pure=False,
                )
                for w, worker in enumerate(workers)
            ]
        )  # fmt: skip
        per_block = {k: statistics.median(c[k] for c in costs) for k in costs[0]}
        cpu_before = client.run(cpu_seconds)
        start = time.perf_counter()
        data = fastkmeans.scatter_partitions(
            client, make, args.n_blocks, keep=args.storage == "memory"
        )
        scatter_s = time.perf_counter() - start
        cpu_after = client.run(cpu_seconds)
        scatter_cpu = sum(cpu_after[w] - cpu_before[w] for w in workers)
        nbytes = data.n * 20 * 8
        init = fastkmeans.init_centers(client, data, 12, args.seed)
        gen_bound = per_block["draws wall"] * args.n_blocks / args.workers
        gen_bound_cpu = per_block["draws cpu"] * args.n_blocks

        # scalecloud
        fits: list = []
        sc_s, _, sc = timed(
            lambda: fits.append(fastkmeans.fit(client, data, init)) or fits[-1], args.repeats
        )
        # Every pass of every repeat: a fit of 2 iterations alone gives a noisy median.
        sc_pass = statistics.median(p for fit in fits for p in fit.pass_s)
        first_pass = statistics.median(fit.pass_s[0] for fit in fits)
        later = [p for fit in fits for p in fit.pass_s[1:]]
        # Every worker reads its partition at once, as in a pass: once as tasks pinned to
        # the partitions' workers, once straight on the workers as the passes run; the
        # slowest worker's time, median of 7 rounds each, and the smaller of the two.
        pinned = statistics.median(
            max(
                client.gather(
                    [
                        client.submit(read_pass, f, pure=False, workers=[w])
                        for f, w in zip(data.futures, data.workers, strict=True)
                    ]
                )
            )
            for _ in range(7)
        )
        direct = statistics.median(
            max(fastkmeans.on_partitions(client, data, read_pass)) for _ in range(7)
        )
        bound = min(pinned, direct)
        memory = sum(w["metrics"]["memory"] for w in client.scheduler_info()["workers"].values())
        spill = sum(client.run(spilled).values())

        # dask-ml, on the same blocks as a persisted dask array
        dm_s = dm_iter = None
        if not args.skip_dask_ml:
            from dask_ml.cluster import KMeans as DaskKMeans
            from distributed import wait

            x = client.persist(
                kmeans.make_array(
                    {
                        "n_centers": 12,
                        "n_features": 20,
                        "rows_per_block": args.rows_per_block,
                        "n_blocks": args.n_blocks,
                    },
                    args.seed,
                )
            )
            wait(x)
            dm_s, _, dm = timed(
                lambda: DaskKMeans(n_clusters=12, init=init, tol=1e-4).fit(x), args.repeats
            )
            dm_iter = dm.n_iter_
            del x

        # Last, as it leaves the partitions unevenly placed: one worker killed mid-fit.
        recovery = None
        if not args.skip_recovery:
            pids = client.run(os.getpid)
            victim = pids[data.workers[-1]]

            def kill(i: int, inertia: float) -> None:
                if i == 0:  # after the first pass
                    os.kill(victim, signal.SIGKILL)

            start = time.perf_counter()
            rec = fastkmeans.fit(client, data, init, on_iteration=kill)
            recovery = (time.perf_counter() - start, rec, list(data.watch.lost))
        client.cancel(data.futures)

    # scikit-learn in this process, on the same rows
    x = np.concatenate([make(i) for i in range(args.n_blocks)])
    sk_s, _, sk = timed(
        lambda: KMeans(12, init=init, n_init=1, tol=1e-4, algorithm="lloyd").fit(x), args.repeats
    )
    threads = max((i.get("num_threads", 1) for i in threadpool_info()), default=1)
    buffers = (
        np.ones(len(x)),
        np.zeros_like(init),
        np.zeros(12),
        np.full(len(x), -1, np.int32),
        np.zeros(12),
    )
    sk_pass, _, _ = timed(
        lambda: lloyd_iter_chunked_dense(
            x, buffers[0], init, buffers[1], buffers[2], buffers[3], buffers[4], threads
        ),
        max(3, args.repeats),
    )

    rows = [
        ["scalecloud", sc_s, sc.n_iter, sc_pass, sc.inertia, 1.0],
        ["scikit-learn (1 process)", sk_s, sk.n_iter_, sk_pass, sk.inertia_, sk_s / sc_s],
    ]
    if dm_s is not None:
        rows.append(["dask-ml", dm_s, dm_iter, dm_s / dm_iter, float("nan"), dm_s / sc_s])
    rows.append(["bandwidth bound", float("nan"), "-", bound, float("nan"), float("nan")])
    print(
        table(
            rows,
            [
                "implementation",
                "fit s (median)",
                "iterations",
                "s per pass",
                "inertia",
                "time / scalecloud's",
            ],
        )
    )
    rel = abs(sc.inertia - sk.inertia_) / sk.inertia_
    print()
    print(
        f"data {nbytes / 1e9:.2f} GB generated on the workers in {scatter_s:.2f} s; worker memory "
        f"{memory / 1e9:.2f} GB; keys spilled to disk: {spill}"
    )
    print(
        f"generation: {scatter_s:.2f} s; bound (legacy normal draws "
        f"{per_block['draws wall'] * 1e3:.2f} ms per block × {args.n_blocks} blocks / "
        f"{args.workers} workers) {gen_bound:.2f} s; ratio {scatter_s / gen_bound:.2f}  (goal <= 1.5)"
    )
    print(
        f"  CPU of the workers: {scatter_cpu:.2f} s; the draws' "
        f"({per_block['draws cpu'] * 1e3:.2f} ms per block × {args.n_blocks}) {gen_bound_cpu:.2f} s; "
        f"ratio {scatter_cpu / gen_bound_cpu:.2f}"
    )
    print(
        "  per block on the workers (wall; CPU): legacy draws "
        f"{per_block['draws wall'] * 1e3:.2f}; {per_block['draws cpu'] * 1e3:.2f} ms, fill (rows, "
        f"float32 copy, norms, statistics) {per_block['fill wall'] * 1e3:.2f}; "
        f"{per_block['fill cpu'] * 1e3:.2f} ms ({per_block['fill cpu'] / per_block['draws cpu']:.2f}x "
        f"the draws' CPU), make_blobs alone {per_block['make_blobs wall'] * 1e3:.2f}; "
        f"{per_block['make_blobs cpu'] * 1e3:.2f} ms"
    )
    if dm_s is not None:
        print(f"speed-up over dask-ml on the same cluster:      {dm_s / sc_s:6.1f}x  (goal >= 5)")
    print(
        f"per pass, scalecloud / scikit-learn ({threads} threads): {sc_pass / sk_pass:6.2f}   (goal <= 1.3)"
    )
    print(
        f"bandwidth bound: {pinned:.4f} s as tasks, {direct:.4f} s straight on the workers; "
        "the smaller is used"
    )
    print(f"per pass, scalecloud / bandwidth bound:        {sc_pass / bound:6.2f}   (goal <= 3)")
    print(
        f"  first pass of a fit:                         {first_pass / bound:6.2f}   "
        f"({first_pass:.4f} s)"
    )
    if later:
        print(
            f"  later passes:                                "
            f"{statistics.median(later) / bound:6.2f}   ({statistics.median(later):.4f} s)"
        )
    print(
        f"inertia relative difference to scikit-learn:   {rel:.1e}  (goal < 1e-6); "
        f"iterations {sc.n_iter} vs {sk.n_iter_}"
    )
    if recovery is not None:
        rec_s, rec, lost = recovery
        same = rec.n_iter == sc.n_iter and rec.cluster_sizes == sc.cluster_sizes
        print(
            f"recovery, one of {args.workers} workers killed after pass 1: {rec_s:.2f} s against "
            f"{sc_s:.2f} s undisturbed ({rec_s / sc_s:.2f}x, {rec_s - sc_s:+.2f} s; generating "
            f"all the data took {scatter_s:.2f} s); workers lost: {len(lost)}; same iterations "
            f"and sizes: {same}; inertia relative difference "
            f"{abs(rec.inertia - sc.inertia) / sc.inertia:.1e}"
        )
    if args.read:
        print()
        read_section(args)


def read_section(args: argparse.Namespace) -> None:
    from dataread import read_throughput
    from scalecloud.workloads import kmeans

    make = kmeans.BlockMaker(args.rows_per_block, kmeans.blob_centers(12, 20, args.seed), args.seed)
    if args.read_only:
        print(machine())
    with local_cluster(args.workers) as client:
        for line in read_throughput(client, make, args.n_blocks, args.read_files,
                                    args.read_compression, args.read_nullable):  # fmt: skip
            print(line)


if __name__ == "__main__":
    main()

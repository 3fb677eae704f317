"""KMeans on the user's own data (``--set data=PATH_OR_URL``): planned on the client from
metadata, read by the workers themselves block by block, straight into the partitions'
rows (their ``make`` is ``readrows.ReadBlocks`` over ``data.blocks.BlockReader``), then
fitted as generated data is. A partition stays a function of its block ids, so a lost
worker's partition is read again elsewhere."""

from __future__ import annotations

import time
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.workloads.core import WorkloadResult


def check(params: dict[str, Any]) -> None:
    """Everything metadata tells, before any cluster is touched: the data exists and can
    be read from here, its columns exist and are numeric, no nulls where Parquet counts
    them, and at least as many rows as clusters (where the rows are known before reading:
    not for CSV, whose rows are counted as the workers read them)."""
    from scalecloud.workloads.data.blocks import plan

    if params["implementation"] != "scalecloud":
        raise ScalecloudError(
            "--set data works with the scalecloud implementation only",
            "leave implementation at scalecloud (dask-ml's path generates its data)",
        )
    found = plan(params["data"], params.get("columns"))
    if found.n_rows is not None and params["n_clusters"] > found.n_rows:
        raise ScalecloudError(
            f"{params['n_clusters']} clusters need at least as many rows, and {params['data']} "
            f"has {found.n_rows:,}",
            f"lower n_clusters, e.g. --set n_clusters={min(found.n_rows, 12)}",
        )


def fit(client: Any, params: dict[str, Any], seed: int, on_event: EventFn) -> dict[str, Any]:
    import scalecloud.workloads.kmeans.fast as fastkmeans
    from scalecloud.workloads.data.blocks import BlockReader, plan
    from scalecloud.workloads.kmeans.fitting import choose_storage, fit_partitions
    from scalecloud.workloads.kmeans.readrows import ReadBlocks

    found = plan(params["data"], params.get("columns"))
    n_rows = found.nbytes // (8 * max(1, found.n_features))
    storage = choose_storage(client, n_rows, found.n_features, params["storage"])
    on_event(Event("step", f"reading {params['data']} on the workers ({found.describe()}; "
                           f"{storage})"))  # fmt: skip
    start = time.perf_counter()
    data = fastkmeans.scatter_partitions(
        client, ReadBlocks(BlockReader(found)), len(found.blocks), keep=storage == "memory",
        on_event=on_event,
    )  # fmt: skip
    read_s = time.perf_counter() - start
    metrics = fit_partitions(client, data, params, seed, on_event, params["data"])
    return {
        **metrics,
        "read_s": round(read_s, 4),
        "generate_s": round(read_s, 4),  # the time to have the data on the workers
        "n_features": data.n_features,
        "data_format": found.format,
        "data_blocks": len(found.blocks),
        "data_columns": [str(c) for c in found.columns],
        "storage": storage,
    }


def run(client: Any, params: dict[str, Any], seed: int, on_event: EventFn) -> WorkloadResult:
    metrics = dict(fit(client, params, seed, on_event), implementation="scalecloud")
    gb_s = metrics["data_bytes"] / 1e9 / max(metrics["read_s"], 1e-9)
    summary = [
        ("inertia", f"{metrics['inertia']:.6g}"),
        ("iterations", f"{metrics['n_iter']} ({metrics['converged']})"),
        ("cluster sizes", ", ".join(str(s) for s in metrics["cluster_sizes"])),
        ("fit time", f"{metrics['fit_s']:.2f} s"),
        ("data", f"{params['data']}: {metrics['data_format']}, {metrics['data_blocks']} "
                 f"blocks, {metrics['data_bytes'] / 1e9:.3f} GB ({metrics['n_rows']:,} × "
                 f"{metrics['n_features']})"),
        ("read time", f"{metrics['read_s']:.2f} s ({gb_s:.2f} GB/s as float64)"),
        ("implementation", f"scalecloud ({metrics['storage']})"),
    ]  # fmt: skip
    return WorkloadResult(metrics=metrics, summary=summary)

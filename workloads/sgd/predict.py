"""Distributed prediction: the weights broadcast to the workers once, then applied to
every partition where it lives ("you just need to distribute your weights").

Rows per second are set against the bandwidth bound: prediction reads every row once,
so it can go no faster than the workers' memory bandwidth, measured on the same rows
(a streaming column sum) right after.
"""

from __future__ import annotations

from typing import Any

import scalecloud.workloads.sgd.shards as shards


def _apply(shard: shards.Shard, weights: tuple[Any, float]) -> dict[str, float]:
    return shards.predict(shard, *weights)


def on_data(client: Any, data: Any, w: Any, b: float) -> dict[str, Any]:
    """Predict every row of ``data`` (training and held-out) with the weights ``(w, b)``."""
    import time

    import numpy as np

    start = time.perf_counter()
    [weights] = client.scatter([(np.asarray(w, np.float64), float(b))], broadcast=True)
    homes = data.workers if all(data.workers) else [None] * len(data.futures)
    tasks = [
        client.submit(_apply, future, weights, workers=[home] if home else None,
                      allow_other_workers=True, pure=False)
        for future, home in zip(data.futures, homes, strict=True)
    ]  # fmt: skip
    parts = client.gather(tasks)
    wall_s = time.perf_counter() - start
    rows = sum(p["rows"] for p in parts)
    # Workers predict in parallel: the slowest one sets the pace.
    predict_s = max(p["predict_s"] for p in parts)
    bound_s = max(p["read_s"] for p in parts)
    return {
        "rows": rows,
        "positives": sum(p["positives"] for p in parts),
        "bytes": sum(p["bytes"] for p in parts),
        "predict_s": round(predict_s, 4),
        "wall_s": round(wall_s, 4),
        "rows_per_s": rows / predict_s if predict_s else None,
        "bound_rows_per_s": rows / bound_s if bound_s else None,
        "of_bound": bound_s / predict_s if predict_s else None,
    }


def describe(p: dict[str, Any]) -> str:
    rate = p.get("rows_per_s") or 0.0
    bound = p.get("bound_rows_per_s") or 0.0
    share = p.get("of_bound") or 0.0
    return (f"{p['rows']:,} rows at {rate / 1e6:.1f} M rows/s, {share:.0%} of the bandwidth "
            f"bound ({bound / 1e6:.1f} M rows/s); {p['wall_s']:.2f} s in all")  # fmt: skip


def trained_run(run_id: str) -> dict[str, Any]:
    """The recorded sgd run ``run_id`` (an id or its start), with its weights."""
    from scalecloud.infra.errors import ScalecloudError
    from scalecloud.workloads.records.store import RunStore

    if not run_id:
        raise ScalecloudError(
            "predict needs a trained sgd run", "e.g. --set run=ID (see: scalecloud runs)"
        )
    store = RunStore()
    record = store.get(run_id) or store.find(run_id)
    metrics = record.get("metrics") or {}
    if record.get("workload") != "sgd" or "weights" not in metrics:
        raise ScalecloudError(
            f"run {record['id']} is not a succeeded sgd run with weights",
            "give the id of an sgd run (see: scalecloud runs)",
        )
    return record


def check(params: dict[str, Any]) -> None:
    """The run to predict with exists and has weights (before any cluster is touched);
    ``run`` becomes its full id (this run's own record will share its prefix)."""
    params["run"] = trained_run(params.get("run") or "")["id"]


def run(client: Any, params: dict[str, Any], seed: int, on_event: Any) -> Any:
    """Regenerate the trained run's data on the workers, then predict every row with its
    weights."""
    import scalecloud.workloads.sgd.data as sgd_data
    from scalecloud.infra.events import Event
    from scalecloud.workloads.core import WorkloadResult

    record = trained_run(params["run"])
    trained = dict(record["params"])
    on_event(Event("step", f"generating the data of run {record['id']} on the workers"))
    data = sgd_data.on_workers(client, trained, int(record["seed"]), on_event)
    try:
        from scalecloud.workloads.kmeans.fast import on_partitions

        on_partitions(client, data, shards.summary)  # generated and placed
        on_event(Event("step", "predicting every row on the workers"))
        metrics = on_data(client, data, record["metrics"]["weights"],
                          record["metrics"]["intercept"])  # fmt: skip
    finally:
        client.cancel(data.futures)
    metrics.update(trained_run_id=record["id"], strategy=trained.get("strategy"))
    summary = [("prediction", describe(metrics)), ("weights of", f"run {record['id']}")]
    return WorkloadResult(metrics=metrics, summary=summary)

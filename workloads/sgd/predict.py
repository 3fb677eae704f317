"""Distributed prediction: the weights broadcast to the workers once, then applied to
every partition where it lives ("you just need to distribute your weights").

Rows per second are set against the bandwidth bound: prediction reads every row once,
so it can go no faster than the workers' memory bandwidth, measured on the same rows
(a copy, halved) right after.
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

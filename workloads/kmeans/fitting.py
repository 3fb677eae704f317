"""What both KMeans paths share once the data is chosen: whether partitions keep their
rows in memory, and the fit of partitions already on the workers (generated blocks, or
the user's data read by the workers)."""

from __future__ import annotations

import time
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn


def choose_storage(client: Any, n_rows: int, n_features: int, storage: str) -> str:
    """``memory`` when ``n_rows`` rows (with the fused kernel's float32 copy) fit in half
    the workers' memory, else ``regenerate`` (made or read again in every pass)."""
    import scalecloud.workloads.kmeans.lloyd as lloydkernel

    if storage != "auto":
        return storage
    per_row = n_features * 8
    if lloydkernel.available(n_features):
        per_row += n_features * 4 + 4  # the kernel's float32 copy and norms
    nbytes = n_rows * per_row
    workers = client.scheduler_info()["workers"].values()
    budget = sum(w.get("memory_limit") or 0 for w in workers)
    return "memory" if not budget or nbytes <= 0.5 * budget else "regenerate"


def fit_partitions(
    client: Any, data: Any, params: dict[str, Any], seed: int, on_event: EventFn, source: str
) -> dict[str, Any]:
    """k-means++ on a sample, then Lloyd, on partitions already on the workers (released
    whatever happens); the fit's metrics. ``source`` names the data in errors."""
    import scalecloud.workloads.kmeans.fast as fastkmeans

    try:
        if params["n_clusters"] > data.n:
            raise ScalecloudError(
                f"{params['n_clusters']} clusters need at least as many rows, and "
                f"{source} has {data.n:,}",
                f"lower n_clusters, e.g. --set n_clusters={min(data.n, 12)}",
            )
        on_event(Event("step", "initialising centers with k-means++ on a sample"))
        start = time.perf_counter()
        init = fastkmeans.init_centers(client, data, params["n_clusters"], seed)
        on_event(Event("step", "fitting KMeans (scalecloud, Lloyd)"))
        fit = fastkmeans.fit(
            client, data, init, max_iter=params["max_iter"], tol=params["tol"],
            on_iteration=lambda i, inertia: on_event(
                Event("info", f"iteration {i + 1}: inertia {inertia:.6g}")
            ),
        )  # fmt: skip
        fit_s = time.perf_counter() - start
    finally:
        client.cancel(data.futures)
    return {
        "inertia": fit.inertia,
        "n_iter": fit.n_iter,
        "converged": fit.converged,
        "cluster_sizes": fit.cluster_sizes,
        "inertia_history": fit.inertia_history,
        "pass_s": fit.pass_s,
        "fit_s": round(fit_s, 4),
        "data_bytes": data.n * data.n_features * 8,
        "n_rows": data.n,
        "init_centers": fit.init_centers.tolist(),
        "centers": fit.centers.tolist(),
    }

"""The seed's KMeans workload: blobs generated on the workers in blocks, then fitted."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scalecloud.infra.provider import Event, EventFn
from scalecloud.workloads.core import Param, Workload, WorkloadResult

if TYPE_CHECKING:
    import numpy as np

WORKLOAD = Workload(
    name="kmeans",
    summary="KMeans on a large blob array generated on the workers (the lecture's example)",
    target="scalecloud.workloads.kmeans:run",
    params=(
        Param("n_blocks", "int", 100, "blocks of rows; the lecture uses 500 (1.6 GB)", minimum=1),
        Param("rows_per_block", "int", 20_000, "rows generated per block", minimum=1),
        Param("n_features", "int", 20, "columns of the array", minimum=1),
        Param("n_centers", "int", 12, "blob centers the data is drawn around", minimum=1),
        Param("n_clusters", "int", 12, "clusters to fit", minimum=1),
        Param("init_max_iter", "int", 3, "k-means|| initialisation rounds", minimum=1),
        Param("oversampling_factor", "float", 10.0, "k-means|| oversampling", minimum=1),
        Param("max_iter", "int", 300, "Lloyd iterations at most", minimum=1),
        Param("tol", "float", 1e-4, "stop when the centers move less than this", minimum=0),
    ),
    notes="Seed 0 generates exactly the lecture's data (centers from random_state=0, "
    "block i from random_state=i).",
)


def block_seed(seed: int, index: int) -> int:
    """The random_state of block ``index``: equal to ``index`` for seed 0, as in the lecture."""
    return (seed * 1_000_003 + index) % 2**32


def blob_centers(n_centers: int, n_features: int, seed: int) -> np.ndarray:
    """The lecture's centers: class means of a small make_blobs sample."""
    import numpy as np
    from sklearn.datasets import make_blobs

    x_small, y_small = make_blobs(
        n_samples=1000, centers=n_centers, n_features=n_features, random_state=seed
    )
    return np.stack([x_small[y_small == i].mean(0) for i in range(n_centers)])


def make_block(rows: int, centers: np.ndarray, random_state: int) -> np.ndarray:
    """One block of rows drawn around ``centers``."""
    from sklearn.datasets import make_blobs

    return make_blobs(
        n_samples=rows, centers=centers, n_features=centers.shape[1], random_state=random_state
    )[0]


def make_array(params: dict[str, Any], seed: int) -> Any:
    """The whole dataset as a dask array of ``n_blocks`` lazily generated blocks."""
    import dask
    import dask.array as da
    import numpy as np

    centers = blob_centers(params["n_centers"], params["n_features"], seed)
    rows, cols = params["rows_per_block"], params["n_features"]
    blocks = [
        da.from_delayed(
            dask.delayed(make_block, pure=True)(rows, centers, block_seed(seed, i)),
            shape=(rows, cols),
            dtype=np.float64,
        )
        for i in range(params["n_blocks"])
    ]
    return da.concatenate(blocks)


def block_stats(block: np.ndarray, centers: np.ndarray) -> tuple[float, np.ndarray]:
    """Squared distance of each row to its nearest center, summed, and the cluster sizes."""
    import numpy as np

    distances = (
        (block * block).sum(1)[:, None] - 2.0 * block @ centers.T + (centers * centers).sum(1)
    )
    labels = distances.argmin(1)
    nearest = np.maximum(distances[np.arange(len(block)), labels], 0.0)
    return float(nearest.sum()), np.bincount(labels, minlength=len(centers))


def run(client: Any, params: dict[str, Any], seed: int, on_event: EventFn) -> WorkloadResult:
    import dask
    import numpy as np
    from dask_ml.cluster import KMeans
    from dask_ml.cluster.k_means import k_init

    x = make_array(params, seed)
    on_event(Event("step", f"generating {x.nbytes / 1e9:.2f} GB in {params['n_blocks']} blocks"))
    start = time.perf_counter()
    x = client.persist(x)
    from distributed import wait

    wait(x)
    generate_s = time.perf_counter() - start

    on_event(Event("step", "initialising centers with k-means||"))
    start = time.perf_counter()
    init = k_init(
        x,
        params["n_clusters"],
        init="k-means||",
        random_state=seed,
        max_iter=params["init_max_iter"],
        oversampling_factor=params["oversampling_factor"],
    )
    on_event(Event("step", "fitting KMeans (dask-ml, Lloyd)"))
    model = KMeans(
        n_clusters=params["n_clusters"],
        init=np.asarray(init),
        max_iter=params["max_iter"],
        tol=params["tol"],
        random_state=seed,
    ).fit(x)
    fit_s = time.perf_counter() - start

    # dask-ml's inertia_ is not always the sum of *squared* distances; recompute it.
    centers = np.asarray(model.cluster_centers_)
    parts = dask.compute(*[dask.delayed(block_stats)(b, centers) for b in x.to_delayed().ravel()])
    inertia = float(sum(p[0] for p in parts))
    sizes = np.sum([p[1] for p in parts], axis=0)
    metrics = {
        "inertia": inertia,
        "n_iter": int(model.n_iter_),
        "cluster_sizes": [int(s) for s in sizes],
        "fit_s": round(fit_s, 4),
        "generate_s": round(generate_s, 4),
        "data_bytes": int(x.nbytes),
        "n_rows": int(x.shape[0]),
        "init_centers": np.asarray(init).tolist(),
        "centers": centers.tolist(),
        "implementation": "dask-ml",
    }
    summary = [
        ("inertia", f"{inertia:.6g}"),
        ("iterations", str(metrics["n_iter"])),
        ("cluster sizes", ", ".join(str(s) for s in metrics["cluster_sizes"])),
        ("fit time", f"{fit_s:.2f} s"),
        ("data", f"{x.nbytes / 1e9:.3f} GB ({x.shape[0]:,} × {x.shape[1]})"),
        ("generation time", f"{generate_s:.2f} s"),
    ]
    return WorkloadResult(metrics=metrics, summary=summary)

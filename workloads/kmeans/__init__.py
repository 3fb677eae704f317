"""The seed's KMeans workload: blobs generated on the workers in blocks, then fitted."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scalecloud.infra.events import Event, EventFn
from scalecloud.workloads.core import Param, Workload, WorkloadResult

if TYPE_CHECKING:
    import numpy as np

WORKLOAD = Workload(
    name="kmeans",
    summary="KMeans on a large blob array generated on the workers (the lecture's example)",
    target="scalecloud.workloads.kmeans:run",
    requires="scalecloud.workloads.kmeans.checks:check",
    reproduced=("inertia", "n_iter", "cluster_sizes"),
    headline="inertia {inertia:.6g}",
    artifacts="scalecloud.workloads.kmeans.plots:write",
    params=(
        Param("n_blocks", "int", 100, "blocks of rows; the lecture uses 500 (1.6 GB)", minimum=1),
        Param("rows_per_block", "int", 20_000, "rows generated per block", minimum=1),
        Param("n_features", "int", 20, "columns of the array", minimum=1),
        Param("n_centers", "int", 12, "blob centers the data is drawn around", minimum=1),
        Param("n_clusters", "int", 12, "clusters to fit", minimum=1),
        Param("init_max_iter", "int", 3, "k-means|| rounds (dask-ml)", minimum=1),
        Param("oversampling_factor", "float", 10.0, "k-means|| oversampling (dask-ml)", minimum=1),
        Param("max_iter", "int", 300, "Lloyd iterations at most", minimum=1),
        Param("tol", "float", 1e-4, "relative tolerance on the center shift", minimum=0),
        Param(
            "implementation",
            "str",
            "scalecloud",
            "scalecloud (fast) or dask-ml (for comparison)",
            choices=("scalecloud", "dask-ml"),
        ),
        Param(
            "storage",
            "str",
            "auto",
            "memory keeps blocks on the workers; regenerate rebuilds them every pass "
            "(data larger than memory); auto picks",
            choices=("auto", "memory", "regenerate"),
        ),
        Param(
            "data",
            "data",
            None,
            "your own data instead of generated blobs, read by the workers themselves: a "
            "Parquet file or folder, a CSV file or folder, a .npy file or a Zarr array; a "
            "local path (local clusters) or an s3://, gs:// or abfs:// URL",
            on_workers=True,
        ),
        Param(
            "columns",
            "strs",
            None,
            "columns of --set data (default: every numeric column); for .npy and Zarr, "
            "column indices (0,1,...)",
        ),
    ),
    notes="Seed 0 generates exactly the lecture's data (centers from random_state=0, "
    "block i from random_state=i). scalecloud's implementation starts from k-means++ on a "
    "10,000-row sample and runs scikit-learn's Lloyd algorithm (same iterations and "
    "inertia) on the workers, with a fused kernel for up to 64 features (compiled with "
    "numba on first use, then cached; SCALECLOUD_LLOYD_KERNEL=sklearn uses scikit-learn's); "
    "dask-ml's starts from k-means||.",
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
    """One block of rows drawn around ``centers``: exactly
    ``make_blobs(n_samples=rows, centers=centers, random_state=random_state)[0]``."""
    import numpy as np
    from scalecloud.workloads.kmeans import blobs

    x = np.empty((rows, np.shape(centers)[1]))
    blobs.fill(rows, centers, random_state, x)
    return x


class BlockMaker:
    """``make(i)`` generates block ``i``: a picklable function of the block index alone.

    ``fill`` writes a block straight into arrays that a partition holds (see
    ``partitions.Partition``): its rows, their float32 copy and norms, in one pass."""

    def __init__(self, rows: int, centers: np.ndarray, seed: int) -> None:
        self.rows, self.centers, self.seed = rows, centers, seed

    @property
    def n_features(self) -> int:
        return int(self.centers.shape[1])

    def __call__(self, index: int) -> np.ndarray:
        return make_block(self.rows, self.centers, block_seed(self.seed, index))

    def block_rows(self, index: int) -> int:
        del index  # every block has the same rows
        return int(self.rows)

    def fill(self, index: int, x: np.ndarray, pieces: Any = ()) -> tuple[Any, Any, float]:
        """Block ``index`` into ``x`` and ``pieces``; its mean, m2 and sum of squares (see
        ``blobs.fill``)."""
        from scalecloud.workloads.kmeans import blobs

        return blobs.fill(self.rows, self.centers, block_seed(self.seed, index), x, pieces)


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
    if params.get("data"):
        from scalecloud.workloads.kmeans import userdata

        return userdata.run(client, params, seed, on_event)
    if params["implementation"] == "dask-ml":
        fitted = fit_dask_ml(client, params, seed, on_event)
    else:
        fitted = fit_scalecloud(client, params, seed, on_event)
    metrics = dict(fitted, implementation=params["implementation"])
    summary = [
        ("inertia", f"{metrics['inertia']:.6g}"),
        ("iterations", f"{metrics['n_iter']} ({metrics['converged']})"),
        ("cluster sizes", ", ".join(str(s) for s in metrics["cluster_sizes"])),
        ("fit time", f"{metrics['fit_s']:.2f} s"),
        (
            "data",
            f"{metrics['data_bytes'] / 1e9:.3f} GB ({metrics['n_rows']:,} × {params['n_features']})",
        ),
        ("generation time", f"{metrics['generate_s']:.2f} s"),
        ("implementation", f"{metrics['implementation']} ({metrics['storage']})"),
    ]
    return WorkloadResult(metrics=metrics, summary=summary)


def fit_scalecloud(
    client: Any, params: dict[str, Any], seed: int, on_event: EventFn
) -> dict[str, Any]:
    from scalecloud.workloads.kmeans import fast as fastkmeans
    from scalecloud.workloads.kmeans.fitting import choose_storage, fit_partitions

    centers = blob_centers(params["n_centers"], params["n_features"], seed)
    n_rows = params["n_blocks"] * params["rows_per_block"]
    storage = choose_storage(client, n_rows, params["n_features"], params["storage"])
    on_event(Event("step", f"generating {params['n_blocks']} blocks on the workers ({storage})"))
    start = time.perf_counter()
    data = fastkmeans.scatter_partitions(
        client, BlockMaker(params["rows_per_block"], centers, seed), params["n_blocks"],
        keep=storage == "memory", on_event=on_event,
    )  # fmt: skip
    generate_s = time.perf_counter() - start
    metrics = fit_partitions(client, data, params, seed, on_event, "the data")
    return dict(metrics, generate_s=round(generate_s, 4), storage=storage)


def fit_dask_ml(
    client: Any, params: dict[str, Any], seed: int, on_event: EventFn
) -> dict[str, Any]:
    """The issue-2 path, kept for comparison: dask-ml's k-means|| and Lloyd."""
    import dask
    import numpy as np
    from dask_ml.cluster import KMeans
    from dask_ml.cluster.k_means import k_init
    from distributed import wait

    x = make_array(params, seed)
    on_event(Event("step", f"generating {x.nbytes / 1e9:.2f} GB in {params['n_blocks']} blocks"))
    start = time.perf_counter()
    x = client.persist(x)
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
    return {
        "inertia": float(sum(p[0] for p in parts)),
        "n_iter": int(model.n_iter_),
        "converged": "dask-ml",
        "cluster_sizes": [int(s) for s in np.sum([p[1] for p in parts], axis=0)],
        "fit_s": round(fit_s, 4),
        "generate_s": round(generate_s, 4),
        "data_bytes": int(x.nbytes),
        "n_rows": int(x.shape[0]),
        "storage": "memory",
        "init_centers": np.asarray(init).tolist(),
        "centers": centers.tolist(),
    }

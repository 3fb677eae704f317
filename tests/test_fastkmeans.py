"""scalecloud's distributed KMeans against scikit-learn, on a real two-worker cluster."""

from __future__ import annotations

import numpy as np
import pytest
from distributed import Client, LocalCluster
from scalecloud.workloads import kmeans
from scalecloud.workloads.kmeans import fast as fastkmeans
from sklearn.cluster import KMeans


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield client


def blobs(n_blocks: int, rows: int, n_features: int, n_centers: int, seed: int):
    centers = kmeans.blob_centers(n_centers, n_features, seed)
    make = kmeans.BlockMaker(rows, centers, seed)
    return make, np.concatenate([make(i) for i in range(n_blocks)])


def reference(x, init, tol=1e-4, max_iter=300):
    return KMeans(
        n_clusters=len(init), init=init, n_init=1, tol=tol, max_iter=max_iter, algorithm="lloyd"
    ).fit(x)


@pytest.mark.parametrize("keep", [True, False], ids=["memory", "regenerate"])
def test_same_inertia_labels_and_iterations_as_scikit_learn(client, keep):
    make, x = blobs(n_blocks=6, rows=1500, n_features=4, n_centers=5, seed=11)
    data = fastkmeans.scatter_partitions(client, make, 6, keep=keep)
    # In memory: the rows, and the fused kernel's float32 copy of them and their norms.
    held = x.nbytes + x.nbytes // 2 + len(x) * 4
    assert data.n == len(x) and data.nbytes == (held if keep else 0)
    assert np.allclose(data.variance, x.var(0), rtol=1e-10)
    init = x[[3, 1700, 4000, 6500, 8000]] + 0.5  # a poor start: several iterations
    fit = fastkmeans.fit(client, data, init)
    ref = reference(x, init)
    assert fit.n_iter == ref.n_iter_ > 2
    assert fit.inertia == pytest.approx(ref.inertia_, rel=1e-9)
    assert np.allclose(fit.centers, ref.cluster_centers_, rtol=1e-9, atol=1e-9)
    labels = fastkmeans.gather_labels(client, data)
    assert np.array_equal(labels, ref.labels_)
    assert fit.cluster_sizes == np.bincount(ref.labels_, minlength=5).tolist()
    assert len(fit.inertia_history) == fit.n_iter
    assert fit.inertia_history[0] > fit.inertia_history[-1]


def test_tolerance_convergence_reruns_the_final_e_step(client):
    make, x = blobs(n_blocks=4, rows=1000, n_features=3, n_centers=6, seed=5)
    data = fastkmeans.scatter_partitions(client, make, 4)
    init = x[:6].copy()
    fit = fastkmeans.fit(client, data, init, tol=0.5)
    ref = reference(x, init, tol=0.5)
    assert fit.converged == "tol"
    assert fit.n_iter == ref.n_iter_
    assert fit.inertia == pytest.approx(ref.inertia_, rel=1e-9)
    assert np.array_equal(fastkmeans.gather_labels(client, data), ref.labels_)


def test_max_iter_stops_like_scikit_learn(client):
    make, x = blobs(n_blocks=4, rows=1000, n_features=3, n_centers=6, seed=5)
    data = fastkmeans.scatter_partitions(client, make, 4)
    init = x[:6].copy()
    fit = fastkmeans.fit(client, data, init, tol=0, max_iter=2)
    ref = reference(x, init, tol=0, max_iter=2)
    assert (fit.converged, fit.n_iter, ref.n_iter_) == ("max_iter", 2, 2)
    assert fit.inertia == pytest.approx(ref.inertia_, rel=1e-9)


def test_an_empty_cluster_is_relocated_to_the_farthest_point(client):
    make, x = blobs(n_blocks=2, rows=500, n_features=2, n_centers=3, seed=2)
    data = fastkmeans.scatter_partitions(client, make, 2)
    far = x.max(0) + 1000.0  # a center no point is nearest to
    init = np.vstack([x[0], x[600], far])
    fit = fastkmeans.fit(client, data, init)
    ref = reference(x, init)
    assert min(fit.cluster_sizes) > 0
    assert fit.inertia == pytest.approx(ref.inertia_, rel=1e-9)
    assert sorted(fit.cluster_sizes) == sorted(np.bincount(ref.labels_).tolist())


def test_the_same_seed_gives_the_same_result(client):
    make, _ = blobs(n_blocks=4, rows=1000, n_features=5, n_centers=4, seed=9)
    runs = []
    for _ in range(2):
        data = fastkmeans.scatter_partitions(client, make, 4)
        init = fastkmeans.init_centers(client, data, 4, seed=9)
        runs.append((init, fastkmeans.fit(client, data, init)))
    (init_a, fit_a), (init_b, fit_b) = runs
    assert np.array_equal(init_a, init_b)
    assert fit_a.inertia == fit_b.inertia and fit_a.cluster_sizes == fit_b.cluster_sizes
    data = fastkmeans.scatter_partitions(client, make, 4)
    assert not np.array_equal(fastkmeans.init_centers(client, data, 4, seed=10), init_a)


def test_fitting_the_same_partitions_twice_starts_afresh(client):
    make, x = blobs(n_blocks=4, rows=1000, n_features=3, n_centers=6, seed=5)
    data = fastkmeans.scatter_partitions(client, make, 4)
    one_step = fastkmeans.fit(client, data, x[:6].copy(), max_iter=1, tol=0)
    # The workers still hold the labels of one_step's final E-step, which are exactly the
    # labels of the next fit's first pass: that must not count as converged.
    again = fastkmeans.fit(client, data, one_step.centers, tol=0)
    ref = reference(x, one_step.centers, tol=0)
    assert again.n_iter == ref.n_iter_ > 1
    assert again.inertia == pytest.approx(ref.inertia_, rel=1e-9)


def test_passes_go_straight_to_the_workers_and_fall_back_to_tasks(client, monkeypatch):
    make, x = blobs(n_blocks=4, rows=1000, n_features=3, n_centers=4, seed=9)
    data = fastkmeans.scatter_partitions(client, make, 4)
    init = x[[0, 1500, 2500, 3500]].copy()

    def prefixes():
        return client.run_on_scheduler(lambda dask_scheduler: set(dask_scheduler.task_prefixes))

    direct = fastkmeans.fit(client, data, init)
    assert "lloyd_pass" not in prefixes()  # no task was needed for a pass
    # When a worker does not hold its partition in memory, passes run as tasks instead.
    monkeypatch.setattr(fastkmeans, "_run_on_partition", _nothing_here)
    fallback = fastkmeans.fit(client, data, init)
    assert "lloyd_pass" in prefixes()
    assert fallback.inertia == direct.inertia and fallback.n_iter == direct.n_iter
    assert fallback.inertia == pytest.approx(reference(x, init).inertia_, rel=1e-9)


async def _nothing_here(keys, fn, args, dask_worker=None):
    return fastkmeans._MISSING


def test_a_cluster_without_workers_is_an_error_not_a_crash(monkeypatch):
    from scalecloud.infra.errors import ScalecloudError

    monkeypatch.setattr(fastkmeans, "WAIT_FOR_WORKERS_S", 1.0)
    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        make, _ = blobs(n_blocks=2, rows=10, n_features=2, n_centers=2, seed=1)
        with pytest.raises(ScalecloudError, match=r"no workers \(waited 1 s\)") as info:
            fastkmeans.scatter_partitions(client, make, 2)
        assert "scalecloud scale" in info.value.hint

"""The fused Lloyd kernel against scikit-learn's Lloyd kernel and exact float64 scores."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scalecloud.workloads import kmeans
from scalecloud.workloads.kmeans import lloyd as lloydkernel
from scalecloud.workloads.kmeans import partitions
from sklearn.cluster._k_means_lloyd import lloyd_iter_chunked_dense


def blobs(rows: int, n_features: int, n_centers: int, seed: int) -> np.ndarray:
    centers = kmeans.blob_centers(n_centers, n_features, seed)
    return kmeans.make_block(rows, centers, seed)


def sklearn_pass(x: np.ndarray, centers: np.ndarray):
    """Labels, per-cluster sums and counts from scikit-learn's own kernel."""
    k = len(centers)
    labels = np.empty(len(x), dtype=np.int32)
    means, weight = np.zeros_like(centers), np.zeros(k)
    lloyd_iter_chunked_dense(x, np.ones(len(x)), centers, means, weight, labels, np.zeros(k), 1)
    return labels, means * weight[:, None], weight


def fused_pass(x: np.ndarray, centers: np.ndarray):
    labels = np.full(len(x), -1, dtype=np.int32)
    sums, counts = np.zeros(centers.shape), np.zeros(len(centers))
    changed, rechecked, skipped = lloydkernel.assign(
        lloydkernel.prepare(x), x, centers, labels, sums, counts, lloydkernel.new_bounds(len(x))
    )
    assert skipped == 0  # a first pass computes every row
    return labels, sums, counts, changed, rechecked


# 12 x 20 unrolls the center loop (the lecture's shape); 20 x 20 keeps it a loop.
@pytest.mark.parametrize("k", [12, 20], ids=["unrolled", "center-loop"])
def test_labels_sums_and_counts_equal_scikit_learns(k):
    assert (k * 20 <= lloydkernel.MAX_UNROLLED) == (k == 12)
    x = blobs(5003, 20, k, seed=3)  # not a multiple of the tile
    centers = x[np.random.default_rng(1).choice(len(x), k, replace=False)] + 0.3
    ref_labels, ref_sums, ref_counts = sklearn_pass(x, centers)
    labels, sums, counts, changed, _ = fused_pass(x, centers)
    assert np.array_equal(labels, ref_labels)
    assert np.array_equal(counts, ref_counts)
    np.testing.assert_allclose(sums, ref_sums, rtol=1e-12, atol=1e-9)
    assert changed == len(x)  # every row got its first label


def test_rows_float32_cannot_separate_are_recomputed_in_float64():
    # Far from the origin, with centers 1e-3 apart: float32 scores lose the difference.
    rng = np.random.default_rng(0)
    centers = 1e4 + rng.standard_normal((4, 3)) * 1e-3
    x = 1e4 + rng.standard_normal((2000, 3)) * 1e-3
    labels, sums, counts, _, rechecked = fused_pass(x, centers)
    assert rechecked > 1000
    scores = np.einsum("ij,ij->i", centers, centers)[None, :] - 2.0 * x @ centers.T
    assert np.array_equal(labels, scores.argmin(1))
    assert np.array_equal(labels, sklearn_pass(x, centers)[0])
    np.testing.assert_allclose(sums, np.stack([x[labels == j].sum(0) for j in range(4)]))
    assert counts.tolist() == np.bincount(labels, minlength=4).tolist()


def test_well_separated_rows_are_not_recomputed():
    x = blobs(4000, 5, 3, seed=2)
    _, _, _, _, rechecked = fused_pass(x, kmeans.blob_centers(3, 5, 2))
    assert rechecked < 40


def follow(x: np.ndarray, path: list[np.ndarray]):
    """Passes over ``x`` with the centers of ``path``, each after the first incremental;
    after every pass, (labels, sums, counts, changed, skipped)."""
    prepared, bounds = lloydkernel.prepare(x), lloydkernel.new_bounds(len(x))
    labels = np.full(len(x), -1, dtype=np.int32)
    sums, counts = np.zeros(path[0].shape), np.zeros(len(path[0]))
    seen, previous = [], None
    for centers in path:
        shift = None if previous is None else np.sqrt(((centers - previous) ** 2).sum(1))
        changed, _, skipped = lloydkernel.assign(
            prepared, x, centers, labels, sums, counts, bounds, shift
        )
        seen.append((labels.copy(), sums.copy(), counts.copy(), changed, skipped))
        previous = centers
    return seen


def test_later_passes_skip_rows_that_keep_their_center_and_match_full_passes():
    x = blobs(6000, 8, 6, seed=4)
    rng = np.random.default_rng(2)
    start = x[:6].copy()
    # Lloyd's own path (big first moves, then small ones), a random jump, and a standstill.
    path = [start]
    for _ in range(4):
        labels = sklearn_pass(x, path[-1])[0]
        path.append(np.stack([x[labels == j].mean(0) for j in range(6)]))
    path += [
        path[-1] + rng.standard_normal(start.shape),
        path[-1] + rng.standard_normal(start.shape),
    ]
    path.append(path[-1])
    seen = follow(x, path)
    previous_labels = None
    for centers, (labels, sums, counts, changed, _) in zip(path, seen, strict=True):
        ref_labels, ref_sums, ref_counts = sklearn_pass(x, centers)
        assert np.array_equal(labels, ref_labels)
        assert np.array_equal(counts, ref_counts)
        np.testing.assert_allclose(sums, ref_sums, rtol=1e-10, atol=1e-8)
        if previous_labels is not None:
            assert changed == int((previous_labels != labels).sum())
        previous_labels = labels
    skips = [skipped for *_, skipped in seen]
    assert skips[0] == 0
    # Centers that did not move: every row skipped but the few no bound could separate.
    assert skips[-1] > 0.99 * len(x)
    assert max(skips[2:5]) > len(x) // 2  # small Lloyd steps: most rows skipped
    assert seen[-1][3] == 0


def test_bounds_never_keep_a_label_that_should_change():
    # Many close centers and random moves of every size: any unsound skip shows up as a
    # label that differs from scikit-learn's.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3000, 3))
    centers = rng.standard_normal((9, 3))
    path = [centers]
    for scale in [1e-6, 1e-3, 0.01, 0.1, 0.5, 1e-4, 0.0, 2.0, 1e-8]:
        path.append(path[-1] + scale * rng.standard_normal(centers.shape))
    for centers, (labels, *_rest) in zip(path, follow(x, path), strict=True):
        assert np.array_equal(labels, sklearn_pass(x, centers)[0])


def test_exact_ties_go_to_the_first_center_like_scikit_learn():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    centers = np.array([[0.0, 1.0], [0.0, -1.0], [4.0, 0.0]])  # rows 0, 1: centers 0 and 1 tie
    labels = fused_pass(x, centers)[0]
    assert labels.tolist() == sklearn_pass(x, centers)[0].tolist() == [0, 0, 2]


def test_the_kernel_is_skipped_for_many_features_or_on_request(monkeypatch):
    assert lloydkernel.available(20)
    assert not lloydkernel.available(lloydkernel.MAX_FEATURES + 1)
    monkeypatch.setenv("SCALECLOUD_LLOYD_KERNEL", "sklearn")
    assert not lloydkernel.available(20)


@pytest.mark.parametrize("kernel", ["fused", "fused-3-threads", "sklearn"])
def test_a_partition_pass_is_the_same_with_either_kernel(monkeypatch, kernel):
    if kernel == "sklearn":
        monkeypatch.setenv("SCALECLOUD_LLOYD_KERNEL", "sklearn")
    threads = 3 if kernel == "fused-3-threads" else 1
    monkeypatch.setattr(partitions._local, "threads", threads, raising=False)
    centers = kmeans.blob_centers(4, 6, 9)
    part = partitions.Partition(kmeans.BlockMaker(700, centers, 9), [0, 1, 2], keep=True)
    # One float32 copy per thread, covering the rows in order.
    segments = [(a, b) for a, b, _ in part.segments or []]
    expected = [(i * 2100 // threads, (i + 1) * 2100 // threads) for i in range(threads)]
    assert segments == ([] if kernel == "sklearn" else expected)
    start = part.x[:4] + 0.2
    first = partitions.lloyd_pass(part, start, first=True)
    ref_labels, ref_sums, ref_counts = sklearn_pass(part.x, start)
    assert np.array_equal(part.labels, ref_labels) and first["changed"] == part.n
    np.testing.assert_allclose(first["sums"], ref_sums, rtol=1e-12)
    assert np.array_equal(first["counts"], ref_counts)
    moved = first["sums"] / first["counts"][:, None]
    second = partitions.lloyd_pass(part, moved)
    ref_labels2, ref_sums2, _ = sklearn_pass(part.x, moved)
    assert second["changed"] == int((ref_labels != ref_labels2).sum())
    np.testing.assert_allclose(second["sums"], ref_sums2, rtol=1e-10)


def test_compiled_kernels_are_cached_on_disk(tmp_path):
    code = (
        # numba is imported before the clock starts: only compiling or loading is timed.
        "import time, numba; from scalecloud.workloads.kmeans import lloyd as lk; "
        "t = time.perf_counter(); lk.warm_up(3, 4); print(time.perf_counter() - t)"
    )
    env = {**os.environ, "SCALECLOUD_KERNEL_CACHE": str(tmp_path)}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
    sources = list(tmp_path.glob("scalecloud_lloyd_k3_d4_*.py"))
    assert len(sources) == 1
    assert list((tmp_path / "__pycache__").glob("*.nbi"))  # numba's index of compiled code
    assert float(done.stdout) < 1.0  # the second process loaded, not compiled

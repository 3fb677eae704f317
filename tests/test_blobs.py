"""The KMeans blocks generated in one pass (``kmeans.blobs``) against scikit-learn's
``make_blobs``, and the partitions built from them against NumPy on the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from scalecloud.workloads import kmeans
from scalecloud.workloads.kmeans import blobs
from scalecloud.workloads.kmeans import lloyd as lloydkernel
from scalecloud.workloads.kmeans.partitions import Partition, with_threads
from sklearn.datasets import make_blobs

# (rows, n_centers, n_features, random_state): rows that do not divide by the centers,
# features other than the lecture's 20, seeds from 0 to the largest a block may have.
SHAPES = [(1000, 12, 20, 0), (997, 5, 3, 7), (50, 7, 1, 123), (301, 4, 64, 2**32 - 1)]


@pytest.fixture(params=["numba", "numpy"])
def path(request, monkeypatch):
    """Every test runs with the compiled pass and with its NumPy fallback (no numba)."""
    if request.param == "numpy":
        monkeypatch.setattr(blobs, "_kernel", False)
    else:
        assert blobs.kernel() is not None
    return request.param


def centers_for(n_centers: int, n_features: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed % 1000 + 1).uniform(-10, 10, (n_centers, n_features))


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


@pytest.mark.parametrize(("rows", "n_centers", "n_features", "seed"), SHAPES)
def test_a_block_is_make_blobs_bit_for_bit(path, rows, n_centers, n_features, seed):
    centers = centers_for(n_centers, n_features, seed)
    expected = make_blobs(n_samples=rows, centers=centers, random_state=seed)[0]
    assert np.array_equal(bits(kmeans.make_block(rows, centers, seed)), bits(expected))
    assert np.array_equal(bits(blobs.reference(rows, centers, seed)), bits(expected))
    x = np.full((rows, n_features), np.nan)
    mean, m2, xx = blobs.fill(rows, centers, seed, x)
    assert np.array_equal(bits(x), bits(expected))
    np.testing.assert_allclose(mean, expected.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m2, ((expected - expected.mean(0)) ** 2).sum(0), rtol=1e-10)
    assert xx == pytest.approx(float((expected**2).sum()), rel=1e-12)


def test_the_lecture_blocks_are_make_blobs_of_their_index(path):
    """Seed 0: centers from make_blobs(random_state=0), block i from random_state=i."""
    centers = kmeans.blob_centers(12, 20, 0)
    x_small, y_small = make_blobs(n_samples=1000, centers=12, n_features=20, random_state=0)
    lecture = np.stack([x_small[y_small == i].mean(0) for i in range(12)])
    assert np.array_equal(centers, lecture)
    make = kmeans.BlockMaker(2000, centers, 0)
    for i in (0, 1, 499):
        expected = make_blobs(n_samples=2000, centers=lecture, random_state=i)[0]
        assert np.array_equal(bits(make(i)), bits(expected))


def test_the_float32_copy_and_norms_are_those_of_prepare(path):
    centers = centers_for(6, 9, 4)
    rows = make_blobs(n_samples=1001, centers=centers, random_state=4)[0]
    want_xt, want_norms = lloydkernel.prepare(rows)
    x = np.empty_like(rows)
    # Two pieces, the second written at an offset into a wider array, as in a partition
    # whose segment starts inside a block.
    xt, norms = np.full((9, 1200), np.nan, np.float32), np.full(1200, np.nan, np.float32)
    blobs.fill(1001, centers, 4, x, [(xt, norms, 0, 0, 400), (xt, norms, 199, 400, 1001)])
    assert np.array_equal(x, rows)
    assert np.array_equal(xt[:, :400], want_xt[:, :400])
    assert np.array_equal(xt[:, 599:1200], want_xt[:, 400:])
    assert np.isnan(xt[:, 400:599]).all()
    got_norms = np.concatenate([norms[:400], norms[599:1200]])
    # The same bound up to the order of the float64 sum: at most one float32 step apart.
    np.testing.assert_array_max_ulp(got_norms, want_norms, maxulp=1)
    assert (got_norms >= np.sqrt((rows**2).sum(1))).all()


def lecture_rows(make: kmeans.BlockMaker, ids: list[int]) -> np.ndarray:
    return np.concatenate(
        [
            make_blobs(
                n_samples=make.rows,
                centers=make.centers,
                random_state=kmeans.block_seed(make.seed, i),
            )[0]
            for i in ids
        ]
    )


@pytest.mark.parametrize("threads", [1, 3])
def test_a_partition_holds_the_rows_their_copy_and_statistics(path, threads):
    """Segments split by threads fall inside blocks (3 segments over 4 blocks of 701 rows);
    with 3 threads the blocks are also generated in parallel."""
    make = kmeans.BlockMaker(701, centers_for(5, 7, 2), seed=2)
    ids = [3, 4, 5, 9]
    part = with_threads(threads, Partition, make, ids, True)
    x = lecture_rows(make, ids)
    assert np.array_equal(bits(part.x), bits(x))
    assert part.n == len(x) == 2804
    np.testing.assert_allclose(part.mean, x.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(part.m2, ((x - x.mean(0)) ** 2).sum(0), rtol=1e-10)
    assert part.xx == pytest.approx(float((x**2).sum()), rel=1e-12)
    assert part.segments is not None and len(part.segments) == threads
    assert [(a, b) for a, b, _ in part.segments][-1][1] == len(x)
    for a, b, (xt, norms) in part.segments:
        want_xt, want_norms = lloydkernel.prepare(x[a:b])
        assert np.array_equal(xt, want_xt)
        np.testing.assert_array_max_ulp(norms, want_norms, maxulp=1)
    assert part.nbytes == x.nbytes + x.nbytes // 2 + len(x) * 4


def test_a_regenerated_partition_gives_the_same_rows_and_pieces(path):
    make = kmeans.BlockMaker(333, centers_for(4, 5, 8), seed=8)
    ids = [0, 2, 7]
    part = Partition(make, ids, keep=False)
    x = lecture_rows(make, ids)
    assert part.x is None and part.segments is None and part.n == len(x)
    np.testing.assert_allclose(part.mean, x.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(part.m2, ((x - x.mean(0)) ** 2).sum(0), rtol=1e-10)
    assert np.array_equal(np.concatenate(list(part.chunks())), x)
    starts = []
    for start, stop, (xt, norms), rows in part.pieces():
        starts.append(start)
        assert np.array_equal(rows, x[start:stop])
        want_xt, want_norms = lloydkernel.prepare(x[start:stop])
        assert np.array_equal(xt, want_xt)
        np.testing.assert_array_max_ulp(norms, want_norms, maxulp=1)
    assert starts == [0, 333, 666]


def test_any_callable_still_makes_a_partition():
    """A ``make`` without ``fill`` (e.g. a reader of block i of a file), blocks of uneven
    length: generated, concatenated, prepared as before."""
    generator = np.random.RandomState(0)
    blocks = {i: generator.normal(size=(100 + 37 * i, 3)) for i in range(4)}
    part = with_threads(2, Partition, blocks.__getitem__, [1, 3, 0], True)
    x = np.concatenate([blocks[1], blocks[3], blocks[0]])
    assert np.array_equal(part.x, x) and part.n == len(x)
    np.testing.assert_allclose(part.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(part.m2, ((x - x.mean(0)) ** 2).sum(0), rtol=1e-10)
    assert part.xx == pytest.approx(float((x**2).sum()), rel=1e-12)
    assert part.segments is not None
    for a, b, (xt, norms) in part.segments:
        want_xt, want_norms = lloydkernel.prepare(x[a:b])
        assert np.array_equal(xt, want_xt) and np.array_equal(norms, want_norms)


def test_draws_taken_in_odd_pieces_are_the_same_stream(path, monkeypatch):
    """The legacy generator keeps the spare of each pair of normals in its state."""
    monkeypatch.setattr(blobs, "PIECE", 7)
    centers = centers_for(5, 3, 7)
    x = np.empty((997, 3))
    blobs.fill(997, centers, 7, x)
    expected = make_blobs(n_samples=997, centers=centers, random_state=7)[0]
    assert np.array_equal(bits(x), bits(expected))


def test_without_the_fused_kernel_a_partition_holds_only_the_rows(path, monkeypatch):
    monkeypatch.setenv("SCALECLOUD_LLOYD_KERNEL", "sklearn")
    make = kmeans.BlockMaker(250, centers_for(3, 4, 6), seed=6)
    part = with_threads(2, Partition, make, [1, 0], True)
    x = lecture_rows(make, [1, 0])
    assert part.segments is None and np.array_equal(bits(part.x), bits(x))
    np.testing.assert_allclose(part.m2, ((x - x.mean(0)) ** 2).sum(0), rtol=1e-10)
    assert part.nbytes == x.nbytes

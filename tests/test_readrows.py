"""KMeans's read of the user's data straight into a partition's arrays (``readrows``):
block by block, the rows written from the columns read are exactly what the reader
returns, with the float32 copy, norms and statistics of the same pass; NaN fails the
block; blocks of uneven sizes fit as the rows in memory, kept or read again each pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.data.blocks import BlockReader, plan
from scalecloud.workloads.kmeans import blobs, blockfill
from scalecloud.workloads.kmeans.readrows import ReadBlocks
from test_userdata import assert_same_fit, files, kmeans, rows  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Parquet with integer, boolean and float columns (uneven row groups) and an int32
    ``.npy``: kinds that the reader converts, in blocks of different sizes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(5)
    n = 2500
    table = pa.table({
        "i": pa.array(rng.integers(-1000, 1000, n), pa.int32()),
        "flag": pa.array(rng.random(n) < 0.3),
        "x": pa.array(rng.normal(1e4, 3.0, n)),  # far from 0: m2 must not cancel
        "text": pa.array(["t"] * n),
    })  # fmt: skip
    pq.write_table(table, root / "mixed.parquet", row_group_size=900)
    np.save(root / "ints.npy", rng.integers(0, 50, (n, 5), dtype=np.int32))
    nan = table.set_column(2, "x", pa.array(np.where(np.arange(n) == 1234, np.nan, 1.0)))
    pq.write_table(nan, root / "nan.parquet", row_group_size=900)
    # A null that no statistics announce (so planning cannot see it), in a boolean column.
    flags = pa.array([None if i == 1500 else True for i in range(n)], pa.bool_())
    pq.write_table(table.set_column(1, "flag", flags), root / "null.parquet",
                   row_group_size=900, write_statistics=False)  # fmt: skip
    return {"parquet": root / "mixed.parquet", "npy": root / "ints.npy",
            "nan": root / "nan.parquet", "null": root / "null.parquet"}  # fmt: skip


def blocks_of(location: Any, columns: tuple[str, ...] | None = None) -> ReadBlocks:
    return ReadBlocks(BlockReader(plan(str(location), columns)))


@pytest.mark.parametrize(("kind", "columns"), [("parquet", None), ("npy", ("4", "0", "2"))])
def test_fill_writes_the_rows_the_reader_returns_with_their_copy_and_statistics(
    mixed, kind, columns, monkeypatch
):
    import scalecloud.workloads.data.arrays as arrays

    monkeypatch.setattr(arrays, "BLOCK_BYTES", 20_000)  # several .npy blocks
    make = blocks_of(mixed[kind], columns)
    sizes = [make.block_rows(i) for i in range(len(make))]
    assert len(set(sizes)) > 1  # uneven blocks
    for i, size in enumerate(sizes):
        expected = make(i)
        assert expected.shape == (size, make.n_features)
        x = np.full_like(expected, np.nan)
        xt, norms = (
            np.zeros((make.n_features, size + 3), np.float32),
            np.zeros(size + 3, np.float32),
        )
        # Two pieces, the second at an offset: rows 0..7 and 7..size to columns 3.. of xt.
        stats = make.fill(i, x, [(xt, norms, 3, 0, 7), (xt, norms, 3, 7, size)])
        assert_filled(expected, x, xt[:, 3:], norms[3:], stats)


def assert_filled(expected: Any, x: Any, xt: Any, norms: Any, stats: Any) -> None:
    """``fill`` wrote ``expected``'s rows into ``x``, their float32 copy into ``xt`` and
    norms into ``norms``, and returned their (mean, m2, sum of squares) as ``stats``."""
    mean, m2, xx = stats
    assert np.array_equal(x, expected)
    assert np.array_equal(xt, expected.T.astype(np.float32))
    assert np.allclose(norms, np.sqrt((expected**2).sum(1)), rtol=1e-5)
    assert mean == pytest.approx(expected.mean(0), rel=1e-12)
    assert m2 == pytest.approx(((expected - expected.mean(0)) ** 2).sum(0), rel=1e-9)
    assert xx == pytest.approx(float((expected**2).sum()), rel=1e-12)


def test_without_numba_the_same_rows_and_statistics(mixed, monkeypatch):
    make = blocks_of(mixed["parquet"])
    x = np.empty((make.block_rows(1), make.n_features))
    compiled = make.fill(1, x)
    monkeypatch.setattr(blobs, "kernel", lambda name="fill": None)
    y = np.empty_like(x)
    plain = make.fill(1, y)
    assert np.array_equal(x, y)
    for a, b in zip(compiled, plain, strict=True):
        assert np.allclose(a, b, rtol=1e-9)


def test_nan_read_into_a_partition_fails_naming_its_block(mixed):
    make = blocks_of(mixed["nan"], ("i", "x"))
    x = np.empty((make.block_rows(0), 2))
    make.fill(0, x)  # rows 0..899: no NaN
    with pytest.raises(
        ScalecloudError, match=r"block 1 of .*nan.parquet \(.*row group 1\) holds 1"
    ):
        make.fill(1, np.empty((make.block_rows(1), 2)))
    make = blocks_of(mixed["null"], ("flag", "i"))
    with pytest.raises(ScalecloudError, match=r"block 1 of .*null.parquet .* holds 1 NaN"):
        make.fill(1, np.empty((make.block_rows(1), 2)))


def test_csv_blocks_are_not_filled_their_rows_being_unknown(files):  # noqa: F811
    assert not blockfill.fills(blocks_of(files["csv"]), [0])
    assert blockfill.fills(blocks_of(files["parquet"]), [0, 1])


@pytest.mark.parametrize("storage", ["memory", "regenerate"])
def test_uneven_row_groups_fit_as_the_rows_in_memory(client, files, storage):  # noqa: F811
    # rows.parquet: row groups of 700 rows and a last one of 200.
    metrics = kmeans(client, f"data={files['parquet']}", f"storage={storage}")
    assert metrics["storage"] == storage and metrics["data_blocks"] == 5
    assert_same_fit(metrics, rows())


@pytest.mark.parametrize("compression", ["snappy", "none"])  # decoded by Arrow; plain pages
def test_a_file_rewritten_after_planning_fails_in_one_line(tmp_path, compression):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "moving.parquet"
    table = pa.table({"a": np.arange(100.0)})
    pq.write_table(table, path, row_group_size=50, compression=compression)
    make = blocks_of(path)
    pq.write_table(table, path, row_group_size=40, compression=compression)
    with pytest.raises(ScalecloudError, match=r"block 0 .* has 40 rows, not the 50 planned"):
        make.fill(0, np.empty((make.block_rows(0), 1)))

"""The user's data as KMeans partitions hold it: each block's columns, as the worker reads
them (Parquet's plain float64 pages straight from the file into a reused buffer:
``data.parquetpages``), written by one ``blobs`` kernel (``read_rows``) into the
partition's rows, with the block's statistics and what the fused Lloyd kernel reads
besides: the float32 feature-major copy and row norms. No array is allocated per block.

:class:`ReadBlocks` is the partitions' ``make`` for read data: ``fill`` where the plan
knows each block's rows (Parquet, ``.npy``, Zarr); a CSV block, whose rows are counted as
it is read, is only returned by ``make(i)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.kmeans.blobs import Piece


def fill_columns(
    columns: Sequence[Any], x: Any, pieces: Sequence[Piece] = ()
) -> tuple[Any, Any, float]:
    """Write ``columns`` (1-D arrays of ``len(x)`` numbers) into the rows ``x`` (float64, C
    order) and, where ``pieces`` say, their float32 feature-major copy and norms. Returns
    the mean, m2 (per feature, squared deviations from the mean, summed) and the sum of
    squares, which is finite exactly when the rows are (bar an overflow, which a caller
    checks again).

    One kernel (``blobs``' ``read_rows``) reads the columns where they lie (float64 ones
    as read, even unaligned; others converted first): column by column their statistics
    (vectorized) and float32 copy, then row by row the rows and their norms."""
    import numpy as np
    import scalecloud.workloads.kmeans.blobs as blobs

    n, d = x.shape
    if not n:
        return np.zeros(d), np.zeros(d), 0.0
    held = [np.ascontiguousarray(column, dtype=np.float64) for column in columns]
    # Sums taken about the first row: close enough to the mean that the one-pass m2
    # loses nothing to cancellation.
    shift = np.array([column[0] for column in held])
    s1, s2 = np.zeros(d), np.zeros(d)
    rows = blobs.kernel("read_rows")
    if rows is None:  # no numba: NumPy, more passes, the same rows
        for j, column in enumerate(held):
            x[:, j] = column
        xx = blobs.finish_numpy(x, pieces, shift, s1, s2)
    else:
        addresses = np.array([column.ctypes.data for column in held], np.int64)
        if not pieces:
            xx = rows(addresses, 0, n, shift, s1, s2, x, np.empty((d, 0), np.float32),
                      np.empty(0, np.float32), 0, False)  # fmt: skip
        else:
            xx = sum(rows(addresses, start, stop, shift, s1, s2, x, xt, norms, offset, True)
                     for xt, norms, offset, start, stop in pieces)  # fmt: skip
    mean = shift + s1 / n
    return mean, np.maximum(s2 - s1 * s1 / n, 0.0), float(xx)


class ReadBlocks:
    """``make(i)``: block ``i`` of the user's data as float64 rows, read where it is
    called; and, where the plan knows its rows, ``fill(i, x, pieces)`` writing it into a
    partition's arrays. Picklable: a function of the block index alone."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader  # a data.blocks.BlockReader

    @property
    def n_features(self) -> int:
        return int(self.reader.plan.n_features)

    def __len__(self) -> int:
        return len(self.reader)

    def __call__(self, index: int) -> Any:
        return self.reader(index)

    def block_rows(self, index: int) -> int | None:
        return self.reader.block_rows(index)  # type: ignore[no-any-return]

    def fill(self, index: int, x: Any, pieces: Sequence[Piece] = ()) -> tuple[Any, Any, float]:
        """Block ``index`` read into ``x`` and ``pieces``; its mean, m2 and sum of squares
        (see :func:`fill_columns`). Fails with one line on NaN or infinite values."""
        columns = self.reader.columns(index)
        if columns and len(columns[0]) != len(x):
            raise ScalecloudError(
                f"block {index} of {self.reader.plan.location} ({self.reader.where(index)}) "
                f"has {len(columns[0]):,} rows, not the {len(x):,} planned: the data changed "
                "while it was read",
                "run again once the data no longer changes",
            )
        stats = fill_columns(columns, x, pieces)
        self.reader.check(index, x, stats[2])
        return stats

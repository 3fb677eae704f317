"""The user's data planned into blocks on the client, from metadata alone, and read block
by block on the workers.

:func:`plan` reads only what describes the data (Parquet footers, a CSV's header and
first rows, a ``.npy`` header, Zarr metadata) and checks it: the columns exist and are
numeric, and Parquet's null counts are zero. :class:`BlockReader` is the picklable
``make(i)`` of the workers: block ``i`` as a float64 array (rows × columns), read there
straight from the file or URL, never through the client. What metadata cannot tell (NaN
values in floats, a non-number far down a CSV) is checked as each block is read: the run
then fails with one line naming the block.
"""

from __future__ import annotations

from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.data import arrays, tabular
from scalecloud.workloads.data.locations import access, filesystem, missing
from scalecloud.workloads.data.plan import DataPlan, detect

PLANNERS = {"parquet": tabular.plan_parquet, "csv": tabular.plan_csv,
            "npy": arrays.plan_npy, "zarr": arrays.plan_zarr}  # fmt: skip
READERS = {"parquet": tabular.read_parquet, "csv": tabular.read_csv,
           "npy": arrays.read_npy, "zarr": arrays.read_zarr}  # fmt: skip


def plan(location: str, columns: tuple[str, ...] | None = None) -> DataPlan:
    """``location`` planned into blocks from its metadata; every check that metadata
    allows is made here (before any cluster is touched)."""
    fs, path = filesystem(location)
    with access(location):
        if not fs.exists(path):
            raise missing(location)
        kind = detect(fs, path, location)
        found: DataPlan = PLANNERS[kind](fs, path, location, columns)
    if not found.blocks:
        raise ScalecloudError(f"{location} holds no rows", "give data with at least one row")
    return found


class BlockReader:
    """``make(i)``: block ``i`` of a plan as float64 rows, read where it is called (on a
    worker), a picklable function of the block index alone."""

    def __init__(self, plan: DataPlan) -> None:
        self.plan = plan
        self._fs: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self.plan, "_fs": None}

    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs = filesystem(self.plan.location)[0]
        return self._fs

    def __len__(self) -> int:
        return len(self.plan.blocks)

    def read(self, index: int) -> Any:
        """Block ``index`` as the format reads it: a 2-D array of rows, or (Parquet) a
        list of columns; any numeric dtype, unchecked."""
        with access(self.plan.location):
            return READERS[self.plan.format](self, index)

    def __call__(self, index: int) -> Any:
        import numpy as np

        found = self.read(index)
        if isinstance(found, list):  # columns: one pass from them into rows
            rows = np.stack(found, axis=1).astype(np.float64, copy=False)
        else:
            rows = np.ascontiguousarray(found, dtype=np.float64)
        self.check(index, rows, rows.sum())
        return rows

    def columns(self, index: int) -> list[Any]:
        """Block ``index`` as numeric columns, as read (views of the rows, where the
        format reads rows; of this thread's reused buffer, for Parquet's plain float64
        pages: valid until its next call), unconverted and unchecked: :meth:`check` the
        rows made of them."""
        import numpy as np

        if self.plan.format == "parquet":
            with access(self.plan.location):
                plain = tabular.plain_parquet(self, index)
            if plain is not None:
                return plain
        found = self.read(index)
        if isinstance(found, list):
            return found
        rows = np.asarray(found)
        return [rows[:, j] for j in range(rows.shape[1])]

    def block_rows(self, index: int) -> int | None:
        """The rows of block ``index`` as planned (None for CSV: counted as it is read)."""
        block = self.plan.blocks[index]
        if self.plan.format == "parquet":
            return int(block[2])
        if self.plan.format == "csv":
            return None
        return int(block[1] - block[0])

    def check(self, index: int, rows: Any, total: float) -> None:
        """Fail with one line when block ``index``'s ``rows`` hold NaN or infinite values;
        ``total`` is any sum over them (a finite one proves them finite)."""
        import numpy as np

        if np.isfinite(total) or np.isfinite(rows).all():
            return
        bad = int(np.count_nonzero(~np.isfinite(rows)))
        raise ScalecloudError(
            f"block {index} of {self.plan.location} ({self.where(index)}) holds {bad} NaN "
            "or infinite values",
            "drop or fill the missing values first, or choose other columns",
        )

    def where(self, index: int) -> str:
        """Block ``index`` in words, for errors."""
        block = self.plan.blocks[index]
        if self.plan.format == "parquet":
            return f"{block[0]}, row group {block[1]}"
        if self.plan.format == "csv":
            return f"{block[0]}, bytes {block[1]:,} to {block[1] + block[2]:,}"
        return f"rows {block[0]:,} to {block[1]:,}"

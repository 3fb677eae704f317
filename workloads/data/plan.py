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

from dataclasses import dataclass, field
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.data.locations import access, filesystem, missing

# Blocks of .npy, Zarr and CSV data are about this size (Parquet's are its row groups).
BLOCK_BYTES = 64 * 2**20
FORMATS = ("parquet", "csv", "npy", "zarr")
COLUMNS_HINT = "--set columns=a,b,c (names; column indices for .npy and Zarr)"


@dataclass(frozen=True)
class DataPlan:
    """The data as blocks: ``blocks[i]`` says where block ``i`` lies (per format)."""

    location: str
    format: str
    columns: tuple[Any, ...]  # names (Parquet, CSV) or indices (.npy, Zarr)
    blocks: tuple[Any, ...]
    n_rows: int | None  # None where only reading tells (CSV)
    nbytes: int  # the float64 rows in memory (CSV: estimated from the file size)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return len(self.columns)

    def describe(self) -> str:
        rows = f"{self.n_rows:,} rows" if self.n_rows is not None else "rows counted on read"
        return f"{self.format}, {len(self.blocks)} blocks, {rows} × {self.n_features} columns"


def detect(fs: Any, path: str, location: str) -> str:
    """The format of ``path``: from its suffix, or for a folder from what it holds."""
    name = path.rstrip("/").lower()
    for suffix, found in ((".parquet", "parquet"), (".pq", "parquet"), (".csv", "csv"),
                          (".npy", "npy"), (".zarr", "zarr")):  # fmt: skip
        if name.endswith(suffix):
            return found
    if fs.isdir(path):
        if any(fs.exists(f"{path.rstrip('/')}/{m}") for m in ("zarr.json", ".zarray")):
            return "zarr"
        files = data_files(fs, path)
        for found in ("parquet", "csv"):
            if files and all(f.lower().endswith(_SUFFIXES[found]) for f in files):
                return found
    raise ScalecloudError(
        f"cannot tell the format of {location}",
        "give a .parquet, .csv, .npy or .zarr path, or a folder of Parquet or CSV files",
    )


_SUFFIXES = {"parquet": (".parquet", ".pq"), "csv": (".csv",)}


def data_files(fs: Any, path: str) -> list[str]:
    """The files of a folder dataset, in name order, leaving out hidden and ``_`` files
    (``_SUCCESS``, ``_metadata``)."""
    found = sorted(fs.find(path))
    return [f for f in found if not any(p.startswith((".", "_")) for p in
                                        f[len(path.rstrip("/")) + 1 :].split("/"))]  # fmt: skip


def plan(location: str, columns: tuple[str, ...] | None = None) -> DataPlan:
    """``location`` planned into blocks from its metadata; every check that metadata
    allows is made here (before any cluster is touched)."""
    from scalecloud.workloads.data import arrays, tabular

    fs, path = filesystem(location)
    with access(location):
        if not fs.exists(path):
            raise missing(location)
        kind = detect(fs, path, location)
        planner = {"parquet": tabular.plan_parquet, "csv": tabular.plan_csv,
                   "npy": arrays.plan_npy, "zarr": arrays.plan_zarr}[kind]  # fmt: skip
        found: DataPlan = planner(fs, path, location, columns)
    if not found.blocks:
        raise ScalecloudError(f"{location} holds no rows", "give data with at least one row")
    return found


def pick_columns(available: list[str], numeric: list[str], columns: tuple[str, ...] | None,
                 location: str) -> tuple[str, ...]:  # fmt: skip
    """The columns asked for (all numeric ones by default), each checked."""
    if not columns:
        if not numeric:
            raise ScalecloudError(f"{location} has no numeric columns", COLUMNS_HINT)
        return tuple(numeric)
    for name in columns:
        if name not in available:
            raise ScalecloudError(
                f"column {name!r} is not in {location}",
                f"columns are: {', '.join(available[:20])}; choose with {COLUMNS_HINT}",
            )
        if name not in numeric:
            raise ScalecloudError(
                f"column {name!r} of {location} is not numeric",
                f"numeric columns: {', '.join(numeric[:20]) or 'none'}; choose with "
                f"{COLUMNS_HINT}",
            )
    return tuple(columns)


def pick_indices(width: int, columns: tuple[str, ...] | None, location: str) -> tuple[int, ...]:
    """Column indices of a 2-D array (all by default), each checked."""
    if not columns:
        return tuple(range(width))
    picked = []
    for text in columns:
        try:
            index = int(text)
        except ValueError:
            raise ScalecloudError(
                f"columns of {location} are indices (an array has no column names), got {text!r}",
                f"e.g. --set columns=0,1,2 (0 to {width - 1})",
            ) from None
        if not 0 <= index < width:
            raise ScalecloudError(
                f"column {index} is not in {location}, which has {width} columns",
                f"choose indices 0 to {width - 1} with --set columns=...",
            )
        picked.append(index)
    return tuple(picked)


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

    def __call__(self, index: int) -> Any:
        import numpy as np

        from scalecloud.workloads.data import arrays, tabular

        read = {"parquet": tabular.read_parquet, "csv": tabular.read_csv,
                "npy": arrays.read_npy, "zarr": arrays.read_zarr}[self.plan.format]  # fmt: skip
        with access(self.plan.location):
            rows = read(self, index)
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        if not np.isfinite(rows.sum()) and not np.isfinite(rows).all():
            bad = int(np.count_nonzero(~np.isfinite(rows)))
            raise ScalecloudError(
                f"block {index} of {self.plan.location} ({self.where(index)}) holds {bad} NaN "
                "or infinite values",
                "drop or fill the missing values first, or choose other columns",
            )
        return rows

    def where(self, index: int) -> str:
        """Block ``index`` in words, for errors."""
        block = self.plan.blocks[index]
        if self.plan.format == "parquet":
            return f"{block[0]}, row group {block[1]}"
        if self.plan.format == "csv":
            return f"{block[0]}, bytes {block[1]:,} to {block[1] + block[2]:,}"
        return f"rows {block[0]:,} to {block[1]:,}"

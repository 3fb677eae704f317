"""What a plan of the user's data is (:class:`DataPlan`: its blocks, columns, rows), how
its format is told, and how its columns are chosen; shared by the formats' planners."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scalecloud.infra.errors import ScalecloudError

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
                f"numeric columns: {', '.join(numeric[:20]) or 'none'}; choose with {COLUMNS_HINT}",
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

"""Parquet (a file, or a folder of files) and CSV (a file, or a folder of files): planned
from Parquet footers and a CSV's header, first rows and line ends; read block by block.

A Parquet block is one row group (the unit Parquet can read alone); a CSV block is about
``BLOCK_BYTES`` of whole lines.
"""

from __future__ import annotations

from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.data.locations import scheme
from scalecloud.workloads.data.plan import (
    BLOCK_BYTES,
    COLUMNS_HINT,
    DataPlan,
    data_files,
    pick_columns,
)

SAMPLE_ROWS = 1000  # a CSV's first rows, read on the client to learn its column types


def _numeric(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind)
                or pa.types.is_boolean(kind))  # fmt: skip


def _files(fs: Any, path: str) -> list[str]:
    return data_files(fs, path) if fs.isdir(path) else [path]


def _metadata(fs: Any, file: str, local: bool) -> Any:
    import pyarrow.parquet as pq

    if local:
        return pq.read_metadata(file)
    with fs.open(file, "rb") as handle:
        return pq.read_metadata(handle)


def plan_parquet(fs: Any, path: str, location: str, columns: tuple[str, ...] | None) -> DataPlan:
    """One block per non-empty row group of every file; the columns checked in each
    file's schema, their null counts (where the writer kept statistics) zero."""
    local = scheme(location) == "file"
    chosen: tuple[str, ...] = ()
    blocks = []
    n_rows = 0
    for file in _files(fs, path):
        meta = _metadata(fs, file, local)
        schema = meta.schema.to_arrow_schema()
        names = list(schema.names)
        numeric = [n for n in names if _numeric(schema.field(n).type)]
        if not chosen:
            chosen = pick_columns(names, numeric, columns, location)
        else:
            pick_columns(names, numeric, chosen, f"{location} ({file})")
        index = {meta.schema.column(j).path: j for j in range(meta.num_columns)}
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            if not rows:
                continue
            for name in chosen:
                stats = meta.row_group(group).column(index[name]).statistics
                if stats is not None and stats.has_null_count and stats.null_count:
                    raise ScalecloudError(
                        f"column {name!r} of {location} has {stats.null_count:,} missing "
                        f"values ({file}, row group {group})",
                        f"drop or fill them first, or choose other columns with {COLUMNS_HINT}",
                    )
            blocks.append((file, group, rows))
            n_rows += rows
    return DataPlan(location, "parquet", chosen, tuple(blocks), n_rows,
                    n_rows * len(chosen) * 8, {"local": local})  # fmt: skip


def read_parquet(reader: Any, index: int) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file, group, _ = reader.plan.blocks[index]
    cached = getattr(reader, "_parquet", None)
    if cached is None or cached[0] != file:
        local = reader.plan.extra["local"]
        source = file if local else reader.fs.open(file, "rb")
        # Local files are memory-mapped; remote ones pre-buffered (coalesced range reads).
        cached = (file, pq.ParquetFile(source, memory_map=local, pre_buffer=not local))
        reader._parquet = cached  # type: ignore[attr-defined]
    table = cached[1].read_row_group(group, columns=list(reader.plan.columns), use_threads=False)
    # The columns as Arrow decoded them (no copy for numbers without nulls); a column with
    # nulls as float64, the nulls NaN (which the rows' check then finds).
    columns = [table.column(name) for name in reader.plan.columns]
    return [(c.cast(pa.float64()) if c.null_count else c).to_numpy() for c in columns]


def plain_parquet(reader: Any, index: int) -> list[Any] | None:
    """Block ``index`` of a local Parquet plan read straight from its plain float64 pages
    (``parquetpages``: views of this thread's buffer, valid until its next read), or None
    where its layout needs Arrow (or the file is not local)."""
    import pyarrow.parquet as pq
    from scalecloud.workloads.data import parquetpages

    if not reader.plan.extra["local"]:
        return None
    file, group, rows = reader.plan.blocks[index]
    footers = reader.__dict__.setdefault("_footers", {})  # file: (footer, leaves)
    if file not in footers:
        meta = pq.read_metadata(file)
        leaf = {meta.schema.column(j).path: j for j in range(meta.num_columns)}
        footers[file] = (meta, [leaf.get(name, -1) for name in reader.plan.columns])
    meta, leaves = footers[file]
    if min(leaves) < 0 or group >= meta.num_row_groups:
        return None  # the file changed since it was planned: Arrow says how
    return parquetpages.read_columns(file, meta, group, leaves, rows)


def plan_csv(fs: Any, path: str, location: str, columns: tuple[str, ...] | None) -> DataPlan:
    """Blocks of whole lines, about ``BLOCK_BYTES`` each (the line ends found by small
    reads at each boundary); the columns and their types from the header and first rows
    of the first file, every file's header checked to be the same."""
    import io

    import pandas as pd

    files = _files(fs, path)
    with fs.open(files[0], "rb") as handle:
        sample = pd.read_csv(handle, nrows=SAMPLE_ROWS)
    names = [str(c) for c in sample.columns]
    numeric = [str(c) for c in sample.columns if pd.api.types.is_numeric_dtype(sample[c])]
    chosen = pick_columns(names, numeric, columns, location)
    for name in chosen:
        gaps = int(sample[name].isna().sum())
        if gaps:
            raise ScalecloudError(
                f"column {name!r} of {location} has missing values ({gaps} in its first "
                f"{len(sample)} rows)",
                f"drop or fill them first, or choose other columns with {COLUMNS_HINT}",
            )
    blocks = []
    size_total = 0
    for file in files:
        size = int(fs.size(file))
        size_total += size
        with fs.open(file, "rb") as handle:
            header = handle.readline()
            if [str(c) for c in pd.read_csv(io.BytesIO(header), nrows=0).columns] != names:
                raise ScalecloudError(
                    f"{file} has another header than {files[0]}",
                    "the CSV files of a folder must have the same columns",
                )
            start = len(header)
            while start < size:
                end = _line_end(handle, min(start + BLOCK_BYTES, size), size)
                blocks.append((file, start, end - start))
                start = end
    return DataPlan(location, "csv", chosen, tuple(blocks), None, size_total,
                    {"names": names})  # fmt: skip


def _line_end(handle: Any, offset: int, size: int) -> int:
    """The offset just past the first line end at or after ``offset`` (or ``size``)."""
    step = 1 << 16
    while offset < size:
        handle.seek(offset - 1)
        window = handle.read(step + 1)
        found = window.find(b"\n")
        if found >= 0:
            return offset + found
        offset += step
    return size


def read_csv(reader: Any, index: int) -> Any:
    import io

    import pandas as pd

    file, start, length = reader.plan.blocks[index]
    data = reader.fs.cat_file(file, start=start, end=start + length)
    columns = list(reader.plan.columns)
    try:
        frame = pd.read_csv(
            io.BytesIO(data), header=None, names=reader.plan.extra["names"], usecols=columns,
            dtype=dict.fromkeys(columns, "float64"),
        )  # fmt: skip
    except ValueError as exc:
        raise ScalecloudError(
            f"block {index} of {reader.plan.location} ({reader.where(index)}) has a value "
            f"that is not a number: {exc}",
            f"clean the data, or choose numeric columns with {COLUMNS_HINT}",
        ) from exc
    return frame[columns].to_numpy(dtype="float64")

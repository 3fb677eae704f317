"""A labelled table's usable rows, found and read by the workers, never by the client: a
CSV or Parquet file or folder, local or at an s3://, gs:// or abfs:// URL (sgd's
``--set data``).

The client only lists the files (:func:`survey`). A task per file plans it
(:func:`plan_file`: its columns, which of them are numeric where its schema tells, and its
blocks: Parquet's row groups, or runs of whole CSV lines of about ``BLOCK_BYTES``). A task
per block reads it once (:func:`load_block`): its usable rows (no missing value in the
chosen columns, as pandas' ``dropna`` drops them), features as float32, stay on that
worker; the client is told their count and distinct labels only. Rows are numbered in
file and row order, as if the files were one table, and :func:`rows_of` gathers a range of
them from the blocks that hold it (Dask fetching those of other workers). Blocks are read
on the workers in contiguous runs, so that a range's blocks are mostly on one worker. A
CSV block is cut at a line end, so a quoted value holding a line break is not supported
(as for KMeans's CSV blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.data.locations import access, filesystem

BLOCK_BYTES = 64 * 2**20  # a CSV block's size (a Parquet block is a row group)
LABELS_KEPT = 100  # distinct labels a block reports at most


@dataclass(frozen=True)
class Block:
    """Rows ``start`` of a file: a Parquet row group (``start``: its index, ``size``: its
    rows) or CSV lines (``start``: their first byte, ``size``: their bytes)."""

    file: str
    kind: str
    start: int
    size: int
    names: tuple[str, ...]  # the file's columns (a CSV block has no header of its own)


@dataclass(frozen=True)
class FilePlan:
    file: str
    names: tuple[str, ...]
    not_numeric: tuple[str, ...] | None  # from a Parquet schema; None for CSV
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Count:
    """A block's usable rows, their distinct labels (sorted, at most ``LABELS_KEPT``;
    ``more_labels`` when it has more) and its first feature column that is not numeric."""

    rows: int
    labels: Any
    more_labels: bool
    not_numeric: str | None


@dataclass(frozen=True)
class Survey:
    """What the client learns of the table: its blocks and their counts, in row order."""

    location: str
    features: tuple[str, ...]
    label: str
    blocks: tuple[Block, ...]
    counts: tuple[Count, ...]
    loaded: tuple[Any, ...]  # futures of each block's Loaded rows, on the workers

    @property
    def n_rows(self) -> int:
        return sum(c.rows for c in self.counts)

    @property
    def starts(self) -> list[int]:
        """The number of the first usable row of each block, and the total last."""
        import itertools

        return [0, *itertools.accumulate(c.rows for c in self.counts)]

    def blocks_of(self, lo: int, hi: int) -> tuple[list[Any], list[int]]:
        """The loaded blocks (futures) holding usable rows ``lo`` to ``hi``, and the
        numbers of their first rows."""
        starts = self.starts
        picked = [i for i in range(len(self.blocks))
                  if self.counts[i].rows and starts[i] < hi and starts[i + 1] > lo]  # fmt: skip
        return [self.loaded[i] for i in picked], [starts[i] for i in picked]


@dataclass(frozen=True)
class Loaded:
    """A block's usable rows where they were read: features as float32 (None when one is
    not numeric), labels as read, and what the client is told of them."""

    x: Any
    labels: Any
    count: Count


def plan_file(location: str, kind: str, file: str, block_bytes: int = BLOCK_BYTES) -> FilePlan:
    """On a worker: ``file``'s columns and blocks, from its footer or its header and the
    line ends at each block's boundary."""
    import io

    import pandas as pd
    from scalecloud.workloads.data.tabular import _line_end

    fs = filesystem(location)[0]
    with access(location), fs.open(file, "rb") as handle:
        if kind == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(handle)
            frame = meta.schema_arrow.empty_table().to_pandas()  # pandas' columns and types
            names = tuple(str(c) for c in frame.columns)
            not_numeric = tuple(str(c) for c in frame.columns
                                if not pd.api.types.is_numeric_dtype(frame[c]))  # fmt: skip
            blocks = tuple(
                Block(file, kind, group, meta.metadata.row_group(group).num_rows, names)
                for group in range(meta.num_row_groups)
                if meta.metadata.row_group(group).num_rows
            )
            return FilePlan(file, names, not_numeric, blocks)
        header = handle.readline()
        names = tuple(str(c) for c in pd.read_csv(io.BytesIO(header), nrows=0).columns)
        size = int(fs.size(file))
        found, start = [], len(header)
        while start < size:
            end = _line_end(handle, min(start + block_bytes, size), size)
            found.append(Block(file, kind, start, end - start, names))
            start = end
    return FilePlan(file, names, None, tuple(found))


def read_block(location: str, block: Block, columns: list[str]) -> Any:
    """On a worker: ``columns`` of ``block`` as pandas reads them, usable rows only."""
    import io

    import pandas as pd

    fs = filesystem(location)[0]
    with access(location):
        if block.kind == "parquet":
            import pyarrow.parquet as pq

            with fs.open(block.file, "rb") as handle:
                table = pq.ParquetFile(handle).read_row_group(block.start, columns=columns)
            frame = table.to_pandas()
        else:
            data = fs.cat_file(block.file, start=block.start, end=block.start + block.size)
            frame = pd.read_csv(io.BytesIO(data), header=None, names=list(block.names),
                                usecols=columns)  # fmt: skip
    return frame[columns].dropna()


def load_block(location: str, block: Block, features: list[str], label: str) -> Loaded:
    """On a worker: ``block``'s usable rows, their distinct labels and its first feature
    column that is not numeric."""
    import numpy as np
    import pandas as pd

    frame = read_block(location, block, [*features, label])
    labels = frame[label].to_numpy()
    distinct = np.unique(labels)
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    x = None if bad else frame[features].to_numpy(dtype=np.float32)
    count = Count(len(frame), distinct[:LABELS_KEPT], len(distinct) > LABELS_KEPT,
                  bad[0] if bad else None)  # fmt: skip
    return Loaded(x, labels, count)


def count_of(loaded: Loaded) -> Count:
    return loaded.count


def survey(client: Any, location: str, features: list[str] | None, label: str,
           choose_hint: str, workers: list[str]) -> Survey:  # fmt: skip
    """The table planned and read by tasks on ``workers`` (see the module's docstring);
    ``features`` default to every column of the first file but ``label``."""
    from scalecloud.workloads.tables import table_files

    _, kind, files = table_files(location)  # a listing: no file is opened here
    plans = client.gather([client.submit(plan_file, location, kind, f, BLOCK_BYTES, pure=False)
                           for f in files])  # fmt: skip
    chosen = list(features or [n for n in plans[0].names if n != label])
    for plan in plans:
        gone = [c for c in [*chosen, label] if c not in plan.names]
        if gone:
            raise ScalecloudError(
                f"column {gone[0]!r} is not in {plan.file}",
                f"columns are: {', '.join(plan.names)}; choose with {choose_hint}",
            )
    blocks = tuple(b for plan in plans for b in plan.blocks)
    bad = [c for plan in plans for c in plan.not_numeric or () if c in chosen]
    loaded: tuple[Any, ...] = ()
    if not bad:  # block i on worker i * workers // blocks: contiguous runs
        loaded = tuple(
            client.submit(load_block, location, b, chosen, label, pure=False,
                          workers=[workers[i * len(workers) // len(blocks)]],
                          allow_other_workers=True)
            for i, b in enumerate(blocks)
        )  # fmt: skip
    counts = tuple(client.gather([client.submit(count_of, f, pure=False) for f in loaded]))
    bad += [c.not_numeric for c in counts if c.not_numeric]
    if bad:
        raise ScalecloudError(
            f"feature column {bad[0]!r} of {location} is not numeric",
            "choose numeric columns with --set feature_columns=a,b,...",
        )
    return Survey(location, tuple(chosen), label, blocks, counts, loaded)


def rows_of(parts: list[Loaded], starts: list[int], lo: int, hi: int) -> tuple[Any, Any]:
    """On a worker: usable rows ``lo`` to ``hi`` (numbered over the whole table) of the
    loaded blocks ``parts``, whose first rows are numbered ``starts``: features (float32)
    and labels as read."""
    import numpy as np

    xs, ys = [], []
    for part, start in zip(parts, starts, strict=True):
        a, b = max(lo, start) - start, min(hi, start + part.count.rows) - start
        xs.append(part.x[a:b])
        ys.append(part.labels[a:b])
    if not xs:
        return np.empty((0, 0), np.float32), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)

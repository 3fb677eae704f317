"""Reading the user's data (``kmeans --set data=...``): kmeans's read of a Parquet dataset on
the workers against the bound of reading the same bytes from the page cache, on the same
workers with the same share of blocks each.

    python bench/kmeans.py --read                  # after the fit figures
    python bench/kmeans.py --read-only --n-blocks 500   # the lecture's 1.6 GB alone

The data: the benchmark's generated blocks written as a Parquet dataset in a temporary
folder (``--read-files`` files, one row group per block, uncompressed by default), read
once so that it is in the page cache. Then, per round, each worker reads its blocks at
once (the slowest worker's time, median of the rounds):

- bound: the bytes of its row groups' column chunks read into one new array allocated as
  a partition's rows are (``blobs.allocate``), kept (no decoding); the same into one
  reused buffer is shown too (no page faults: faster than any read that keeps what it
  reads);
- read: kmeans's read of the same blocks into a partition's rows (``ReadBlocks.fill``: the
  pages read and parsed (``data/parquetpages.py``; decompressed, or decoded by Arrow, where
  they must be), the float64 rows, their statistics and the NaN check, in memory from the
  same allocation);
- and, once, ``scatter_partitions`` with that reader: the read plus the fused kernel's
  float32 copy and norms, in the same pass.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def write_dataset(make: Any, n_blocks: int, files: int, folder: Path, compression: str,
                  nullable: bool = False) -> int:  # fmt: skip
    """Blocks ``0..n_blocks-1`` as ``files`` Parquet files, one row group per block; bytes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    for k, ids in enumerate(np.array_split(np.arange(n_blocks), max(1, min(files, n_blocks)))):
        writer = None
        for i in ids:
            block = make(int(i))
            # Required columns by default (no nulls, as the data has none): no definition
            # levels, which Arrow decodes about 3x slower (parquetpages reads both alike).
            schema = pa.schema([pa.field(f"f{j}", pa.float64(), nullable=nullable)
                                for j in range(block.shape[1])])  # fmt: skip
            table = pa.table({f"f{j}": block[:, j] for j in range(block.shape[1])}, schema=schema)
            if writer is None:
                writer = pq.ParquetWriter(
                    folder / f"part-{k:04}.parquet", table.schema, use_dictionary=False,
                    compression=None if compression == "none" else compression,
                )  # fmt: skip
            writer.write_table(table, row_group_size=len(block))
        if writer is not None:
            writer.close()
    return sum(p.stat().st_size for p in folder.iterdir())


def chunk_ranges(plan: Any, ids: list[int]) -> list[tuple[str, int, int]]:
    """(file, offset, length) of the column chunks of blocks ``ids`` (their bytes on disk)."""
    import pyarrow.parquet as pq

    out = []
    metas: dict[str, Any] = {}
    for i in ids:
        file, group, _ = plan.blocks[i]
        meta = metas.setdefault(file, pq.read_metadata(file))
        row_group = meta.row_group(group)
        for j in range(row_group.num_columns):
            column = row_group.column(j)
            start = column.dictionary_page_offset or column.data_page_offset
            out.append((file, start, column.total_compressed_size))
    return out


def read_bytes(ranges: list[tuple[str, int, int]], kept: bool = False) -> float:
    """Seconds to read these byte ranges from the page cache: into one reused buffer, or
    ``kept``, one after another into one new array allocated as a partition's rows are
    (``blobs.allocate``): what any read that keeps its data must at least do."""
    import numpy as np
    from scalecloud.workloads.kmeans import blobs

    start = time.perf_counter()
    total = sum(length for _, _, length in ranges)
    if kept:
        into = memoryview(blobs.allocate(total, np.uint8))
    else:
        into = memoryview(bytearray(max(length for _, _, length in ranges)))
    handles: dict[str, Any] = {}
    at = 0
    try:
        for file, offset, length in ranges:
            handle = handles.get(file) or handles.setdefault(file, open(file, "rb"))  # noqa: SIM115
            handle.seek(offset)
            handle.readinto(into[at : at + length])
            at += length if kept else 0
    finally:
        for handle in handles.values():
            handle.close()
    return time.perf_counter() - start


def read_blocks(make: Any, ids: list[int]) -> float:
    """Seconds for kmeans's read of blocks ``ids`` into one partition's rows, as a
    partition does it (``readrows.ReadBlocks.fill``: the rows, their statistics and the
    NaN check, into memory from ``blobs.allocate``), without the fused kernel's copy."""
    import numpy as np
    from scalecloud.workloads.kmeans import blobs

    start = time.perf_counter()
    sizes = [make.block_rows(i) for i in ids]
    x = blobs.allocate((sum(sizes), make.n_features), np.float64)
    at = 0
    for i, rows in zip(ids, sizes, strict=True):
        make.fill(i, x[at : at + rows])
        at += rows
    seconds = time.perf_counter() - start
    del x
    return seconds


def slowest(client: Any, fn: Any, shares: list[tuple[str, Any]], rounds: int) -> float:
    """Median over ``rounds`` of the slowest worker's seconds, every worker at once."""
    times = []
    for _ in range(rounds):
        futures = [client.submit(fn, arg, workers=[w], pure=False) for w, arg in shares]
        times.append(max(client.gather(futures)))
    return statistics.median(times)


def read_throughput(client: Any, make: Any, n_blocks: int, files: int = 10,
                    compression: str = "none", nullable: bool = False,
                    rounds: int = 5) -> list[str]:  # fmt: skip
    """The lines of the read section (see the module docstring)."""
    import numpy as np
    from scalecloud.workloads.data.blocks import BlockReader, plan
    from scalecloud.workloads.kmeans import fast as fastkmeans
    from scalecloud.workloads.kmeans.readrows import ReadBlocks

    with tempfile.TemporaryDirectory(prefix="scalecloud-read-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        size = write_dataset(make, n_blocks, files, folder, compression, nullable)
        write_s = time.perf_counter() - start
        for path in folder.iterdir():  # into the page cache
            path.read_bytes()
        found = plan(str(folder))
        reader = ReadBlocks(BlockReader(found))
        workers = sorted(client.scheduler_info()["workers"])
        # The blocks each worker gets in scatter_partitions: contiguous, in order.
        share = np.array_split(np.arange(len(found.blocks)), min(len(workers), n_blocks))
        ids = [(w, s.tolist()) for w, s in zip(workers, share, strict=False)]
        ranges = [(w, chunk_ranges(found, s)) for w, s in ids]
        chunk_bytes = sum(length for _, r in ranges for _, _, length in r)
        reused = slowest(client, read_bytes, ranges, rounds)
        bound = slowest(client, lambda r: read_bytes(r, kept=True), ranges, rounds)
        read = slowest(client, lambda s: read_blocks(reader, s), ids, rounds)
        start = time.perf_counter()
        data = fastkmeans.scatter_partitions(client, reader, len(found.blocks))
        scatter_s = time.perf_counter() - start
        client.cancel(data.futures)
    gb = chunk_bytes / 1e9
    return [
        f"data read: {n_blocks} blocks as {files} Parquet files ({compression}, "
        f"{'nullable' if nullable else 'required'} columns), "
        f"{size / 1e9:.2f} GB on disk, written in {write_s:.1f} s; {len(workers)} workers",
        f"  the column chunks' bytes from the page cache, into one reused buffer: "
        f"{reused:.3f} s ({gb / reused:.2f} GB/s)",
        f"  bound, the same bytes into new memory allocated as a partition's rows: {bound:.3f} s "
        f"({gb / bound:.2f} GB/s)",
        f"  kmeans's read into a partition's rows (pages, float64 rows, statistics, NaN check): "
        f"{read:.3f} s ({gb / read:.2f} GB/s)",
        f"  read throughput / bound:          {bound / read:6.0%}   (goal >= 70%); against the "
        f"reused buffer {reused / read:.0%}",
        f"  scatter_partitions with the reader (read + partition statistics and the kernel's "
        f"copy): {scatter_s:.2f} s",
    ]

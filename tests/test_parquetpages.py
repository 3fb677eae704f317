"""Parquet's plain float64 pages read straight from the file (``data.parquetpages``): the
values Arrow decodes, for every layout pyarrow writes that needs no decoding but a codec's
(page versions, several pages, nullable columns without nulls, checksums, page indexes,
every codec); None, and so Arrow, for any other; KMeans's read takes that path without Arrow's decoding, and
writes the same rows, copy, norms and statistics as from Arrow's columns."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scalecloud.workloads.data import parquetpages
from scalecloud.workloads.data.blocks import BlockReader, plan
from scalecloud.workloads.data.parquetpages import Unreadable, read_columns, thrift_struct
from scalecloud.workloads.kmeans.readrows import ReadBlocks
from test_readrows import assert_filled

ROWS = 5000
PLAIN = {"compression": "none", "use_dictionary": False}
READ_HERE = {
    "required": {"nullable": False},
    "optional": {},
    "optional, pages v2": {"data_page_version": "2.0"},
    "required, pages v2": {"nullable": False, "data_page_version": "2.0"},
    "several pages": {"data_page_size": 3000},
    "several pages v2": {"data_page_size": 3000, "data_page_version": "2.0"},
    "no statistics": {"write_statistics": False},
    "page checksums": {"write_page_checksum": True},
    "page index, row groups": {
        "write_page_index": True,
        "data_page_size": 3000,
        "row_group_size": 2000,
    },
}
for codec in ("snappy", "zstd", "gzip", "brotli"):
    READ_HERE[codec] = {"compression": codec}
READ_HERE["snappy, several pages v2"] = {
    "compression": "snappy",
    "data_page_size": 3000,
    "data_page_version": "2.0",
}
READ_HERE["zstd, several pages, optional"] = {"compression": "zstd", "data_page_size": 3000}
ARROW = {
    "codecs differing by column": {
        "compression": {"f0": "snappy", "f1": "zstd", "f2": "none", "f3": "none"}
    },
    "dictionary": {"use_dictionary": True},
    "lz4": {"compression": "lz4"},  # raw or in Hadoop's framing: pyarrow's footer does not say
    "float32": {"dtype": "float32"},
    "int64": {"dtype": "int64"},
}


def write(path: Path, nullable: bool = True, dtype: str = "float64", **options: Any) -> Path:
    """Four columns of ROWS numbers (far from 0, of every magnitude) as Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(3)
    data = {f"f{j}": (rng.normal(10.0**j, 2.0, ROWS) * 1.5**j).astype(dtype) for j in range(4)}
    kind = pa.from_numpy_dtype(np.dtype(dtype))
    schema = pa.schema([pa.field(name, kind, nullable=nullable) for name in data])
    pq.write_table(pa.table(data, schema=schema), path, **{**PLAIN, **options})
    return path


def arrow_columns(path: Path, group: int, names: list[str]) -> list[Any]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read_row_group(group, columns=names)
    return [table.column(name).to_numpy() for name in names]


@pytest.mark.parametrize("layout", READ_HERE)
def test_plain_pages_are_read_as_arrow_decodes_them(tmp_path, layout):
    import pyarrow.parquet as pq

    path = write(tmp_path / "plain.parquet", **READ_HERE[layout])
    meta = pq.read_metadata(path)
    names = ["f2", "f0", "f3"]  # a subset, out of order
    for group in range(meta.num_row_groups):
        rows = meta.row_group(group).num_rows
        columns = read_columns(str(path), meta, group, [2, 0, 3], rows)
        assert columns is not None, layout
        for got, expected in zip(columns, arrow_columns(path, group, names), strict=True):
            assert got.dtype == np.float64 and np.array_equal(got, expected)


@pytest.mark.parametrize("layout", ARROW)
def test_other_layouts_are_left_to_arrow(tmp_path, layout):
    path = write(tmp_path / "other.parquet", **ARROW[layout])
    import pyarrow.parquet as pq

    assert read_columns(str(path), pq.read_metadata(path), 0, [0, 1], ROWS) is None
    reader = BlockReader(plan(str(path), ("f1", "f3")))
    for got, expected in zip(reader.columns(0), arrow_columns(path, 0, ["f1", "f3"]), strict=True):
        assert np.array_equal(got, expected)


def test_a_null_no_statistics_announce_is_left_to_arrow(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = pa.array([None if i == 77 else float(i) for i in range(300)])
    path = tmp_path / "null.parquet"
    pq.write_table(pa.table({"a": values, "b": np.ones(300)}), path,
                   write_statistics=False, **PLAIN)  # fmt: skip
    meta = pq.read_metadata(path)
    assert read_columns(str(path), meta, 0, [0], 300) is None
    assert read_columns(str(path), meta, 0, [1], 300) is not None  # the same file, no null


def test_a_damaged_page_header_is_left_to_arrow(tmp_path):
    import pyarrow.parquet as pq

    path = write(tmp_path / "damaged.parquet")
    meta = pq.read_metadata(path)
    data = bytearray(path.read_bytes())
    data[meta.row_group(0).column(1).data_page_offset] = 0  # its header ends at once
    path.write_bytes(bytes(data))
    assert read_columns(str(path), meta, 0, [0], ROWS) is not None
    assert read_columns(str(path), meta, 0, [0, 1], ROWS) is None


def test_a_damaged_compressed_page_is_left_to_arrow(tmp_path):
    import pyarrow.parquet as pq

    path = write(tmp_path / "damaged.parquet", compression="zstd")
    meta = pq.read_metadata(path)
    data = bytearray(path.read_bytes())
    offset = meta.row_group(0).column(0).data_page_offset
    _, body = thrift_struct(data, offset)
    data[body : body + 4] = b"\0\0\0\0"  # zstd's frame magic number
    path.write_bytes(bytes(data))
    assert read_columns(str(path), meta, 0, [1], ROWS) is not None
    assert read_columns(str(path), meta, 0, [0], ROWS) is None
    with pytest.raises(OSError):  # and Arrow cannot read it either
        arrow_columns(path, 0, ["f0"])


@pytest.mark.parametrize("compression", ["none", "snappy"])
def test_kmeans_reads_plain_pages_without_arrow_and_writes_the_same_rows(
    tmp_path, monkeypatch, compression
):
    import pyarrow.parquet as pq

    path = write(
        tmp_path / "plain.parquet", row_group_size=1700, compression=compression
    )  # 1700, 1700, 1600 rows
    expected = np.stack(arrow_columns(path, 2, ["f0", "f1", "f2", "f3"]), axis=1)
    decoded = []
    monkeypatch.setattr(pq.ParquetFile, "read_row_group",
                        lambda *a, **k: decoded.append(a) or pytest.fail("decoded by Arrow"))  # fmt: skip
    make = ReadBlocks(BlockReader(plan(str(path))))
    assert make.block_rows(2) == 1600
    x = np.full((1600, 4), np.nan)
    xt, norms = np.zeros((4, 1605), np.float32), np.zeros(1605, np.float32)
    stats = make.fill(2, x, [(xt, norms, 5, 0, 11), (xt, norms, 5, 11, 1600)])
    assert not decoded
    assert_filled(expected, x, xt[:, 5:], norms[5:], stats)
    if compression == "none":  # page headers put the values at any byte: unaligned columns
        assert not all(c.flags.aligned for c in make.reader.columns(2))


def test_thrift_compact_structs_as_parquet_writes_them():
    data = bytes([
        0x15, 0x05,  # field 1, i32: -3 (zigzag)
        0x28, 0x02, *b"ab",  # field 3, binary: skipped
        0x19, 0x35, 0x02, 0x04, 0x06,  # field 4, list of 3 i32: skipped
        0x11,  # field 5, bool: true
        0x1C, 0x16, 0xD0, 0x0F, 0x00,  # field 6, struct {1: i64 1000}
        0x05, 0xD8, 0x04, 0x0E,  # field 300 (long form), i32: 7
        0x17, *struct.pack("<d", 2.5),  # field 301, double: skipped
        0x00,
    ])  # fmt: skip
    fields, end = thrift_struct(data, 0)
    assert fields == {1: -3, 3: None, 4: None, 5: True, 6: {1: 1000}, 300: 7, 301: None}
    assert end == len(data)
    with pytest.raises(IndexError):
        thrift_struct(data[:-3], 0)
    with pytest.raises(Unreadable):
        thrift_struct(bytes([0x1C] * 12), 0)  # structs in structs, without end


def test_a_page_made_by_hand_and_headers_that_lie():
    import pyarrow as pa

    header = bytes([
        0x15, 0x00, 0x15, 0x20, 0x15, 0x20,  # data page, 16 bytes (uncompressed and not)
        0x2C, 0x15, 0x04, 0x15, 0x00, 0x15, 0x06, 0x15, 0x06, 0x00,  # 2 values, PLAIN
        0x00,
    ])  # fmt: skip
    page = header + struct.pack("<2d", 1.5, -2.0)
    assert parquetpages.chunk_values(page, 0, len(page), False, 2) == [(page, len(header), 2)]
    with pytest.raises(Unreadable, match="values count"):  # more values than rows
        parquetpages.chunk_values(page, 0, len(page), False, 1)
    with pytest.raises(Unreadable, match="page size"):  # a page beyond its chunk
        parquetpages.chunk_values(page, 0, len(page) - 1, False, 2)
    # A compressed page claiming 2**30 bytes once decompressed, for 2 values: not allocated.
    big = bytes([0x15, 0x00, 0x15, 0x80, 0x80, 0x80, 0x80, 0x08]) + header[4:]
    with pytest.raises(Unreadable, match="decompressed size"):
        parquetpages.chunk_values(
            big + page[len(header) :], 0, len(big) + 16, False, 2, pa.Codec("snappy")
        )
    # A list of 2**60 bools in 3 bytes: refused at once, not walked.
    with pytest.raises(Unreadable, match="list"):
        thrift_struct(bytes([0x19, 0xF1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]), 0)


@pytest.mark.parametrize(("levels", "count", "present"), [
    ([0x05, 0xFF, 0x0F], 12, True),  # bit-packed: 2 groups, the first 12 bits set
    ([0x05, 0xFF, 0x07], 12, False),  # the 12th unset
    ([0x14, 0x01], 10, True),  # a run of ten 1s
    ([0x0A, 0x01, 0x08, 0x00], 9, False),  # five 1s, then four 0s
])  # fmt: skip
def test_definition_levels_show_any_null(levels, count, present):
    data = bytes(levels)
    assert parquetpages._all_present(data, 0, len(data), count) is present


def test_a_row_group_beyond_keep_gets_a_buffer_of_its_own(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(parquetpages, "KEEP", 1000)
    path = write(tmp_path / "plain.parquet")
    meta = pq.read_metadata(path)
    first = read_columns(str(path), meta, 0, [0], ROWS)
    second = read_columns(str(path), meta, 0, [1], ROWS)
    assert first is not None and second is not None
    assert not np.shares_memory(first[0], second[0])  # the first still valid
    assert np.array_equal(first[0], arrow_columns(path, 0, ["f0"])[0])

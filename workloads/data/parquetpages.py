"""Parquet columns read straight from a local file's pages, for the layout that needs no
decoding: DOUBLE values, PLAIN-encoded, without nulls (required columns, or optional ones
whose pages hold no null), uncompressed or compressed by a codec Arrow has (snappy, zstd,
gzip, brotli). Such a column's values lie in the file, or in its decompressed pages, as
the float64 they are, so reading them is one copy out of the page cache into a reused
buffer (and a decompression); through Arrow the same block costs that, new allocations
and a decoding pass more (twice the time on this project's machine: ``bench/README.md``,
"Reading the user's data").

:func:`read_columns` returns None for anything else (a dictionary, LZ4, another type, a
null, a page it does not know, a header it cannot parse, a page that will not
decompress), and the block is then read through Arrow. Page headers are Thrift compact
structs, parsed by :func:`thrift_struct`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

DATA_PAGE, INDEX_PAGE, DATA_PAGE_V2 = 0, 1, 3  # a dictionary page (2) is not read here
PLAIN, RLE = 0, 3
# Parquet's codecs read here, as Arrow names them. LZ4 is left to Arrow: pyarrow's footer
# does not tell raw LZ4 from Hadoop's framing of it.
CODECS = {
    "UNCOMPRESSED": "",
    "SNAPPY": "snappy",
    "ZSTD": "zstd",
    "GZIP": "gzip",
    "BROTLI": "brotli",
}
KEEP = 64 << 20  # the largest buffer a thread keeps for its next block


class Unreadable(Exception):
    """A page this module does not read (the block goes through Arrow)."""


def _varint(buf: Any, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise Unreadable("varint too long")


def _int(buf: Any, pos: int) -> tuple[int, int]:
    value, pos = _varint(buf, pos)
    return (value >> 1) ^ -(value & 1), pos  # zigzag


def _value(buf: Any, pos: int, kind: int, depth: int) -> tuple[Any, int]:
    if kind in (1, 2):  # a bool, held in the field header
        return kind == 1, pos
    if kind == 3:
        return buf[pos], pos + 1
    if kind in (4, 5, 6):
        return _int(buf, pos)
    if kind == 7:
        return None, pos + 8
    if kind == 8:
        size, pos = _varint(buf, pos)
        return None, pos + size
    if kind in (9, 10):  # list, set: skipped
        header = buf[pos]
        size, pos = header >> 4, pos + 1
        if size == 15:
            size, pos = _varint(buf, pos)
        if size > len(buf) - pos:  # every element takes a byte at least
            raise Unreadable("list longer than its bytes")
        for _ in range(size):
            pos = pos + 1 if header & 0x0F in (1, 2) else _value(buf, pos, header & 0x0F, depth)[1]
        return None, pos
    if kind == 12:
        return thrift_struct(buf, pos, depth + 1)
    raise Unreadable(f"thrift type {kind}")  # maps never appear in page headers


def thrift_struct(buf: Any, pos: int, depth: int = 0) -> tuple[dict[int, Any], int]:
    """The struct at ``buf[pos:]`` (Thrift compact protocol) as {field id: value}: numbers
    and nested structs; strings, doubles and lists skipped (None). And where it ends.
    Integers of one byte and short strings, most of a page header, are read inline."""
    if depth > 8:
        raise Unreadable("thrift structs nested too deep")
    fields: dict[int, Any] = {}
    last = 0
    while True:
        byte = buf[pos]
        pos += 1
        if byte == 0:
            return fields, pos
        if byte >> 4:
            last += byte >> 4
        else:
            last, pos = _int(buf, pos)
        kind = byte & 0x0F
        if 4 <= kind <= 6 and buf[pos] < 0x80:  # i16, i32, i64 of one byte
            fields[last] = (buf[pos] >> 1) ^ -(buf[pos] & 1)
            pos += 1
        elif kind == 8 and buf[pos] < 0x80:  # a binary shorter than 128 bytes
            fields[last] = None
            pos += 1 + buf[pos]
        elif kind == 12:
            fields[last], pos = thrift_struct(buf, pos, depth + 1)
        else:
            fields[last], pos = _value(buf, pos, kind, depth)


def _all_present(buf: Any, start: int, end: int, count: int) -> bool:
    """Whether the RLE/bit-packed hybrid definition levels in ``buf[start:end]`` (bit
    width 1) say the first ``count`` values are all present (level 1)."""
    seen, pos = 0, start
    while seen < count:
        if pos >= end:
            return False
        header, pos = _varint(buf, pos)
        if header & 1:  # bit-packed groups of 8 levels, one byte each
            groups = header >> 1
            needed = min(groups * 8, count - seen)
            full, rest = divmod(needed, 8)
            packed = bytes(buf[pos : pos + groups])
            if packed[:full] != b"\xff" * full or (
                rest and packed[full] & ((1 << rest) - 1) != (1 << rest) - 1
            ):
                return False
            seen, pos = seen + groups * 8, pos + groups
        else:  # a run of one level
            run = header >> 1
            if run and buf[pos] != 1:
                return False
            seen, pos = seen + run, pos + 1
    return True


def chunk_values(
    buf: Any, start: int, end: int, optional: bool, rows: int, codec: Any = None
) -> list[tuple[Any, int, int]]:
    """The (buffer, offset, count) of the float64 values of each data page in the column
    chunk ``buf[start:end]`` of ``rows`` values, its pages compressed by ``codec`` (a
    ``pyarrow.Codec``; the buffer is then the page's, decompressed); raises
    :class:`Unreadable` for a page that is not PLAIN without nulls, or any other page but
    an index page."""
    segments = []
    pos, left = start, rows
    while pos < end:
        header, pos = thrift_struct(buf, pos)
        size = header.get(3)
        if not isinstance(size, int) or size < 0 or pos + size > end:
            raise Unreadable("page size")
        source, body, pos = buf, pos, pos + size
        stop, full = pos, header.get(2, -1)  # the body's end; its decompressed size
        kind = header.get(1)
        if kind == INDEX_PAGE:
            continue
        if kind == DATA_PAGE and isinstance(header.get(5), dict):
            page = header[5]
            count = _count(page, left)
            if page.get(2) != PLAIN:
                raise Unreadable("encoding")
            if codec is not None:  # the levels (count bits, RLE-framed at worst) and values
                source, body, stop = _decompress(codec, buf[body:stop], full, 9 * count + 64)
            if optional:
                if page.get(3) != RLE or body + 4 > stop:
                    raise Unreadable("definition levels")
                levels = int.from_bytes(bytes(source[body : body + 4]), "little")
                if not _all_present(source, body + 4, body + 4 + levels, count):
                    raise Unreadable("nulls")
                body += 4 + levels
        elif kind == DATA_PAGE_V2 and isinstance(header.get(8), dict):
            page = header[8]
            count, levels = _count(page, left), page.get(5, 0)
            if page.get(4) != PLAIN or page.get(2, 0) or page.get(6, 0):
                raise Unreadable("encoding, nulls or repetition")
            body += levels  # levels are never compressed, the values are unless said
            if codec is not None and page.get(7, True):
                source, body, stop = _decompress(codec, buf[body:stop], full - levels, 8 * count)
        else:
            raise Unreadable(f"page type {kind}")
        if stop - body != 8 * count:
            raise Unreadable("values size")
        segments.append((source, body, count))
        left -= count
    return segments


def _count(page: dict[int, Any], left: int) -> int:
    """The values of a data page (its struct's field 1): at most the ``left`` to read."""
    count = page.get(1)
    if not isinstance(count, int) or not 0 <= count <= left:
        raise Unreadable("values count")
    return count


def _decompress(codec: Any, data: Any, size: int, most: int) -> tuple[Any, int, int]:
    """``data`` decompressed into ``size`` bytes, at ``most`` (a damaged header allocates
    nothing larger): (their memoryview, 0, size)."""
    if not 0 <= size <= most:
        raise Unreadable("decompressed size")
    found = codec.decompress(data, decompressed_size=size, asbytes=False)
    return memoryview(found).cast("B"), 0, size  # indexed as unsigned bytes


_local = threading.local()


def _buffer(size: int) -> Any:
    """This thread's reused byte buffer, at least ``size`` bytes; a new one, not kept,
    beyond ``KEEP`` bytes (a worker's threads live long)."""
    import numpy as np

    if size > KEEP:
        return np.empty(size, np.uint8)
    buffer = getattr(_local, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _local.buffer = np.empty(max(size, 1 << 20), np.uint8)
    return buffer


def _layout(
    meta: Any, group: int, leaves: Sequence[int]
) -> tuple[list[tuple[int, int, bool]], Any] | None:
    """(file offset, length, optional) of the chunks of ``leaves`` in row group ``group``
    and their codec (a ``pyarrow.Codec``, or None), or None where the footer already says
    they are not read here."""
    import pyarrow as pa

    row_group = meta.row_group(group)
    out, codecs = [], set()
    for leaf in leaves:
        column, schema = row_group.column(leaf), meta.schema.column(leaf)
        if (column.physical_type != "DOUBLE" or column.compression not in CODECS
                or column.has_dictionary_page or column.file_path
                or schema.max_repetition_level or schema.max_definition_level not in (0, 1)):  # fmt: skip
            return None
        codecs.add(CODECS[column.compression])
        out.append((column.data_page_offset, column.total_compressed_size,
                    schema.max_definition_level == 1))  # fmt: skip
    if len(codecs) > 1:  # chunks compressed alike, or through Arrow
        return None
    (name,) = codecs
    if name and not pa.Codec.is_available(name):
        return None
    return out, pa.Codec(name) if name else None


def read_columns(
    file: str, meta: Any, group: int, leaves: Sequence[int], rows: int
) -> list[Any] | None:
    """The columns ``leaves`` (leaf indices) of row group ``group`` of the local Parquet
    ``file`` (``meta``: its footer) as float64 arrays of ``rows`` values, or None where
    they are not in the layout read here. The arrays are views of this thread's buffer:
    valid until its next call."""
    import numpy as np

    found = _layout(meta, group, leaves)
    if found is None:
        return None
    layout, codec = found
    # Chunks that follow one another in the file are read in one call.
    reads: list[tuple[int, int]] = []  # (file offset, length)
    for offset, length, _ in sorted(layout):
        if reads and reads[-1][0] + reads[-1][1] == offset:
            reads[-1] = (reads[-1][0], reads[-1][1] + length)
        else:
            reads.append((offset, length))
    buffer = _buffer(sum(length for _, length in reads) + 8 * rows * len(leaves))
    at, placed = 0, {}
    with open(file, "rb", buffering=0) as handle:
        for offset, length in reads:
            handle.seek(offset)
            if handle.readinto(memoryview(buffer)[at : at + length]) != length:
                return None  # the file is shorter than its footer says: Arrow will say so
            placed[offset] = at
            at += length
    spans, view = sorted(placed.items()), memoryview(buffer)  # indexing a memoryview: ints
    columns = []
    for offset, length, optional in layout:
        base = next(b + offset - o for o, b in reversed(spans) if o <= offset)
        try:
            segments = chunk_values(view, base, base + length, optional, rows, codec)
        except (Unreadable, IndexError, ValueError, OSError):  # OSError: Arrow's codec errors
            return None
        if sum(count for _, _, count in segments) != rows:
            return None
        if len(segments) == 1:
            source, start, _ = segments[0]
            columns.append(np.frombuffer(source, np.float64, rows, start))
            continue
        # Values split over pages: joined after the chunks, in the same buffer.
        column = np.frombuffer(buffer, np.float64, rows, at)
        done = 0
        for source, start, count in segments:
            column[done : done + count] = np.frombuffer(source, np.float64, count, start)
            done += count
        columns.append(column)
        at += 8 * rows
    return columns

"""2-D arrays: a ``.npy`` file (planned from its header; blocks are row ranges read at
their byte offsets) and a Zarr array (planned from its metadata; blocks are whole chunks
of rows). Columns are indices: an array has no column names."""

from __future__ import annotations

from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.data.locations import scheme
from scalecloud.workloads.data.plan import BLOCK_BYTES, DataPlan, pick_indices


def _check_array(shape: tuple[int, ...], dtype: Any, location: str) -> None:
    if len(shape) != 2:
        raise ScalecloudError(
            f"{location} is a {len(shape)}-D array; rows × columns (2-D) are needed",
            "reshape it to (rows, columns) before saving",
        )
    if dtype.kind not in "biuf":
        raise ScalecloudError(
            f"{location} holds {dtype}, not numbers", "save a float or integer array"
        )


def _ranges(n_rows: int, step: int) -> tuple[tuple[int, int], ...]:
    return tuple((start, min(start + step, n_rows)) for start in range(0, n_rows, step))


def plan_npy(fs: Any, path: str, location: str, columns: tuple[str, ...] | None) -> DataPlan:
    import numpy as np

    with fs.open(path, "rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        except ValueError as exc:
            raise ScalecloudError(f"{location} is not a .npy file: {exc}", "save it with "
                                  "numpy.save") from exc  # fmt: skip
        offset = handle.tell()
    _check_array(shape, dtype, location)
    if fortran:
        raise ScalecloudError(
            f"{location} is stored column by column (Fortran order); rows are read in blocks",
            "save numpy.ascontiguousarray(x) instead",
        )
    picked = pick_indices(shape[1], columns, location)
    row_bytes = max(1, shape[1] * dtype.itemsize)
    blocks = _ranges(shape[0], max(1, BLOCK_BYTES // row_bytes))
    extra = {"offset": offset, "dtype": dtype.str, "width": shape[1],
             "local": scheme(location) == "file", "path": path}  # fmt: skip
    return DataPlan(location, "npy", picked, blocks, shape[0], shape[0] * len(picked) * 8, extra)


def read_npy(reader: Any, index: int) -> Any:
    import numpy as np

    start, stop = reader.plan.blocks[index]
    extra = reader.plan.extra
    dtype = np.dtype(extra["dtype"])
    row_bytes = extra["width"] * dtype.itemsize
    begin = extra["offset"] + start * row_bytes
    rows: Any
    if extra["local"]:
        rows = np.memmap(extra["path"], dtype=dtype, mode="r", offset=begin,
                         shape=(stop - start, extra["width"]))  # fmt: skip
    else:
        data = reader.fs.cat_file(
            extra["path"], start=begin, end=begin + (stop - start) * row_bytes
        )
        rows = np.frombuffer(data, dtype=dtype).reshape(stop - start, extra["width"])
    picked = list(reader.plan.columns)
    return rows if picked == list(range(extra["width"])) else rows[:, picked]


def _open_zarr(location: str) -> Any:
    try:
        import zarr
    except ImportError as exc:
        raise ScalecloudError("reading Zarr arrays needs zarr, which is not installed",
                              "pip install zarr") from exc  # fmt: skip

    found = zarr.open(store=location, mode="r")
    if not hasattr(found, "shape"):
        names = sorted(found.array_keys())
        raise ScalecloudError(
            f"{location} is a Zarr group, not an array",
            f"give one of its arrays, e.g. --set data={location.rstrip('/')}/"
            f"{names[0] if names else 'NAME'}",
        )
    return found


def plan_zarr(fs: Any, path: str, location: str, columns: tuple[str, ...] | None) -> DataPlan:
    del fs, path  # Unused: zarr opens the location itself.
    import numpy as np

    array = _open_zarr(location)
    shape, dtype = tuple(array.shape), np.dtype(array.dtype)
    _check_array(shape, dtype, location)
    picked = pick_indices(shape[1], columns, location)
    chunk = int(array.chunks[0])
    per_block = chunk * max(1, BLOCK_BYTES // max(1, chunk * shape[1] * dtype.itemsize))
    blocks = _ranges(shape[0], per_block)
    return DataPlan(location, "zarr", picked, blocks, shape[0], shape[0] * len(picked) * 8, {})


def read_zarr(reader: Any, index: int) -> Any:
    start, stop = reader.plan.blocks[index]
    array = getattr(reader, "_zarr", None)
    if array is None:
        array = reader._zarr = _open_zarr(reader.plan.location)  # type: ignore[attr-defined]
    picked = list(reader.plan.columns)
    rows = array[start:stop]
    return rows if picked == list(range(rows.shape[1])) else rows[:, picked]

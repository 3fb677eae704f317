"""The user's data table (``--set data=PATH_OR_URL``): a CSV or Parquet file or folder,
local or at an s3://, gs:// or abfs:// URL.

On the client, before any cluster: its files listed (:func:`table_files`), its columns and
their types from its header or schema (:func:`check_table`, :func:`column_kinds`).
:func:`read_table` reads it whole into a DataFrame where it is called: on a worker for
gridsearch (a task reads the corpus), on the client for nnsearch and gridsearch's dask-ml
path. KMeans's and sgd's rows are read block by block on the workers (``data/blocks.py``,
``data/rows.py``).
"""

from __future__ import annotations

from typing import Any

from scalecloud.infra.errors import ScalecloudError

READ_HINT = "a CSV with a header row, or Parquet (a file, or a folder of files)"


def table_files(location: str) -> tuple[Any, str, list[str]]:
    """The filesystem, the format (parquet or csv) and the files of ``location`` (from a
    listing: no file is opened)."""
    from scalecloud.workloads.data.locations import access, filesystem, missing
    from scalecloud.workloads.data.plan import data_files, detect

    fs, path = filesystem(location)
    with access(location):
        if not fs.exists(path):
            raise missing(location)
        kind = detect(fs, path, location)
        if kind not in ("parquet", "csv"):
            raise ScalecloudError(f"{location} is a {kind} array, not a table", READ_HINT)
        files = data_files(fs, path) if fs.isdir(path) else [path]
    return fs, kind, files


def table_columns(location: str) -> list[str]:
    """The column names of a CSV or Parquet file or folder, from its first file's header
    (or schema) only."""
    from scalecloud.workloads.data.locations import access

    fs, kind, files = table_files(location)
    with access(location), fs.open(files[0], "rb") as handle:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return [str(name) for name in pq.read_schema(handle).names]
        import pandas as pd

        return [str(name) for name in pd.read_csv(handle, nrows=0).columns]


def check_table(location: str, columns: list[str], choose_hint: str) -> None:
    """Fail before anything runs when ``location`` is missing, unreadable or lacks
    ``columns`` (only its header is read)."""
    found = table_columns(location)
    missing = [c for c in columns if c not in found]
    if missing:
        raise ScalecloudError(
            f"column {missing[0]!r} is not in {location}",
            f"columns are: {', '.join(found)}; choose with {choose_hint}",
        )


def column_kinds(location: str, sample_rows: int = 1000) -> dict[str, bool]:
    """Whether each column of the first file is numeric (as pandas reads it): from a
    Parquet schema, or from a CSV's first ``sample_rows`` rows (a column that is not
    numeric there is not numeric in the whole file either)."""
    import pandas as pd
    from scalecloud.workloads.data.locations import access

    fs, kind, files = table_files(location)
    with access(location), fs.open(files[0], "rb") as handle:
        if kind == "parquet":
            import pyarrow.parquet as pq

            frame = pq.read_schema(handle).empty_table().to_pandas()
        else:
            frame = pd.read_csv(handle, nrows=sample_rows)
    return {str(c): bool(pd.api.types.is_numeric_dtype(frame[c])) for c in frame.columns}


def read_table(location: str, columns: list[str], choose_hint: str) -> Any:
    """``location`` as a pandas DataFrame holding ``columns`` (every file of a folder,
    in name order), with clear errors.

    ``choose_hint`` tells the user how to name other columns (e.g. ``--set label_column=...``).
    """
    import pandas as pd
    from scalecloud.workloads.data.locations import access

    fs, kind, files = table_files(location)
    frames = []
    with access(location):
        for file in files:
            with fs.open(file, "rb") as handle:
                frames.append(pd.read_parquet(handle) if kind == "parquet" else pd.read_csv(handle))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ScalecloudError(
            f"column {missing[0]!r} is not in {location}",
            f"columns are: {', '.join(map(str, frame.columns))}; choose with {choose_hint}",
        )
    return frame

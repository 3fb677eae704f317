"""The user's own data for a workload: one CSV or Parquet file read into a DataFrame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError


def table_columns(path: str) -> list[str]:
    """The column names of a CSV or Parquet file, from its header (or schema) only."""
    file = Path(path)
    if not file.is_file():
        raise ScalecloudError(
            f"data file {path} does not exist",
            "give the path of a CSV or Parquet file (--set data=PATH)",
        )
    try:
        if file.suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return [str(name) for name in pq.read_schema(file).names]
        import pandas as pd

        return [str(name) for name in pd.read_csv(file, nrows=0).columns]
    except Exception as exc:
        raise ScalecloudError(
            f"could not read the header of {path}: {exc}", "CSV with a header row, or Parquet"
        ) from exc


def check_table(path: str, columns: list[str], choose_hint: str) -> None:
    """Fail before anything runs when ``path`` is missing, unreadable or lacks ``columns``
    (only its header is read)."""
    found = table_columns(path)
    missing = [c for c in columns if c not in found]
    if missing:
        raise ScalecloudError(
            f"column {missing[0]!r} is not in {path}",
            f"columns are: {', '.join(found)}; choose with {choose_hint}",
        )


def read_table(path: str, columns: list[str], choose_hint: str) -> Any:
    """``path`` as a pandas DataFrame holding ``columns``, with clear errors.

    ``choose_hint`` tells the user how to name other columns (e.g. ``--set label_column=...``).
    """
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise ScalecloudError(f"data file {path} does not exist", "pass a CSV or Parquet file")
    try:
        frame = pd.read_parquet(file) if file.suffix in (".parquet", ".pq") else pd.read_csv(file)
    except Exception as exc:
        raise ScalecloudError(
            f"could not read {path}: {exc}", "CSV with a header row, or Parquet"
        ) from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ScalecloudError(
            f"column {missing[0]!r} is not in {path}",
            f"columns are: {', '.join(map(str, frame.columns))}; choose with {choose_hint}",
        )
    return frame

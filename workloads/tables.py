"""The user's own data for a workload: one CSV or Parquet file read into a DataFrame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError


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

"""A run's artifacts: its tables as CSV and its plots as PNG, next to its record.

Every run with results gets the workers over time (table and plot) and the tables it
returned; the rest belongs to the workload: its ``artifacts`` function writes its own
tables and plots of the metrics (see :class:`~scalecloud.workloads.core.Workload`).

The helpers here (:func:`write_csv`, :func:`figure`, :func:`save`) are the workloads' too.
matplotlib (a bare Figure, no backend or display needed) is imported only when a plot is
drawn. Every plot has a fixed size in pixels, so files are comparable between runs.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from scalecloud.workloads.registry import find_workload

DPI = 100
# file name -> (width, height) in pixels
SIZES: dict[str, tuple[int, int]] = {"workers.png": (800, 300)}


def write_artifacts(record: dict[str, Any], folder: Path) -> list[str]:
    """Tables as CSV and plots as PNG for what the record holds; returns the file names."""
    names: list[str] = []
    counts = record.get("worker_counts") or []
    if counts:
        write_csv(folder / "workers.csv", [{"seconds": t, "workers": n} for t, n in counts])
        names.append("workers.csv")
    metrics = record.get("metrics") or {}
    workload = None if record.get("kind") == "script" else find_workload(record["workload"])
    if metrics and workload is not None:
        names += [n for n in workload.write_artifacts(metrics, folder) if n not in names]
    for title, rows in (record.get("tables") or {}).items():
        name = f"{_slug(title)}.csv"
        if rows and name not in names:
            write_csv(folder / name, rows)
            names.append(name)
    if counts:
        end = record.get("run_s") or record.get("duration_s")
        names.append(workers_plot(counts, end, folder).name)
    return names


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """``rows`` (flat dicts) as a CSV file, a column for every key; lists joined by spaces."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})


def _cell(value: Any) -> Any:
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else value


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or "table"


def figure(size: tuple[int, int], ncols: int = 1) -> tuple[Any, Any]:
    """A matplotlib Figure of ``size`` pixels with ``ncols`` axes side by side."""
    from matplotlib.figure import Figure

    width, height = size
    # A bare Figure (not pyplot) keeps no global state between plots or threads, and
    # saving it needs no backend: the user's own (Jupyter's inline one) is left alone.
    drawn = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = drawn.subplots(1, ncols)
    return drawn, axes


def save(drawn: Any, folder: Path, name: str) -> Path:
    """The figure as the PNG ``folder/name``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    drawn.savefig(path, dpi=DPI, format="png")
    return path


def workers_plot(worker_counts: list[list[float]], end_s: float | None, folder: Path) -> Path:
    """The number of workers over the run, as steps."""
    drawn, axes = figure(SIZES["workers.png"])
    times = [float(t) for t, _ in worker_counts]
    counts = [int(c) for _, c in worker_counts]
    if times and end_s is not None and end_s > times[-1]:
        times.append(end_s)
        counts.append(counts[-1])
    axes.step(times, counts, where="post", color="#55a868")
    axes.set_ylim(0, max(counts, default=1) + 1)
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("workers")
    axes.set_title("workers over the run")
    return save(drawn, folder, "workers.png")

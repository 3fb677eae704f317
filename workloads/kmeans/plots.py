"""The KMeans workload's artifacts: cluster sizes and inertia per iteration, as CSV
tables and one PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalecloud.workloads.records.artifacts import figure, save, write_csv

# file name -> (width, height) in pixels
SIZES: dict[str, tuple[int, int]] = {"kmeans.png": (1000, 400)}


def write(metrics: dict[str, Any], folder: Path) -> list[str]:
    """``cluster_sizes.csv``, ``inertia_history.csv`` and ``kmeans.png``, for the metrics
    there are; returns the file names."""
    names = []
    if "cluster_sizes" in metrics:
        sizes = metrics["cluster_sizes"]
        write_csv(
            folder / "cluster_sizes.csv", [{"cluster": i, "rows": n} for i, n in enumerate(sizes)]
        )
        names.append("cluster_sizes.csv")
    if metrics.get("inertia_history"):
        passes = metrics.get("pass_s") or []
        rows = [
            {"iteration": i + 1, "inertia": v, "pass_s": passes[i] if i < len(passes) else None}
            for i, v in enumerate(metrics["inertia_history"])
        ]
        write_csv(folder / "inertia_history.csv", rows)
        names.append("inertia_history.csv")
    if "cluster_sizes" in metrics:
        names.append(kmeans_plot(metrics, folder).name)
    return names


def kmeans_plot(metrics: dict[str, Any], folder: Path) -> Path:
    """Cluster sizes (one bar per cluster) and inertia per Lloyd iteration (log scale)."""
    drawn, (sizes_ax, inertia_ax) = figure(SIZES["kmeans.png"], ncols=2)
    sizes = list(metrics.get("cluster_sizes") or [])
    sizes_ax.bar(range(len(sizes)), sizes, color="#4c72b0")
    sizes_ax.set_xticks(range(len(sizes)))
    sizes_ax.set_xlabel("cluster")
    sizes_ax.set_ylabel("rows")
    sizes_ax.set_title(f"cluster sizes ({sum(sizes):,} rows)")
    history = list(metrics.get("inertia_history") or [])
    if history:
        inertia_ax.plot(range(1, len(history) + 1), history, marker="o", color="#dd8452")
        if min(history) > 0:
            inertia_ax.set_yscale("log")
        inertia_ax.set_title(f"inertia per iteration (final {metrics.get('inertia', 0):.6g})")
    else:
        inertia_ax.text(0.5, 0.5, "no per-iteration inertia recorded", ha="center", va="center")
        inertia_ax.set_title(f"inertia {metrics.get('inertia', 0):.6g}")
    inertia_ax.set_xlabel("iteration")
    inertia_ax.set_ylabel("inertia")
    from matplotlib.ticker import MaxNLocator

    inertia_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return save(drawn, folder, "kmeans.png")

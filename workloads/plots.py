"""PNG plots of a run record: KMeans sizes and inertia, grid search scores, workers over time.

matplotlib (Agg backend, no display needed) is imported only when a plot is drawn. Every
plot has a fixed size in pixels (:data:`SIZES`), so files are comparable between runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DPI = 100
# file name -> (width, height) in pixels
SIZES: dict[str, tuple[int, int]] = {
    "kmeans.png": (1000, 400),
    "gridsearch.png": (1000, 500),
    "workers.png": (800, 300),
}


def _figure(name: str, ncols: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    width, height = SIZES[name]
    # A bare Figure (not pyplot) keeps no global state between plots or threads.
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, ncols)
    return figure, axes


def _save(figure: Any, folder: Path, name: str) -> Path:
    path = folder / name
    figure.savefig(path, dpi=DPI, format="png")
    return path


def kmeans_plot(metrics: dict[str, Any], folder: Path) -> Path:
    """Cluster sizes (one bar per cluster) and inertia per Lloyd iteration (log scale)."""
    figure, (sizes_ax, inertia_ax) = _figure("kmeans.png", ncols=2)
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
    return _save(figure, folder, "kmeans.png")


# Columns of a cv_results row that are results, not the candidate's parameters.
_RESULT_COLUMNS = frozenset({"rank", "mean_score", "std_score", "fit_time_s", "score_time_s"})


def _parameters(row: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (k, v) for k, v in row.items() if k not in _RESULT_COLUMNS and not k.startswith("split")
    ]


def _label(row: dict[str, Any]) -> str:
    parts = []
    for key, value in _parameters(row):
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(
            f"α={shown}"
            if key == "alpha"
            else shown
            if key in ("ngram_range", "norm")
            else f"{key}={shown}"
        )
    return " ".join(parts)


def _order(row: dict[str, Any]) -> tuple[Any, ...]:
    # Parameters in order, numbers as numbers; alpha descending (strongest penalty first).
    return tuple(
        (0, -v if k == "alpha" else v, "") if isinstance(v, int | float) else (1, 0, str(v))
        for k, v in _parameters(row)
    )


def gridsearch_plot(metrics: dict[str, Any], folder: Path) -> Path:
    """Mean test score of every candidate with ± one standard deviation across folds; the
    best candidate in another colour."""
    figure, axes = _figure("gridsearch.png")
    rows = sorted(metrics.get("cv_results") or [], key=_order)
    means = [float(r["mean_score"]) for r in rows]
    stds = [float(r.get("std_score", 0.0)) for r in rows]
    colours = ["#c44e52" if r.get("rank") == 1 else "#4c72b0" for r in rows]
    for x, (mean, std, colour) in enumerate(zip(means, stds, colours, strict=True)):
        axes.errorbar(x, mean, yerr=std, fmt="o", color=colour, capsize=4)
    axes.set_xticks(range(len(rows)))
    axes.set_xticklabels([_label(r) for r in rows], rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("mean test score (± std over folds)")
    best = metrics.get("best_score")
    axes.set_title("grid search" + (f": best {best:.4f} (red)" if isinstance(best, float) else ""))
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, folder, "gridsearch.png")


def workers_plot(worker_counts: list[list[float]], end_s: float | None, folder: Path) -> Path:
    """The number of workers over the run, as steps."""
    figure, axes = _figure("workers.png")
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
    return _save(figure, folder, "workers.png")

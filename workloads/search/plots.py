"""A search's artifacts (grid search, network search): every candidate's scores as a CSV
table and one PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalecloud.workloads.records.artifacts import figure, save, write_csv

# file name -> (width, height) in pixels
SIZES: dict[str, tuple[int, int]] = {"gridsearch.png": (1000, 500)}


def write(metrics: dict[str, Any], folder: Path) -> list[str]:
    """``cv_results.csv`` and ``gridsearch.png`` when there are candidates; their names."""
    if not metrics.get("cv_results"):
        return []
    write_csv(folder / "cv_results.csv", metrics["cv_results"])
    return ["cv_results.csv", gridsearch_plot(metrics, folder).name]


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
    drawn, axes = figure(SIZES["gridsearch.png"])
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
    return save(drawn, folder, "gridsearch.png")

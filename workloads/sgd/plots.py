"""The SGD workload's artifacts: loss and held-out accuracy per epoch as a CSV table,
and one PNG plot of both against wall-clock time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalecloud.workloads.records.artifacts import figure, save, write_csv

# file name -> (width, height) in pixels
SIZES: dict[str, tuple[int, int]] = {"sgd.png": (1000, 400)}


def write(metrics: dict[str, Any], folder: Path) -> list[str]:
    """``epochs.csv`` and ``sgd.png`` when there is a history; their names."""
    history = metrics.get("history") or []
    if not history:
        return []
    write_csv(folder / "epochs.csv", history)
    return ["epochs.csv", sgd_plot(metrics, folder).name]


def sgd_plot(metrics: dict[str, Any], folder: Path) -> Path:
    """Training loss and held-out accuracy against training time (one marker per epoch)."""
    drawn, (loss_ax, acc_ax) = figure(SIZES["sgd.png"], ncols=2)
    history = metrics["history"]
    times = [h["time_s"] for h in history]
    strategy = metrics.get("strategy", "")
    loss_ax.plot(times, [h["loss"] for h in history], marker="o", color="#4c72b0")
    target = metrics.get("target_loss")
    if target is not None:
        loss_ax.axhline(target, color="#999999", linestyle="--", linewidth=1)
        reached = metrics.get("time_to_target_s")
        if reached is not None:
            loss_ax.axvline(reached, color="#999999", linestyle=":", linewidth=1)
    loss_ax.set_xlabel("training time (s)")
    loss_ax.set_ylabel("training loss")
    loss_ax.set_title(f"loss vs time ({strategy}; final {metrics.get('loss', 0):.5g})")
    acc_ax.plot(times, [h["accuracy"] for h in history], marker="o", color="#dd8452")
    acc_ax.set_xlabel("training time (s)")
    acc_ax.set_ylabel("held-out accuracy")
    acc_ax.set_title(f"held-out accuracy (final {metrics.get('accuracy', 0):.4f})")
    return save(drawn, folder, "sgd.png")

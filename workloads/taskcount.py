"""A scheduler plugin that counts tasks submitted, finished and failed, for progress bars.

This module is shipped to the scheduler by value (cloudpickle), so a scheduler without
scalecloud installed (a Kubernetes pod) can run it: it imports only distributed.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

PLUGIN_NAME = "scalecloud-task-count"
_STARTED = ("waiting", "queued", "processing", "no-worker")


class TaskCount(SchedulerPlugin):
    """Cumulative counts since registration: ``total`` tasks entered the graph,
    ``done`` reached memory, ``erred`` failed; cancelled tasks leave ``total``."""

    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.erred = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start == "released" and finish in _STARTED:
            self.total += 1
        elif finish == "memory" and start in _STARTED:
            self.done += 1
        elif finish == "erred":
            self.erred += 1
        elif finish in ("released", "forgotten") and start in _STARTED:
            self.total -= 1


def snapshot(dask_scheduler: Any) -> dict[str, Any]:
    """Counts, worker count and worker addresses, read on the scheduler
    (``client.run_on_scheduler``)."""
    plugin = dask_scheduler.plugins.get(PLUGIN_NAME)
    counts: dict[str, Any] = {"total": 0, "done": 0, "erred": 0}
    if plugin is not None:
        counts = {"total": plugin.total, "done": plugin.done, "erred": plugin.erred}
    counts["workers"] = len(dask_scheduler.workers)
    counts["addresses"] = sorted(dask_scheduler.workers)  # a replaced worker has a new one
    return counts

"""Task progress of a running workload, polled from the scheduler and sent as events."""

from __future__ import annotations

import threading
import time
from typing import Any

from scalecloud.infra.events import Event, EventFn


class ProgressMonitor:
    """Polls the task counts on the scheduler every ``interval`` seconds in a thread and
    emits ``progress`` events (``done``, ``total``, ``erred``, ``workers``).

    Also keeps the worker count over time in ``worker_counts`` as (seconds, count).
    """

    def __init__(self, client: Any, on_event: EventFn, interval: float = 0.5) -> None:
        self.client = client
        self.on_event = on_event
        self.interval = interval
        self.worker_counts: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scalecloud-progress", daemon=True)
        self._started = 0.0

    def __enter__(self) -> ProgressMonitor:
        import cloudpickle
        from scalecloud.workloads import taskcount

        cloudpickle.register_pickle_by_value(taskcount)
        self.client.register_plugin(taskcount.TaskCount(), name=taskcount.PLUGIN_NAME)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.poll()

    def poll(self) -> None:
        from scalecloud.workloads import taskcount

        try:
            counts = self.client.run_on_scheduler(taskcount.snapshot)
        except Exception:  # a closing or busy scheduler just skips one update
            return
        elapsed = round(time.monotonic() - self._started, 2)
        if not self.worker_counts or self.worker_counts[-1][1] != counts["workers"]:
            self.worker_counts.append((elapsed, counts["workers"]))
        self.on_event(Event("progress", data=counts))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

"""Task progress of a running workload, polled from the scheduler and sent as events; and
the watch on workers: a lost worker is reported at once, and a cluster left without any
worker for longer than a deadline ends the run instead of letting it wait forever."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn

NO_WORKER_TIMEOUT_ENV = "SCALECLOUD_NO_WORKER_TIMEOUT"
NO_WORKER_TIMEOUT_S = 120.0
SCHEDULER_TIMEOUT_S = 30.0  # a scheduler that answers nothing for this long is gone
# An adaptive cluster that starts with no worker may first have to add nodes (minutes on a
# cloud): its first worker gets at least this long.
FIRST_WORKER_TIMEOUT_S = 600.0


def no_worker_timeout() -> float:
    """Seconds a run waits with no worker at all: ``SCALECLOUD_NO_WORKER_TIMEOUT`` or 120."""
    raw = os.environ.get(NO_WORKER_TIMEOUT_ENV, "").strip()
    if not raw:
        return NO_WORKER_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError as exc:
        raise ScalecloudError(
            f"{NO_WORKER_TIMEOUT_ENV}={raw!r} is not a number of seconds",
            f"set it to a number, e.g. {NO_WORKER_TIMEOUT_ENV}=300",
        ) from exc
    return max(0.0, value)


def all_workers_lost(waited: float) -> ScalecloudError:
    """The one error of a run whose cluster lost every worker and got none back."""
    return ScalecloudError(
        f"all workers were lost, and none came back within {waited:.0f} s",
        "give the cluster workers (scalecloud scale N, or scalecloud scale --adapt 1:MAX) and "
        f"submit the run again; spot nodes can all go at once; {NO_WORKER_TIMEOUT_ENV} sets "
        "the wait",
    )


class ProgressMonitor:
    """Polls the task counts on the scheduler every ``interval`` seconds in a thread and
    emits ``progress`` events (``done``, ``total``, ``erred``, ``workers``).

    Also keeps the worker count over time in ``worker_counts`` as (seconds, count).
    """

    def __init__(
        self, client: Any, on_event: EventFn, interval: float = 0.5,
        end_run: Callable[[], None] | None = None, initial_deadline: float = 0.0,
    ) -> None:  # fmt: skip
        self.client = client
        self.on_event = on_event
        self.interval = interval
        # Called (from the monitor's thread) to end the run: no worker for the deadline, or
        # no answer from the scheduler for SCHEDULER_TIMEOUT_S.
        self.end_run = end_run
        self.deadline = no_worker_timeout()
        self.initial_deadline = initial_deadline
        self.none_since: float | None = None
        self.unreachable_since: float | None = None
        self.addresses: set[str] | None = None
        self.gave_up: ScalecloudError | None = None
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
            # callback_timeout goes to Client.sync: an unanswered call gives up in 10 s.
            counts = self.client.run_on_scheduler(taskcount.snapshot, callback_timeout=10)
        except Exception:  # a closing or busy scheduler skips one update; a gone one ends
            self._watch_scheduler()
            return
        self.unreachable_since = None
        elapsed = round(time.monotonic() - self._started, 2)
        addresses = set(counts.pop("addresses", ()))
        before = self.worker_counts[-1][1] if self.worker_counts else None
        if before != counts["workers"]:
            self.worker_counts.append((elapsed, counts["workers"]))
        if self.addresses is not None:
            self._workers_changed(self.addresses - addresses, counts["workers"])
        self.addresses = addresses
        self._watch_empty(counts["workers"])
        self.on_event(Event("progress", data=counts))

    def _workers_changed(self, gone: set[str], now: int) -> None:
        """Workers that left since the last poll (a worker replaced between two polls has
        a new address, so it is seen too)."""
        if gone and now == 0:
            self.on_event(
                Event("warning", f"all workers were lost ({len(gone)} gone); waiting up to "
                      f"{self.deadline:.0f} s for one to come back (adaptive scaling, or: "
                      "scalecloud scale N)")
            )  # fmt: skip
        elif gone:
            lost = len(gone)
            self.on_event(
                Event("warning", f"{lost} worker{'s were' if lost > 1 else ' was'} lost or "
                      f"retired ({now} now): the run goes on, Dask recomputes what was lost")
            )  # fmt: skip
        elif now and self.none_since is not None:
            self.on_event(Event("info", f"{now} worker{'s' if now > 1 else ''} joined; resuming"))

    def _watch_scheduler(self) -> None:
        now = time.monotonic()
        self.unreachable_since = self.unreachable_since or now
        waited = now - self.unreachable_since
        if self.gave_up is None and waited >= min(SCHEDULER_TIMEOUT_S, self.deadline):
            self.gave_up = ScalecloudError(
                f"lost the scheduler: it has not answered for {waited:.0f} s",
                "see what is left with: scalecloud status; clean up with: scalecloud down",
            )
            self._give_up()

    def _give_up(self) -> None:
        self._stop.set()
        if self.end_run is not None:
            self.end_run()

    def _watch_empty(self, workers: int) -> None:
        """The deadline runs while no worker is there: from the last one's loss, or from the
        start for a cluster that starts empty (``initial_deadline``: an adaptive cluster
        may have to start nodes first)."""
        now = time.monotonic()
        if workers:
            self.none_since = None
            return
        had_workers = any(count for _, count in self.worker_counts)
        deadline = self.deadline if had_workers else max(self.deadline, self.initial_deadline)
        self.none_since = self.none_since or now
        if self.gave_up is None and now - self.none_since >= deadline:
            self.gave_up = all_workers_lost(now - self.none_since)
            self._give_up()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

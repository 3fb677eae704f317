"""KMeans runs that survive losing workers, and never hang waiting for one.

Every wait on the workers here polls the scheduler's list of workers (``Client.nthreads``)
at least every :data:`POLL_S` seconds:

* a call to a worker that leaves the list is abandoned, and the partitions it held are
  *lost*; the scheduler recomputes their futures (``Partition`` from its block ids, so
  from the blocks' seeds) on the remaining or replacement workers, and :func:`place`
  waits for that and finds where they now live;
* :class:`Watch` reports every loss as a ``warning`` event at once, and fails the run
  with one :class:`ScalecloudError` when no worker is left for longer than the deadline
  (``SCALECLOUD_NO_WORKER_TIMEOUT`` seconds, 120 by default).

What a rebuilt partition lacks (its labels and Hamerly bounds) is recomputed on it by the
next pass (``partitions.lloyd_pass``), so a fit that loses a worker gives the result of
an undisturbed one.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn, no_events
from scalecloud.workloads.progress import all_workers_lost, no_worker_timeout

POLL_S = 0.5
# How long a worker that does not answer may stay on the scheduler's list before the run
# gives up on it (the scheduler drops a killed local worker at once; a vanished node only
# after its heartbeats stop).
UNREACHABLE_S = 60.0


class Watch:
    """The workers of one run: reports losses as events, and fails the run when none is
    left for longer than ``timeout`` seconds."""

    def __init__(self, on_event: EventFn | None = None, timeout: float | None = None) -> None:
        self.on_event = on_event or no_events
        self.timeout = no_worker_timeout() if timeout is None else timeout
        self.known: set[str] = set()
        self.lost: list[str] = []
        self._empty_since: float | None = None

    def live(self, client: Any) -> set[str]:
        """The workers on the scheduler's list now, after reporting changes (may raise)."""
        workers = set(client.nthreads())
        self.check(workers)
        return workers

    def check(self, workers: set[str]) -> None:
        gone = sorted(self.known - workers)
        self.known = set(workers)
        if gone:
            self.lost += gone
            names = ", ".join(gone)
            if workers:
                self.on_event(Event(
                    "warning",
                    f"lost {len(gone)} worker(s) ({names}); recovering: their partitions "
                    f"are rebuilt from the block seeds on the {len(workers)} remaining "
                    "worker(s) and the fit goes on from the current centers",
                    data={"lost": gone, "workers": len(workers)},
                ))  # fmt: skip
            else:
                self.on_event(Event(
                    "warning",
                    f"lost {len(gone)} worker(s) ({names}): no worker left; waiting up to "
                    f"{self.timeout:.0f} s for one to come back",
                    data={"lost": gone, "workers": 0},
                ))  # fmt: skip
        if workers:
            if self._empty_since is not None:
                self.on_event(Event("info", f"{len(workers)} worker(s) back; recovering"))
            self._empty_since = None
            return
        now = time.monotonic()
        if self._empty_since is None:
            self._empty_since = now
        if now - self._empty_since >= self.timeout:
            raise all_workers_lost(now - self._empty_since)


def place(client: Any, watch: Watch, futures: list[Any], homes: list[str],
          indices: Iterable[int], recheck: Iterable[int] = ()) -> None:  # fmt: skip
    """Waits until the partitions ``indices`` are in memory on live workers and writes
    where they live into ``homes``; those in ``recheck`` are looked up on the scheduler
    even when their home looks alive."""
    from distributed import wait

    indices, recheck = list(indices), set(recheck)
    # Where nothing looks amiss, no question to the scheduler: a call to a lost worker
    # fails or is noticed by ``run_on_workers``.
    live = watch.known
    ask = not live or bool(recheck)
    ask = ask or any(homes[i] not in live or futures[i].status != "finished" for i in indices)
    while True:
        live = watch.live(client) if ask else live
        ask = True
        for i in indices:
            if futures[i].status in ("error", "cancelled"):
                raise _failed(futures[i])
        unsure = [i for i in indices if i in recheck or homes[i] not in live]
        unsure += [i for i in indices if futures[i].status != "finished" and i not in unsure]
        if not unsure:
            return
        holders = client.who_has([futures[i] for i in unsure])
        waiting = []
        for i in unsure:
            have = sorted(w for w in holders.get(futures[i].key, ()) if w in live)
            if have:
                homes[i] = homes[i] if homes[i] in have else have[0]
                recheck.discard(i)
            else:
                waiting.append(i)
        if not waiting:
            return
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            wait([futures[i] for i in waiting], timeout=POLL_S)
        # A future still marked finished while the scheduler recomputes it returns at once.
        time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))


def _failed(future: Any) -> BaseException:
    if future.status == "cancelled":
        return ScalecloudError("a partition of the data was cancelled", "submit the run again")
    exc = future.exception()
    if type(exc).__name__ == "KilledWorker":
        return ScalecloudError(
            f"generating a partition killed its worker several times: {exc}",
            "give the workers more memory, or use --set storage=regenerate",
        )
    return exc


def run_on_workers(
    client: Any, watch: Watch, calls: dict[str, Callable[[], cf.Future]]
) -> tuple[dict[str, Any], set[str]]:
    """Starts ``calls[worker]()`` for every worker and waits for them, each until it
    answers or its worker leaves the scheduler's list. Returns the answers and the workers
    lost (their calls abandoned). A call that fails while its worker is listed is an
    error of its own and is raised, unless it is a lost connection: then the worker has
    until :data:`UNREACHABLE_S` to leave the list."""
    running = {worker: start() for worker, start in calls.items()}
    answers: dict[str, Any] = {}
    lost: set[str] = set()
    unreachable: dict[str, float] = {}
    check = False
    while running:
        done, _ = cf.wait(list(running.values()), timeout=POLL_S, return_when="FIRST_COMPLETED")
        failed = any(f.exception() is not None for f in done)
        live = watch.live(client) if check or failed or not done else watch.known
        for worker, future in list(running.items()):
            if future.done() and future.exception() is None:
                answers[worker] = future.result()
            elif worker not in live:
                future.cancel()
                lost.add(worker)
            elif future.done():
                exc = future.exception()
                if not isinstance(exc, OSError):
                    raise exc  # type: ignore[misc]
                since = unreachable.setdefault(worker, time.monotonic())
                if time.monotonic() - since > UNREACHABLE_S:
                    raise ScalecloudError(
                        f"worker {worker} stopped answering but is still on the scheduler's "
                        f"list after {UNREACHABLE_S:.0f} s",
                        "check the cluster (scalecloud status) and submit the run again",
                    ) from exc
                check = True
                time.sleep(POLL_S)
                continue
            else:
                continue
            del running[worker]
    return answers, lost

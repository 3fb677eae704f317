"""Whether Dask on a Kubernetes cluster is really up: ``up`` waits for it after Pulumi.

Pulumi does not wait for the DaskCluster: the operator makes its pods afterwards, and a
scheduler that crash-loops or an image that cannot be pulled would otherwise leave ``up``
and ``status`` saying ``running``. So ``up`` watches the pods until a Dask client reaches
the scheduler through the port-forward, names what holds a pod back (ImagePullBackOff,
CrashLoopBackOff, Pending with the scheduler's message) with the last log lines of the
failing container, and gives up at a deadline.

:func:`pod_problems` and :func:`readiness` are pure functions of the pods' JSON (tested on
the shapes Kubernetes returns); :func:`wait_for_dask` is the loop, with its probes passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn

# Up to here: nodes to scale up, images to pull, the workers' packages to install.
DASK_READY_TIMEOUT_S = 900.0
POLL_S = 5.0
# Waiting reasons that do not heal by waiting longer.
FATAL_WAITING = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
     "CreateContainerError", "RunContainerError"}
)  # fmt: skip
CRASH_LOOP_RESTARTS = 3  # a container restarted this often is failing, not starting
LOG_LINES = 5


@dataclass(frozen=True)
class PodProblem:
    """What holds one pod back: ``reason`` (ImagePullBackOff, CrashLoopBackOff, Pending,
    ...), the message Kubernetes gives, and whether waiting cannot cure it."""

    pod: str
    container: str
    reason: str
    message: str
    fatal: bool

    def __str__(self) -> str:
        where = f"{self.pod}/{self.container}" if self.container else self.pod
        return f"{where}: {self.reason}" + (f" ({self.message})" if self.message else "")


def _condition(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def pod_problems(pods: list[dict[str, Any]]) -> list[PodProblem]:
    """What holds each pod back, from the pods' JSON (``kubectl get pods -o json`` items)."""
    found = []
    for pod in pods:
        name = pod.get("metadata", {}).get("name", "?")
        status = pod.get("status") or {}
        scheduled = _condition(pod, "PodScheduled")
        if status.get("phase") == "Pending" and scheduled.get("status") == "False":
            # e.g. "0/2 nodes are available: 2 Insufficient cpu." (the autoscaler may add one)
            found.append(PodProblem(name, "", "Unschedulable", scheduled.get("message", ""), False))
            continue
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason", "")
            restarts = int(container.get("restartCount") or 0)
            if reason in FATAL_WAITING or (
                reason == "CrashLoopBackOff" and restarts >= CRASH_LOOP_RESTARTS
            ):
                found.append(
                    PodProblem(name, container.get("name", ""), reason,
                               waiting.get("message", ""), True)
                )  # fmt: skip
            elif reason == "CrashLoopBackOff":
                found.append(PodProblem(name, container.get("name", ""), reason, "", False))
    return found


@dataclass
class Readiness:
    """The Dask pods now: the scheduler's readiness, ready and all workers, problems."""

    scheduler_ready: bool = False
    workers_ready: int = 0
    workers: int = 0
    problems: list[PodProblem] = field(default_factory=list)

    def summary(self) -> str:
        scheduler = "ready" if self.scheduler_ready else "not ready"
        return f"scheduler {scheduler}, workers ready {self.workers_ready}/{self.workers}"


def readiness(schedulers: list[dict[str, Any]], workers: list[dict[str, Any]]) -> Readiness:
    """The :class:`Readiness` of the scheduler and worker pods (their JSON)."""

    def ready(pod: dict[str, Any]) -> bool:
        return _condition(pod, "Ready").get("status") == "True"

    return Readiness(
        scheduler_ready=any(ready(p) for p in schedulers),
        workers_ready=sum(ready(p) for p in workers),
        workers=len(workers),
        problems=pod_problems([*schedulers, *workers]),
    )


def wait_for_dask(
    name: str,
    probe: Callable[[], Readiness],
    reach: Callable[[], bool],
    logs: Callable[[PodProblem], list[str]],
    on_event: EventFn,
    workers_wanted: int = 1,
    timeout: float | None = None,
    poll: float | None = None,
) -> float:
    """Wait until the scheduler is Ready and ``reach`` (a Dask client through the
    port-forward) succeeds, and a first worker is ready when ``workers_wanted``; returns
    the seconds it took. A fatal pod problem fails at once, naming it with the last log
    lines of its container; else the deadline fails with what was last seen."""
    timeout = DASK_READY_TIMEOUT_S if timeout is None else timeout
    poll = POLL_S if poll is None else poll
    start = time.monotonic()
    said = ""
    seen = Readiness()
    while True:
        try:
            seen = probe()
        except Exception as exc:  # the API server not answering yet: say so, and wait
            seen = Readiness(problems=[PodProblem("-", "", "unreachable", str(exc), False)])
        fatal = [p for p in seen.problems if p.fatal]
        if fatal:
            lines = logs(fatal[0])
            tail = f"; last log lines: {' | '.join(lines)}" if lines else ""
            raise ScalecloudError(
                f"Dask on {name!r} cannot start: {fatal[0]}{tail}",
                f"see: scalecloud status --name {name}; it bills until: scalecloud down "
                f"--name {name}",
            )
        ready = seen.scheduler_ready and (seen.workers_ready > 0 or not workers_wanted)
        if ready and reach():
            return time.monotonic() - start
        now = "; ".join([seen.summary(), *map(str, seen.problems[:2])])
        if now != said:
            on_event(Event("info", f"waiting for Dask: {now}"))
            said = now
        if time.monotonic() - start > timeout:
            raise ScalecloudError(
                f"Dask on {name!r} was not ready after {timeout:.0f} s: {now}",
                f"see: scalecloud status --name {name}; it bills until: scalecloud down "
                f"--name {name}",
            )
        time.sleep(poll)

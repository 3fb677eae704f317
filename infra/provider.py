"""The seam between the library and the clouds: the Provider protocol and what it returns.

A provider is one module (``infra/local/``, ``infra/minikube.py``, ``infra/gcp.py``, ...)
exporting one :class:`~scalecloud.infra.registry.ProviderDescriptor`; the registry lists
them. Everything outside ``infra/`` reaches a cluster only through this protocol.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from scalecloud.infra.events import EventFn
from scalecloud.infra.spec import ClusterSpec


class ClusterState(StrEnum):
    """Every state a cluster of any provider can be in (``status`` shows the value)."""

    CREATING = "creating"  # its stack is being created (Kubernetes providers)
    RUNNING = "running"  # the scheduler answers
    UNRESPONSIVE = "unresponsive"  # local: the supervisor lives, the scheduler does not answer
    UNREACHABLE = "unreachable"  # Kubernetes: the cluster's API cannot be reached
    IDLE_STOPPED = "idle-stopped"  # Kubernetes: the idle timeout removed the Dask pods
    DESTROYING = "destroying"  # a down is under way or was interrupted
    LEFTOVERS = "leftovers"  # destroyed, but the cloud still reports something labelled
    DEAD = "dead"  # local: its processes are gone, its record remains


@dataclass(frozen=True)
class WorkerInfo:
    address: str
    nthreads: int
    memory_limit: int


@dataclass(frozen=True)
class ClusterInfo:
    """What a client needs to use a cluster, and what ``status`` shows.

    ``rows`` are provider-specific facts worth showing (nodes, image, cost) as
    ``(label, text)``; ``details`` the same facts as data, for ``--json``.
    ``same_environment`` is true where the workers run in this very Python environment
    (so they can import the client's scalecloud code without it being sent).
    """

    name: str
    provider: str
    state: ClusterState
    scheduler_address: str
    dashboard_url: str | None
    spec: ClusterSpec
    created: float
    workers: tuple[WorkerInfo, ...] = ()
    adapt: tuple[int, int] | None = None
    idle_timeout: float | None = None
    hourly_cost: float | None = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    rows: tuple[tuple[str, str], ...] = ()
    same_environment: bool = False

    @property
    def running(self) -> bool:
        return self.state == ClusterState.RUNNING

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        data["adapt"] = list(self.adapt) if self.adapt else None
        data["uptime_s"] = round(time.time() - self.created, 1)
        data["worker_count"] = len(self.workers)
        data["threads"] = sum(w.nthreads for w in self.workers)
        data["memory"] = sum(w.memory_limit for w in self.workers)
        data["state"] = str(self.state)
        del data["rows"], data["same_environment"]
        return data


class Provider(Protocol):
    """A way to get a Dask cluster: local processes, minikube, or a cloud.

    Contract for implementers:

    - ``up`` creates the cluster described by ``spec`` and returns once the scheduler
      answers. If a cluster of that name is already running it returns its info and
      changes nothing (callers compare ``info.created``). It checks every
      precondition (tools, credentials, free ports) before creating anything, and on
      failure removes whatever it had created before raising ``ScalecloudError``.
    - ``status`` returns None when no record of the cluster exists, else its info with
      ``state`` telling whether it is alive. It never changes anything.
    - ``scale`` sets a fixed worker count (``workers``) or an adaptive range
      (``adapt``), exactly one of them, and returns once the change is applied.
    - ``down`` stops everything the cluster consists of, verifies that nothing of it
      is left, and removes its record. Repeating it is harmless.
    - ``connect`` is a context manager yielding ``info`` with addresses this machine can
      dial (a port-forward on Kubernetes, held open while the block runs; the same info
      where the scheduler is reachable as it is). Every call opens its own.
    """

    name: ClassVar[str]

    def up(self, spec: ClusterSpec, on_event: EventFn) -> ClusterInfo: ...

    def status(self, name: str) -> ClusterInfo | None: ...

    def scale(self, name: str, workers: int | None, adapt: tuple[int, int] | None) -> None: ...

    def down(self, name: str, on_event: EventFn) -> None: ...

    def connect(self, info: ClusterInfo) -> AbstractContextManager[ClusterInfo]: ...

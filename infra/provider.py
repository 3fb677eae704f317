"""The seam between the CLI and the clouds: the Provider protocol, ClusterInfo, events, registry.

Adding a provider is one module that defines a class satisfying :class:`Provider`,
one line in :data:`PROVIDERS`, and one test file.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import EventFn
from scalecloud.infra.spec import ClusterSpec


@dataclass(frozen=True)
class WorkerInfo:
    address: str
    nthreads: int
    memory_limit: int


@dataclass(frozen=True)
class ClusterInfo:
    """What a client needs to use a cluster, and what ``status`` shows.

    ``state`` is ``running``, ``starting`` or ``dead`` (its processes are gone but
    its record remains; ``down`` cleans it up).
    """

    name: str
    provider: str
    state: str
    scheduler_address: str
    dashboard_url: str | None
    spec: ClusterSpec
    created: float
    workers: tuple[WorkerInfo, ...] = ()
    adapt: tuple[int, int] | None = None
    idle_timeout: float | None = None
    hourly_cost: float | None = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state == "running"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        data["adapt"] = list(self.adapt) if self.adapt else None
        data["uptime_s"] = round(time.time() - self.created, 1)
        data["worker_count"] = len(self.workers)
        data["threads"] = sum(w.nthreads for w in self.workers)
        data["memory"] = sum(w.memory_limit for w in self.workers)
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
    """

    name: ClassVar[str]

    def up(self, spec: ClusterSpec, on_event: EventFn) -> ClusterInfo: ...

    def status(self, name: str) -> ClusterInfo | None: ...

    def scale(self, name: str, workers: int | None, adapt: tuple[int, int] | None) -> None: ...

    def down(self, name: str, on_event: EventFn) -> None: ...


# name -> "module:Class"; modules import only when the provider is used.
PROVIDERS: dict[str, str] = {
    "local": "scalecloud.infra.local.driver:LocalProvider",
    "minikube": "scalecloud.infra.minikube:MinikubeProvider",
    "gcp": "scalecloud.infra.gcp:GcpProvider",
    "aws": "scalecloud.infra.aws:AwsProvider",
    "azure": "scalecloud.infra.azure:AzureProvider",
}


@contextmanager
def reachable(provider: Provider, info: ClusterInfo) -> Iterator[ClusterInfo]:
    """``info`` with addresses this machine can connect to, for as long as the block runs.

    Providers whose scheduler is not directly reachable (Kubernetes: a ClusterIP Service)
    have a ``connect`` context manager that opens port-forwards; the others need nothing.
    """
    connect = getattr(provider, "connect", None)
    if connect is None:
        yield info
        return
    with connect(info) as local:
        yield local


def provider_names() -> list[str]:
    return list(PROVIDERS)


def check_provider(name: str) -> str:
    """``name`` if it is a known provider, else the error that lists them."""
    if name not in PROVIDERS:
        raise ScalecloudError(
            f"unknown provider {name!r}",
            f"choose one of: {', '.join(PROVIDERS)} (e.g. --provider local)",
        )
    return name


def get_provider(name: str) -> Provider:
    """The provider called ``name``, imported on first use."""
    module_name, class_name = PROVIDERS[check_provider(name)].split(":")
    provider: Provider = getattr(importlib.import_module(module_name), class_name)()
    return provider


def resolve_cluster(name: str | None, store: Any = None) -> tuple[Provider, str]:
    """The provider and name of an existing cluster.

    With no name: the only cluster there is, else the one called ``default``.
    """
    from scalecloud.infra.spec import DEFAULT_NAME
    from scalecloud.infra.state import StateStore

    store = store or StateStore()
    names = store.names()
    if name is None:
        if not names:
            raise ScalecloudError("no cluster is running", "start one with: scalecloud up")
        if len(names) == 1:
            name = names[0]
        elif DEFAULT_NAME in names:
            name = DEFAULT_NAME
        else:
            raise ScalecloudError(
                f"several clusters are running: {', '.join(names)}",
                f"choose one with --name, e.g. --name {names[0]}",
            )
    record = store.get(name)
    if record is None:
        others = f"; running: {', '.join(names)}" if names else ""
        raise ScalecloudError(
            f"no cluster named {name!r}{others}", f"start it with: scalecloud up --name {name}"
        )
    return get_provider(record.get("provider", "local")), name

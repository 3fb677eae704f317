"""A cluster from Python: start or reuse it, reach it, run on it, tear it down.

Example::

    with scalecloud.Cluster(provider="gcp", adapt=(1, 8), spot=True) as cluster:
        client = cluster.get_client()      # through a port-forward held by the cluster
        run = cluster.submit("gridsearch", cv=3, seed=1)

Everything the CLI's ``up``, ``submit``, ``run``, ``scale``, ``down`` and ``env`` do goes
through this module; the CLI only parses options and renders what comes back.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.infra.provider import ClusterInfo
from scalecloud.infra.registry import build_spec, get_provider, resolve_cluster
from scalecloud.lifecycle import ClusterSession, fresh_name, not_running
from scalecloud.results import Run
from scalecloud.session import event_sink, prepare

if TYPE_CHECKING:
    from distributed import Client

    from scalecloud.infra.versions import VersionTable
    from scalecloud.workloads.runner import PreparedRun

__all__ = [
    "Cluster", "clusters", "connect", "down", "fresh_name", "install_pulumi", "needs_pulumi_cli",
    "pulumi_cli", "scale",
]  # fmt: skip

CONNECT_TIMEOUT_S = 15


class Cluster(ClusterSession):
    """A Dask cluster on ``provider`` (``local``, ``minikube``, ``gcp``, ``aws``,
    ``azure``), started on enter, or reused when one of that name is running, and torn
    down on exit, after an exception or a KeyboardInterrupt too, unless ``keep=True``.

    While it lives it holds the port-forwards to the scheduler (opened on first use).
    ``reuse=False`` refuses a name that is taken instead of reusing that cluster.
    ``progress=False`` shows nothing; ``on_event`` receives every
    :class:`~scalecloud.infra.events.Event` instead. The cloud options (``region``,
    ``zone``, ``machine_type``, ``min_nodes``, ``max_nodes``, ``spot``, ``gpu``, ``image``,
    ``expose``, and ``data``, ``data_write``: the buckets the workers may read, or write,
    through the cloud's workload identity) are those of ``scalecloud up``. Every option is
    checked when the object is made, before anything exists. A cluster made here without ``keep`` also stops
    when this process ends (local clusters watch it).

    Example::

        with scalecloud.Cluster(workers=2) as cluster:
            run = cluster.submit("kmeans", n_blocks=20, seed=0)

        cluster = scalecloud.Cluster(name="exp-1", keep=True).start()   # for many cells
    """

    def __init__(
        self,
        provider: str = "local",
        name: str | None = None,
        *,
        workers: int = 2,
        threads_per_worker: int = 1,
        memory_per_worker: str | int | None = None,
        adapt: str | tuple[int, int] | None = None,
        idle_timeout: str | float | None = "1h",
        port: int = 0,
        dashboard_port: int = 0,
        keep: bool = False,
        reuse: bool = True,
        progress: bool = True,
        on_event: EventFn | None = None,
        **cloud: Any,
    ) -> None:
        spec = build_spec(
            provider, name, workers=workers, threads_per_worker=threads_per_worker,
            memory_per_worker=memory_per_worker, adapt=adapt, idle_timeout=idle_timeout,
            port=port, dashboard_port=dashboard_port,
            owner_pid=None if keep else os.getpid(), **cloud,
        )  # fmt: skip
        self._setup(spec, get_provider(spec.provider), keep, reuse, event_sink(progress, on_event))

    def get_client(self, **kwargs: Any) -> Client:
        """A ``distributed.Client`` of this cluster, closed with it."""
        from distributed import Client

        client = Client(self.reachable().scheduler_address, timeout=CONNECT_TIMEOUT_S, **kwargs)
        self._clients.append(client)
        return client

    def versions(self) -> VersionTable:
        """Package versions of this client, the scheduler and every worker."""
        from distributed import Client

        from scalecloud.infra.versions import cluster_versions
        from scalecloud.workloads.runner import quiet_dask_logs

        quiet_dask_logs()
        info = self.info
        if not info.running:
            raise not_running(info)
        address = self.reachable().scheduler_address
        try:
            with Client(address, timeout=CONNECT_TIMEOUT_S) as client:
                return cluster_versions(client)
        except OSError as exc:
            raise ScalecloudError(
                f"could not reach the scheduler of {self.name!r} at {address}",
                f"check it with: scalecloud status --name {self.name}",
            ) from exc

    # -- using it -----------------------------------------------------------------------

    def submit(
        self,
        workload: str | PreparedRun,
        *args: str,
        seed: int | None = None,
        strict_versions: bool = False,
        rerun_of: str | None = None,
        ship: Sequence[str | PathLike[str]] = (),
        **params: Any,
    ) -> Run:
        """Run a built-in workload (``"kmeans"``, ``"gridsearch"``, ``"nnsearch"``) with
        ``params``, or a script path with ``args``, recorded exactly as the CLI records it.
        A script's folder is importable on the workers (sent to them where they run
        elsewhere, ``.gitignore`` followed); ``ship`` adds files or package folders.

        Example::

            run = cluster.submit("kmeans", n_blocks=500, seed=0)
            run = cluster.submit("experiment.py", "--epochs", "3", ship=["../mylib"])
        """
        if isinstance(workload, str):
            workload = prepare(workload, *args, seed=seed, ship=ship, **params)
        outcome = self.execute(workload, strict_versions=strict_versions, rerun_of=rerun_of)
        return Run.of(outcome)

    def scale(self, workers: int | None = None, adapt: tuple[int, int] | None = None) -> None:
        """A fixed worker count, or an adaptive range: exactly one of them."""
        _check_scale(workers, adapt)
        self._provider.scale(self.name, workers, adapt)

    def __repr__(self) -> str:
        state = self._info.state if self._info else "not started"
        return f"<scalecloud.Cluster {self.name!r} ({self.spec.provider}, {state})>"

    def _repr_html_(self) -> str:
        from scalecloud.display import cluster_html

        return cluster_html(self._info or self._provider.status(self.name), self.spec)


def _check_scale(workers: int | None, adapt: tuple[int, int] | None) -> None:
    if (workers is None) == (adapt is None):
        raise ScalecloudError(
            "give either a worker count or --adapt MIN:MAX", "e.g. scalecloud scale 4"
        )
    if workers is not None and workers < 0:
        raise ScalecloudError(
            f"the worker count must be >= 0, got {workers}", "e.g. scalecloud scale 4"
        )


def scale(
    name: str | None = None, workers: int | None = None, adapt: tuple[int, int] | None = None
) -> ClusterInfo:
    """Give the running cluster ``name`` a fixed worker count or an adaptive range;
    returns its info after the change."""
    _check_scale(workers, adapt)
    cluster = Cluster.attach(name, progress=False)
    cluster.scale(workers, adapt)
    return cluster.info


def clusters(on_event: EventFn | None = None) -> list[ClusterInfo]:
    """Every cluster with a record, as its provider reports it now. A record that cannot
    be read is left out, with a warning event naming its file."""
    from scalecloud.infra.state import StateStore

    store = StateStore()
    found = []
    for name in store.names():
        try:
            record = store.get(name)
            info = get_provider(record.get("provider", "local")).status(name) if record else None
        except ScalecloudError as exc:
            if on_event is not None:
                on_event(Event("warning", f"{exc.message}; {exc.hint}"))
            continue
        if info is not None:
            found.append(info)
    return found


def down(
    name: str | None = None, *, all: bool = False, progress: bool = True,
    on_event: EventFn | None = None,
) -> list[tuple[str, str]]:  # fmt: skip
    """Tear down the cluster called ``name`` (or every one with ``all``, going on past
    any that fails and raising its error at the end); returns ``(name, what was
    verified)`` for each. Nothing there is not an error."""
    from scalecloud.infra.state import StateStore

    store = StateStore()
    names = store.names()
    if not all:
        if (name is None and not names) or (name is not None and store.get(name) is None):
            return []
        names = [resolve_cluster(name, store)[1]]
    done = []
    failed: list[ScalecloudError] = []
    for found in names:
        try:
            cluster = Cluster.attach(found, progress=progress, on_event=on_event)
            cluster.down()
        except ScalecloudError as exc:
            if not all:
                raise
            failed.append(exc)
            continue
        done.append((found, cluster.down_summary))
    if failed:
        raise failed[0]
    return done


def connect(name: str | None = None, **kwargs: Any) -> Client:
    """A ``distributed.Client`` of the running cluster ``name`` (default: the only one);
    its port-forward (Kubernetes) lives as long as the client and closes with it.

    Example::

        client = scalecloud.connect("exp-1")
        client.submit(sum, [1, 2]).result()
        client.close()
    """
    from distributed import Client

    cluster = Cluster.attach(name, progress=False)
    address = cluster.reachable().scheduler_address

    class ForwardedClient(Client):  # type: ignore[misc]
        def close(self, *args: Any, **kw: Any) -> Any:
            try:
                return super().close(*args, **kw)
            finally:
                cluster.close()

    try:
        client = ForwardedClient(address, timeout=CONNECT_TIMEOUT_S, **kwargs)
    except BaseException:
        cluster.close()
        raise
    weakref.finalize(client, cluster.close)
    return client


def pulumi_cli() -> str | None:
    """The path of the Pulumi CLI that the cloud providers will run, or None when there is
    none (``install_pulumi`` fetches one)."""
    from scalecloud.infra.kube.preflight import pulumi_cli_path
    from scalecloud.infra.state import state_home

    return pulumi_cli_path(state_home())


def needs_pulumi_cli(provider: str) -> bool:
    """Whether ``provider`` runs Pulumi and no Pulumi CLI is installed."""
    from scalecloud.infra.registry import descriptor

    return descriptor(provider).kubernetes and pulumi_cli() is None


def install_pulumi(on_event: EventFn | None = None) -> str:
    """Install the Pulumi CLI matching the installed Pulumi SDK into scalecloud's state
    directory (nothing else on the machine changes); its path. Needs the network.

    Example::

        scalecloud.install_pulumi()   # once, before a first Cluster(provider="gcp")
    """
    from scalecloud.infra.kube.preflight import install_pulumi_cli
    from scalecloud.infra.state import state_home

    sink = event_sink(True, on_event)
    sink(Event("step", "installing the Pulumi CLI into scalecloud's state directory"))
    path = install_pulumi_cli(state_home())
    sink(Event("info", f"the Pulumi CLI is at {path}"))
    return path

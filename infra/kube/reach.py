"""How a Pulumi provider reaches its Kubernetes cluster: the cluster's own kubeconfig
(never the user's current context), the port-forwards to the scheduler, what the cluster
reports now, and ``up``'s wait until Dask answers through the port-forward."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.infra.kube.live import API_TIMEOUT_S
from scalecloud.infra.kube.spec import KubeSpec
from scalecloud.infra.kube.stack import StackBackend, last_line
from scalecloud.infra.provider import ClusterInfo
from scalecloud.infra.state import StateStore

SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
INSTALL_AT_START = (
    "without --image the workers pip-install the workloads' packages when they start: Dask "
    "took {seconds:.0f} s to be ready here, and every new worker pays it again; a prebuilt "
    "image starts in seconds: scalecloud image --push REGISTRY/NAME, then up --image"
)


class KubeReach:
    """The cluster-reaching half of :class:`~scalecloud.infra.kube.driver.PulumiProvider`."""

    store: StateStore
    stacks: StackBackend

    def _wait_for_dask(self, info: ClusterInfo, kspec: KubeSpec, on_event: EventFn) -> None:
        """Until a Dask client reaches the scheduler through the port-forward (Pulumi does
        not wait for the operator's pods); how long the workers took, when they installed
        their packages at start."""
        from scalecloud.infra.kube.readiness import wait_for_dask

        on_event(Event("step", f"waiting for Dask on {info.name!r} (scheduler and a worker)"))
        took = wait_for_dask(
            info.name, lambda: self._readiness(info.name, kspec), lambda: self._reach(info),
            lambda problem: self._logs(info.name, kspec, problem), on_event,
            workers_wanted=kspec.workers_min,
        )  # fmt: skip
        on_event(Event("info", f"Dask is ready after {took:.0f} s"))
        if not kspec.image:
            on_event(Event("warning", INSTALL_AT_START.format(seconds=took)))

    def _readiness(self, name: str, kspec: KubeSpec) -> Any:
        from scalecloud.infra.kube.live import dask_pods
        from scalecloud.infra.kube.readiness import readiness

        return readiness(*dask_pods(self._kube_access(name), kspec))

    def _reach(self, info: ClusterInfo) -> bool:
        """Whether a Dask client gets an answer from the scheduler through the port-forward."""
        from distributed import Client

        try:
            with self.connect(info) as local, Client(local.scheduler_address, timeout=15):
                return True
        except Exception:
            return False

    def _logs(self, name: str, kspec: KubeSpec, problem: Any) -> list[str]:
        from scalecloud.infra.kube.live import container_logs

        return container_logs(self._kube_access(name), kspec, problem.pod, problem.container)

    def _delete_dask_first(self, name: str, kspec: KubeSpec, on_event: EventFn) -> None:
        """Delete the DaskCluster while the operator runs, and wait for its Services (a
        LoadBalancer's cloud resources are not in Pulumi's state) to go. Best effort: an
        unreachable cluster is left to destroy, which drops its objects from state."""
        from scalecloud.infra.kube.live import delete_dask_objects

        on_event(Event("step", f"deleting the Dask objects of {name!r} first"))
        try:
            left = delete_dask_objects(self._kube_access(name), kspec)
        except Exception as exc:  # unreachable or already gone: destroy handles it
            on_event(Event("info", f"could not reach the cluster ({last_line(exc)}); destroying"))
            return
        if left:
            on_event(Event("warning", f"still there after 5 minutes: {', '.join(left)}"))

    def _live(self, name: str, kspec: KubeSpec) -> dict[str, Any] | None:
        """What the cluster reports now, or None when it cannot be reached."""
        from scalecloud.infra.kube.live import live_state

        try:
            return live_state(self._kube_access(name), kspec)
        except Exception:  # an unreachable cluster is a state to show, not a crash
            return None

    # -- reaching the scheduler ------------------------------------------------------

    @contextmanager
    def connect(self, info: ClusterInfo) -> Iterator[ClusterInfo]:
        """``info`` with local addresses, while port-forwards to the scheduler are open."""
        import dataclasses

        import kr8s
        from kr8s.objects import Service

        kspec = KubeSpec.from_dict(self.store.get(info.name)["kube"])  # type: ignore[index]
        try:
            api = kr8s.api(**self._kube_access(info.name))
            api.timeout = API_TIMEOUT_S  # the port-forward's Service lookup has a deadline
            service = Service.get(kspec.scheduler_service, namespace=kspec.namespace, api=api)
        except Exception as exc:
            raise ScalecloudError(
                f"cannot reach the scheduler Service of {info.name!r}: {last_line(exc)}",
                f"check the cluster with: scalecloud status --name {info.name}",
            ) from exc
        from scalecloud.infra.kube.live import load_balancer_host

        host = load_balancer_host(service.raw) if kspec.expose_cidr else None
        if host:  # --expose: the LoadBalancer, open to the allowed range only
            yield dataclasses.replace(
                info, scheduler_address=f"tcp://{host}:{SCHEDULER_PORT}",
                dashboard_url=f"http://{host}:{DASHBOARD_PORT}/status",
            )  # fmt: skip
            return
        with (
            service.portforward(SCHEDULER_PORT, local_port="auto") as port,
            service.portforward(DASHBOARD_PORT, local_port="auto") as dash,
        ):
            yield dataclasses.replace(
                info, scheduler_address=f"tcp://127.0.0.1:{port}",
                dashboard_url=f"http://127.0.0.1:{dash}/status",
            )  # fmt: skip

    def _kube_access(self, name: str) -> dict[str, Any]:
        """How to reach the cluster: its own kubeconfig, never the user's current context
        (no arguments would make a client fall back to it, and act on another cluster)."""
        path = self.stacks.kubeconfig_path(name)
        if not path.exists():
            raise ScalecloudError(
                f"no kubeconfig for {name!r} at {path}",
                f"its up did not finish: run scalecloud up --name {name} again, or down",
            )
        return {"kubeconfig": str(path)}

"""What a running Kubernetes cluster reports about a scalecloud cluster, through kr8s.

Used by ``status`` (nodes, worker pods, whether the operator removed an idle DaskCluster)
and by ``down`` (delete the Dask objects while the operator still runs, and wait until the
Services it made, LoadBalancers included, are gone, before Pulumi destroys the cluster).
Every call is bounded by a timeout; an unreachable cluster raises, callers decide.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from scalecloud.infra.kube.readiness import readiness
from scalecloud.infra.kube.spec import KubeSpec

API_TIMEOUT_S = 15.0
DASK_GROUP = "kubernetes.dask.org"


def _api(access: dict[str, Any]) -> Any:
    import kr8s

    api = kr8s.api(**access)
    api.timeout = API_TIMEOUT_S
    return api


def _selector(spec: KubeSpec, component: str | None = None) -> dict[str, str]:
    labels = {"dask.org/cluster-name": spec.name}
    if component:
        labels["dask.org/component"] = component
    return labels


def live_state(access: dict[str, Any], spec: KubeSpec) -> dict[str, Any]:
    """``{nodes, workers: [{name, phase}], scheduler_ready, dask_cluster, load_balancer}``
    right now (``load_balancer``: the exposed scheduler's address, once the cloud gave one)."""
    api = _api(access)
    nodes = list(api.get("nodes", label_selector={"scalecloud-cluster": spec.name}))
    from scalecloud.infra.registry import descriptor

    if not descriptor(spec.provider).labels_nodes or not nodes:
        nodes = list(api.get("nodes"))
    scheduler_pods, worker_pods = dask_pods(access, spec)
    workers = [
        {"name": pod["metadata"]["name"], "phase": (pod.get("status") or {}).get("phase", "?")}
        for pod in worker_pods
    ]
    now = readiness(scheduler_pods, worker_pods)
    clusters = list(api.get(f"daskclusters.{DASK_GROUP}", namespace=spec.namespace))
    balancer = None
    if spec.expose_cidr:
        for service in api.get(
            "services", namespace=spec.namespace, label_selector=_selector(spec)
        ):
            balancer = balancer or load_balancer_host(service.raw)
    return {
        "nodes": len(nodes),
        "workers": workers,
        "scheduler_ready": now.scheduler_ready,
        "workers_ready": now.workers_ready,
        "problems": [str(p) for p in now.problems],
        "dask_cluster": any(c.name == spec.name for c in clusters),
        "load_balancer": balancer,
    }


def dask_pods(
    access: dict[str, Any], spec: KubeSpec
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The JSON of the cluster's scheduler pods and worker pods."""
    api = _api(access)

    def pods(component: str) -> list[dict[str, Any]]:
        found = api.get("pods", namespace=spec.namespace, label_selector=_selector(spec, component))
        return [dict(pod.raw) for pod in found]

    return pods("scheduler"), pods("worker")


def container_logs(
    access: dict[str, Any], spec: KubeSpec, pod: str, container: str, lines: int = 5
) -> list[str]:
    """The last ``lines`` log lines of a pod's container (of its last run, when it
    crash-loops); empty when there are none to read."""
    from kr8s.objects import Pod

    api = _api(access)
    try:
        found = Pod.get(pod, namespace=spec.namespace, api=api)
        for previous in (True, False):
            with contextlib.suppress(Exception):
                text = list(found.logs(container=container or None, previous=previous,
                                       tail_lines=lines, timeout=API_TIMEOUT_S))  # fmt: skip
                if text:
                    return [line.rstrip() for line in text][-lines:]
    except Exception:  # the logs are a courtesy: their absence must not hide the problem
        return []
    return []


def delete_dask_objects(
    access: dict[str, Any], spec: KubeSpec, timeout: float = 300.0
) -> list[str]:
    """Delete the DaskAutoscaler and DaskCluster, then wait for their pods and Services
    (a LoadBalancer's cloud resources go with its Service) to be gone.

    Returns what is still there at the timeout (empty: all gone).
    """
    api = _api(access)
    for kind in (f"daskautoscalers.{DASK_GROUP}", f"daskclusters.{DASK_GROUP}"):
        for obj in api.get(kind, namespace=spec.namespace):
            if obj.name == spec.name:
                obj.delete()
    deadline = time.monotonic() + timeout
    while True:
        left = [
            f"{kind} {obj.name}"
            for kind in ("services", "pods")
            for obj in api.get(kind, namespace=spec.namespace, label_selector=_selector(spec))
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(3)


def load_balancer_host(service: dict[str, Any]) -> str | None:
    """The address a LoadBalancer Service got from the cloud (an IP on GKE and AKS, a
    host name on EKS), or None while it has none yet."""
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    for entry in ingress:
        found = entry.get("ip") or entry.get("hostname")
        if found:
            return str(found)
    return None


def status_rows(
    kspec: KubeSpec, cost: dict[str, Any], live: dict[str, Any] | None = None
) -> tuple[tuple[str, str], ...]:
    """What ``status`` shows of a Kubernetes cluster beyond the Dask part: with ``live``
    (what it reports now), the readiness of the scheduler and workers, and what holds
    pods back."""
    spot = " (spot)" if kspec.spot else ""
    nodes = f"{kspec.min_nodes}-{kspec.max_nodes} × {kspec.machine_type or '-'}{spot}"
    low, high = cost["hourly_min"], cost["hourly_max"]
    dask: tuple[tuple[str, str], ...] = ()
    if live is not None:
        ready = "ready" if live.get("scheduler_ready") else "not ready"
        workers = f"{live.get('workers_ready', 0)}/{len(live.get('workers', []))} ready"
        dask = (("dask", f"scheduler {ready}, workers {workers}"),)
        dask += tuple(("problem", text) for text in live.get("problems", [])[:3])
    return (
        *dask,
        ("nodes", f"{nodes} in {kspec.region or '-'}"),
        ("image", kspec.image or "official Dask image + pinned EXTRA_PIP_PACKAGES"),
        ("cost", f"≈ {low:.2f}-{high:.2f} USD/hour (estimate, from scalecloud's price table)"),
    )

"""How Dask workers fit on a cloud's nodes: what a node leaves to pods, and what each
worker requests of it.

A worker pod requests ``cpu = threads`` and ``memory = memory per worker``, so that the
node autoscaler adds a node when the workers no longer fit (a pod that requests nothing
fits anywhere, and the pool never grows). Without ``--memory-per-worker`` the memory is
the node's allocatable memory, shared by the workers that fit on it by CPU.

A node's allocatable share follows GKE's documented reservation for the kubelet and the
system (https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes; EKS's
and AKS's are of the same size or smaller), less what the system pods that every node
runs request (kube-proxy, the network and storage agents, logging and metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

GIB = 2**30
# Requests of the DaemonSet pods on every node (kube-proxy, CNI, CSI, log and metric agents).
SYSTEM_PODS_CPU = 0.4
SYSTEM_PODS_MEMORY_GIB = 1.0
EVICTION_GIB = 0.1  # the kubelet's hard eviction threshold (100 MiB)
# (up to GiB, share reserved) for memory, (up to cores, share) for CPU: GKE's tiers.
MEMORY_TIERS = ((4, 0.25), (8, 0.20), (16, 0.10), (128, 0.06), (math.inf, 0.02))
CPU_TIERS = ((1, 0.06), (2, 0.01), (4, 0.005), (math.inf, 0.0025))


def _reserved(amount: float, tiers: tuple[tuple[float, float], ...]) -> float:
    reserved, below = 0.0, 0.0
    for upto, share in tiers:
        reserved += max(0.0, min(amount, upto) - below) * share
        below = upto
    return reserved


def allocatable(vcpus: float, memory_gib: float) -> tuple[float, float]:
    """CPU cores and memory (GiB) that a node of this shape leaves to the Dask pods."""
    cpu = vcpus - _reserved(vcpus, CPU_TIERS) - SYSTEM_PODS_CPU
    memory = memory_gib - _reserved(memory_gib, MEMORY_TIERS) - EVICTION_GIB
    return cpu, memory - SYSTEM_PODS_MEMORY_GIB


@dataclass(frozen=True)
class Fit:
    """How workers of ``threads`` threads sit on one node of ``machine_type``."""

    machine_type: str
    per_node: int  # workers that fit on a node (0: none does)
    memory_per_worker: int  # bytes each worker requests (given, or its share of the node)
    cpu: float  # the node's allocatable cores
    memory_gib: float  # the node's allocatable memory

    def nodes_for(self, workers: int) -> int:
        """Nodes that ``workers`` workers need (at least one)."""
        return max(1, math.ceil(workers / self.per_node)) if self.per_node else 0


def worker_fit(
    machines: dict[str, tuple[float, float]],
    machine_type: str,
    threads: int,
    memory_per_worker: int | None = None,
    gpus_per_worker: int = 0,
    gpus_per_node: int = 0,
) -> Fit | None:
    """The fit of workers on ``machine_type`` (None when its shape is not known)."""
    shape = machines.get(machine_type)
    if shape is None:
        return None
    cpu, memory_gib = allocatable(*shape)
    per_node = max(0, math.floor(cpu / threads))
    if memory_per_worker:
        per_node = min(per_node, math.floor(memory_gib * GIB / memory_per_worker))
    if gpus_per_worker:
        per_node = min(per_node, gpus_per_node // gpus_per_worker)
    memory = memory_per_worker or (int(memory_gib * GIB / per_node) if per_node else 0)
    return Fit(machine_type, per_node, memory, round(cpu, 2), round(memory_gib, 2))


def fit_of(spec: Any) -> Fit | None:
    """The fit of a KubeSpec's workers on its machine type (None when its shape is unknown)."""
    from scalecloud.infra.registry import descriptor

    return worker_fit(
        dict(descriptor(spec.provider).machines), spec.machine_type, spec.threads_per_worker,
        spec.memory_per_worker, spec.gpu_count, spec.gpu_count,
    )  # fmt: skip


def fit_report(spec: Any) -> dict[str, Any]:
    """What ``plan`` shows of the fit: workers per node, what each requests, and how many
    nodes the most workers (``--adapt``'s maximum) need of the pool's ``max_nodes``."""
    fit = fit_of(spec)
    report: dict[str, Any] = {
        "machine_type": spec.machine_type,
        "worker_cpu": spec.threads_per_worker,
        "worker_memory_gib": round(spec.memory_per_worker / GIB, 2)
        if spec.memory_per_worker
        else None,
        "max_workers": spec.workers_max,
        "max_nodes": spec.max_nodes,
    }
    if fit is None:
        return {**report, "known": False}
    return {
        **report, "known": True, "node_cpu": fit.cpu, "node_memory_gib": fit.memory_gib,
        "workers_per_node": fit.per_node,
        "nodes_for_max_workers": min(spec.max_nodes, fit.nodes_for(spec.workers_max)),
    }  # fmt: skip

"""The frozen spec of a Dask cluster on Kubernetes (GKE, EKS, AKS, minikube), and its defaults.

A :class:`KubeSpec` is what the Pulumi programs in ``infra/`` are functions of. It is built
from the CLI's :class:`~scalecloud.infra.spec.ClusterSpec` (cloud options travel in its
``extra``) or from Pulumi stack config (``infra/pulumi_main.py``). Nothing here imports
Pulumi or a cloud SDK.
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.spec import ClusterSpec

LABEL = "scalecloud-cluster"
# Node pools carry this label; with --spot the scheduler runs on the on-demand pool
# (``scheduler``) and the workers on the spot one (``workers``).
POOL_LABEL = "scalecloud-pool"
WORKER_POOL = "workers"
SCHEDULER_POOL = "scheduler"

_GPU_RE = re.compile(r"^(?:([a-z0-9][-a-z0-9_.]*):)?(\d+)$", re.IGNORECASE)
_GPU_TYPE_RE = re.compile(r"^(?=.*\d)[a-z][-a-z0-9_.]*$", re.IGNORECASE)  # types carry a digit


def require_extra(provider: str) -> None:
    """Fail with the pip command when the SDKs of ``provider`` are not installed."""
    from scalecloud.infra.registry import descriptor

    found = descriptor(provider)
    needed = (*found.modules, "dask_kubernetes")
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise ScalecloudError(
            f"the {provider} provider needs {', '.join(missing)}, which is not installed",
            f'install it with: pip install "scalecloud[{found.extra}]"',
        )


def parse_gpu(text: str | None) -> tuple[str | None, int]:
    """``(type, count)`` from ``nvidia-tesla-t4:2``, ``nvidia-tesla-t4`` (one) or ``1``
    (type chosen by the cloud)."""
    if not text:
        return None, 0
    if _GPU_TYPE_RE.fullmatch(text.strip()):
        return text.strip(), 1
    match = _GPU_RE.fullmatch(text.strip())
    if not match or int(match.group(2)) < 1:
        raise ScalecloudError(
            f"invalid --gpu {text!r}",
            "write TYPE, TYPE:COUNT or COUNT, e.g. --gpu nvidia-tesla-t4:2",
        )
    return match.group(1), int(match.group(2))


@dataclass(frozen=True)
class KubeSpec:
    """A Dask cluster on Kubernetes: the cluster's nodes and the Dask workers on them.

    ``min_nodes``/``max_nodes`` bound the autoscaling worker node pool;
    ``workers_min``/``workers_max`` bound the DaskAutoscaler (equal: a fixed size, no
    autoscaler). ``image`` None means the official Dask image matched to the client, with
    the workloads' packages pinned in ``EXTRA_PIP_PACKAGES``. ``expose_cidr`` set makes the
    scheduler a LoadBalancer open to that range only; by default it is a ClusterIP Service
    reached through a port-forward. ``data`` are the bucket URLs the workers may read (write,
    with ``data_write``) through the cloud's workload identity (``infra/kube/access.py``).
    """

    provider: str
    name: str
    region: str = ""
    zone: str = ""
    machine_type: str = ""
    min_nodes: int = 1
    max_nodes: int = 3
    spot: bool = False
    gpu_type: str | None = None
    gpu_count: int = 0
    workers_min: int = 2
    workers_max: int = 2
    threads_per_worker: int = 1
    memory_per_worker: int | None = None
    image: str | None = None
    idle_timeout: float | None = None
    expose_cidr: str | None = None
    data: tuple[str, ...] = ()
    data_write: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from scalecloud.infra.registry import descriptor, kubernetes_providers

        if not descriptor(self.provider).kubernetes:
            raise ScalecloudError(
                f"{self.provider!r} is not a Kubernetes provider",
                f"choose one of: {', '.join(kubernetes_providers())}",
            )
        if not 0 <= self.min_nodes <= self.max_nodes or self.max_nodes < 1:
            raise ScalecloudError(
                f"invalid node range {self.min_nodes}:{self.max_nodes}",
                "need 0 <= --min-nodes <= --max-nodes and --max-nodes >= 1",
            )
        if not 0 <= self.workers_min <= self.workers_max:
            raise ScalecloudError(
                f"invalid worker range {self.workers_min}:{self.workers_max}", "e.g. --adapt 1:4"
            )
        rules = descriptor(self.provider)
        if len(self.name) > rules.name_limit or (
            rules.name_letter_first and not self.name[:1].isalpha()
        ):
            first = ", starting with a letter" if rules.name_letter_first else ""
            raise ScalecloudError(
                f"cluster name {self.name!r} does not suit {self.provider}: at most "
                f"{rules.name_limit} characters{first} (the names of its resources derive from it)",
                "choose another --name, e.g. --name exp-1",
            )
        for option, used in (("spot", self.spot), ("gpu", self.gpu_count)):
            if used and option not in descriptor(self.provider).options:
                raise ScalecloudError(
                    f"--{option} applies to clouds only",
                    f"leave --{option} out for {self.provider}",
                )
        object.__setattr__(self, "data", tuple(self.data))
        if (self.data or self.data_write) and not descriptor(self.provider).data_scheme:
            raise ScalecloudError(f"--data does not apply to {self.provider}", "leave --data out")
        labels = {LABEL: self.name, **self.labels}
        object.__setattr__(self, "labels", labels)

    @property
    def adaptive(self) -> bool:
        return self.workers_min != self.workers_max

    @property
    def namespace(self) -> str:
        return f"scalecloud-{self.name}"

    @property
    def scheduler_service(self) -> str:
        """The Service the operator creates for the DaskCluster's scheduler."""
        return f"{self.name}-scheduler"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KubeSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_(self, **changes: Any) -> KubeSpec:
        return replace(self, **changes)

    def pool_labels(self, pool: str) -> dict[str, str]:
        """The labels of a node pool: the cluster's, and with --spot which pool it is (the
        Dask pods then select their pool by it)."""
        return {**self.labels, POOL_LABEL: pool} if self.spot else dict(self.labels)


def kube_spec(spec: ClusterSpec) -> KubeSpec:
    """The KubeSpec of a CLI ClusterSpec; cloud options come from ``spec.extra``.

    Defaults: the cloud's region and machine type (a GPU machine type when a GPU is asked
    for), nodes 1..max(workers, 1) unless ``--min-nodes``/``--max-nodes`` say otherwise.
    """
    from scalecloud.infra.kube.sizing import worker_fit
    from scalecloud.infra.registry import descriptor

    extra = spec.extra
    defaults = descriptor(spec.provider).defaults
    gpu_type, gpu_count = parse_gpu(extra.get("gpu"))
    if gpu_count and not gpu_type:
        gpu_type = defaults.get("gpu_type") or None
    low, high = spec.adapt if spec.adapt else (spec.workers, spec.workers)
    machine = extra.get("machine_type") or (
        defaults.get("gpu_machine_type", "") if gpu_count else defaults.get("machine_type", "")
    )
    fit = worker_fit(
        dict(descriptor(spec.provider).machines), machine, spec.threads_per_worker,
        spec.memory_per_worker, gpu_count, gpu_count,
    )  # fmt: skip
    if fit is not None and fit.per_node == 0:
        wants = f"{spec.threads_per_worker} thread(s)" + (
            f" and {spec.memory_per_worker / 2**30:.1f} GiB" if spec.memory_per_worker else ""
        )
        raise ScalecloudError(
            f"a worker of {wants} does not fit on a {machine} node ({fit.cpu} cores and "
            f"{fit.memory_gib} GiB are left to pods)",
            "choose a larger --machine-type, or fewer --threads-per-worker or a smaller "
            "--memory-per-worker",
        )
    min_nodes = extra.get("min_nodes")
    max_nodes = extra.get("max_nodes")
    min_nodes = 1 if min_nodes is None else int(min_nodes)
    if max_nodes is None:
        needed = fit.nodes_for(high) if fit else math.ceil(high / max(1, gpu_count or 1))
        max_nodes = max(min_nodes, needed, 1)
    elif fit is not None and fit.per_node * int(max_nodes) < high:
        raise ScalecloudError(
            f"{high} workers need {fit.nodes_for(high)} {machine} nodes ({fit.per_node} fit "
            f"on one), but --max-nodes is {max_nodes}: the others would wait forever",
            f"raise --max-nodes to {fit.nodes_for(high)}, or ask for fewer workers",
        )
    region = extra.get("region") or defaults.get("region", "")
    zone = extra.get("zone") or defaults.get("zone", "").format(region=region)
    return KubeSpec(
        provider=spec.provider,
        name=spec.name,
        region=region,
        zone=zone,
        machine_type=machine,
        min_nodes=min_nodes,
        max_nodes=int(max_nodes),
        spot=bool(extra.get("spot", False)),
        gpu_type=gpu_type,
        gpu_count=gpu_count,
        workers_min=low,
        workers_max=high,
        threads_per_worker=spec.threads_per_worker,
        # Without --memory-per-worker: the worker's share of a node (it requests it).
        memory_per_worker=spec.memory_per_worker or (fit.memory_per_worker if fit else None),
        image=extra.get("image") or None,
        idle_timeout=spec.idle_timeout,
        expose_cidr=extra.get("expose_cidr") or None,
        data=tuple(extra.get("data") or ()),
        data_write=bool(extra.get("data_write", False)),
    )


@dataclass(frozen=True)
class CloudCluster:
    """What a cloud program's cluster component hands to the Dask component."""

    component: Any  # the pulumi.ComponentResource grouping the cloud resources
    kubeconfig: Any  # an Output[str], secret
    nodes: Any  # the worker node pool / group: every Kubernetes object waits for it
    cluster_name: str = ""
    scheduler_nodes: Any = None  # with --spot, the on-demand pool the scheduler runs on
    extras: dict[str, Any] = field(default_factory=dict)  # what a cloud's own parts reuse

    @property
    def node_pools(self) -> list[Any]:
        return [p for p in (self.nodes, self.scheduler_nodes) if p is not None]


def exec_kubeconfig(
    name: str, server: str, ca_data: str, command: str, args: list[str], hint: str
) -> str:
    """A kubeconfig (JSON, which is YAML) whose user gets tokens from a cloud CLI plugin,
    so no long-lived credential is stored in the stack."""
    import json

    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": command,
                            "args": args,
                            "installHint": hint,
                            "provideClusterInfo": True,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )

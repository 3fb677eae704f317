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

KUBE_PROVIDERS: tuple[str, ...] = ("gcp", "aws", "azure", "minikube")
LABEL = "scalecloud-cluster"

# (region, zone, machine type, GPU type when --gpu gives only a count) per cloud.
DEFAULTS: dict[str, dict[str, str]] = {
    "gcp": {"region": "us-central1", "zone": "us-central1-a", "machine_type": "e2-standard-4",
            "gpu_type": "nvidia-tesla-t4", "gpu_machine_type": "n1-standard-4"},
    "aws": {"region": "us-east-1", "zone": "", "machine_type": "m6i.xlarge",
            "gpu_type": "nvidia-t4", "gpu_machine_type": "g4dn.xlarge"},
    "azure": {"region": "eastus", "zone": "", "machine_type": "Standard_D4s_v5",
              "gpu_type": "nvidia-t4", "gpu_machine_type": "Standard_NC4as_T4_v3"},
    "minikube": {"region": "", "zone": "", "machine_type": "", "gpu_type": "",
                 "gpu_machine_type": ""},
}  # fmt: skip

# pip extra and the modules it brings, per provider.
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gcp": ("gcp", ("pulumi", "pulumi_kubernetes", "pulumi_gcp")),
    "aws": ("aws", ("pulumi", "pulumi_kubernetes", "pulumi_aws")),
    "azure": ("azure", ("pulumi", "pulumi_kubernetes", "pulumi_azure_native")),
    "minikube": ("kubernetes", ("pulumi", "pulumi_kubernetes")),
}

_GPU_RE = re.compile(r"^(?:([a-z0-9][-a-z0-9_.]*):)?(\d+)$", re.IGNORECASE)
_GPU_TYPE_RE = re.compile(r"^(?=.*\d)[a-z][-a-z0-9_.]*$", re.IGNORECASE)  # types carry a digit


def require_extra(provider: str) -> None:
    """Fail with the pip command when the SDKs of ``provider`` are not installed."""
    extra, modules = EXTRAS[provider]
    missing = [m for m in (*modules, "dask_kubernetes") if importlib.util.find_spec(m) is None]
    if missing:
        raise ScalecloudError(
            f"the {provider} provider needs {', '.join(missing)}, which is not installed",
            f'install it with: pip install "scalecloud[{extra}]"',
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
    reached through a port-forward.
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
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.provider not in KUBE_PROVIDERS:
            raise ScalecloudError(
                f"{self.provider!r} is not a Kubernetes provider",
                f"choose one of: {', '.join(KUBE_PROVIDERS)}",
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
        if self.spot and self.provider == "minikube":
            raise ScalecloudError("--spot applies to clouds only", "leave --spot out for minikube")
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


def kube_spec(spec: ClusterSpec) -> KubeSpec:
    """The KubeSpec of a CLI ClusterSpec; cloud options come from ``spec.extra``.

    Defaults: the cloud's region and machine type (a GPU machine type when a GPU is asked
    for), nodes 1..max(workers, 1) unless ``--min-nodes``/``--max-nodes`` say otherwise.
    """
    extra = spec.extra
    defaults = DEFAULTS[spec.provider]
    gpu_type, gpu_count = parse_gpu(extra.get("gpu"))
    if gpu_count and not gpu_type:
        gpu_type = defaults["gpu_type"] or None
    if gpu_count and spec.provider == "minikube":
        raise ScalecloudError("--gpu applies to clouds only", "leave --gpu out for minikube")
    low, high = spec.adapt if spec.adapt else (spec.workers, spec.workers)
    machine = extra.get("machine_type") or (
        defaults["gpu_machine_type"] if gpu_count else defaults["machine_type"]
    )
    min_nodes = extra.get("min_nodes")
    max_nodes = extra.get("max_nodes")
    min_nodes = 1 if min_nodes is None else int(min_nodes)
    if max_nodes is None:
        max_nodes = max(min_nodes, math.ceil(high / max(1, gpu_count or 1)), 1)
    region = extra.get("region") or defaults["region"]
    zone = extra.get("zone") or (defaults["zone"] if region == defaults["region"] else "")
    if spec.provider == "gcp" and not zone:
        zone = f"{region}-a"
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
        memory_per_worker=spec.memory_per_worker,
        image=extra.get("image") or None,
        idle_timeout=spec.idle_timeout,
        expose_cidr=extra.get("expose_cidr") or None,
    )


@dataclass(frozen=True)
class CloudCluster:
    """What a cloud program's cluster component hands to the Dask component."""

    component: Any  # the pulumi.ComponentResource grouping the cloud resources
    kubeconfig: Any  # an Output[str], secret
    nodes: Any  # the worker node pool / group: every Kubernetes object waits for it
    cluster_name: str = ""


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

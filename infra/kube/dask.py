"""The Dask part of every Kubernetes program: operator, DaskCluster, DaskAutoscaler.

Pure manifest builders (functions of a :class:`~scalecloud.infra.kube.KubeSpec`, testable
without Pulumi) and the Pulumi component that declares them on a
cluster: a Kubernetes provider from the cluster's kubeconfig, a namespace, the
dask-kubernetes operator Helm release pinned to the installed dask-kubernetes version, a
DaskCluster and (when adaptive) a DaskAutoscaler. Both depend on the release, so a destroy
deletes them while the operator and its finalizers still run.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from scalecloud.infra.image import extra_pip_packages, official_image, worker_pins
from scalecloud.infra.kube.spec import POOL_LABEL, SCHEDULER_POOL, WORKER_POOL, KubeSpec

if TYPE_CHECKING:
    from scalecloud.infra.kube.access import DataAccess

OPERATOR_REPO = "https://helm.dask.org"
OPERATOR_CHART = "dask-kubernetes-operator"
DASK_API = "kubernetes.dask.org/v1"


def operator_version() -> str:
    """The chart version: the installed dask-kubernetes, so CRDs match the client code."""
    return version("dask-kubernetes")


def prune(value: Any) -> Any:
    """``value`` without None entries (make_cluster_spec leaves them, CRD schemas refuse them)."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune(v) for v in value if v is not None]
    return value


def image_of(spec: KubeSpec) -> tuple[str, dict[str, str]]:
    """The image and environment of scheduler and workers.

    The user's image as is; else the official image matched to the client's distributed
    and Python, with the workloads' packages pinned to the client's versions.
    """
    if spec.image:
        return spec.image, {}
    return official_image(), {"EXTRA_PIP_PACKAGES": extra_pip_packages(worker_pins())}


def dask_cluster_manifest(spec: KubeSpec) -> dict[str, Any]:
    """The DaskCluster object (built with dask-kubernetes' own ``make_cluster_spec``)."""
    from dask_kubernetes.operator import make_cluster_spec

    image, env = image_of(spec)
    # distributed 2026.6 removed the dask-worker and dask-scheduler commands: `dask worker`
    # and `dask scheduler` are what the images have.
    command = f"dask worker --nthreads {spec.threads_per_worker}"
    if spec.memory_per_worker:
        command += f" --memory-limit {spec.memory_per_worker}"
    manifest = make_cluster_spec(
        name=spec.name,
        image=image,
        n_workers=spec.workers_min,
        env=env or None,
        worker_command=command,
        scheduler_service_type="LoadBalancer" if spec.expose_cidr else "ClusterIP",
        idle_timeout=int(spec.idle_timeout or 0),
    )
    manifest = prune(manifest)
    scheduler = manifest["spec"]["scheduler"]["spec"]["containers"][0]
    if scheduler["args"][:1] == ["dask-scheduler"]:
        scheduler["args"] = ["dask", "scheduler", *scheduler["args"][1:]]
    manifest["metadata"].update(namespace=spec.namespace, labels=dict(spec.labels))
    if env:  # the scheduler needs none of the workers' packages: it starts at once
        scheduler.pop("env", None)
    worker = manifest["spec"]["worker"]["spec"]["containers"][0]
    worker["resources"] = worker_resources(spec)
    for part in ("worker", "scheduler"):
        tolerations = tolerations_of(spec, spot=part == "worker")
        if tolerations:
            manifest["spec"][part]["spec"]["tolerations"] = tolerations
    worker_pod = manifest["spec"]["worker"]["spec"]
    # A worker told to stop (a reclaimed spot node, a scale-down) first hands its data to
    # the others, then exits: the preStop hook retires it through the scheduler.
    worker_pod["terminationGracePeriodSeconds"] = RETIRE_GRACE_S
    worker["lifecycle"] = {"preStop": {"exec": {"command": retire_command()}}}
    if spec.spot:  # the scheduler on the on-demand pool, the workers on the spot one
        manifest["spec"]["scheduler"]["spec"]["nodeSelector"] = {POOL_LABEL: SCHEDULER_POOL}
        worker_pod["nodeSelector"] = {POOL_LABEL: WORKER_POOL}
    if spec.expose_cidr:
        manifest["spec"]["scheduler"]["service"]["loadBalancerSourceRanges"] = [spec.expose_cidr]
    if spec.data:  # the workers read the --data buckets as this ServiceAccount's identity
        from scalecloud.infra.kube.access import SERVICE_ACCOUNT
        from scalecloud.infra.registry import descriptor

        worker_pod["serviceAccountName"] = SERVICE_ACCOUNT
        pod_labels = dict(descriptor(spec.provider).data_pod_labels)
        if pod_labels:
            manifest["spec"]["worker"]["metadata"] = {"labels": pod_labels}
    return manifest


def worker_resources(spec: KubeSpec) -> dict[str, Any]:
    """What a worker pod requests (cpu = threads, memory = memory per worker), so the node
    autoscaler adds nodes when workers no longer fit, and its limits (memory, GPUs)."""
    requests: dict[str, str] = {"cpu": str(spec.threads_per_worker)}
    limits: dict[str, str] = {}
    if spec.memory_per_worker:
        requests["memory"] = limits["memory"] = str(spec.memory_per_worker)
    if spec.gpu_count:
        limits["nvidia.com/gpu"] = str(spec.gpu_count)  # the CRD takes quantities as strings
    return {"requests": requests, "limits": limits} if limits else {"requests": requests}


# Seconds a stopped worker has to hand its data over (spot notices: GCP and Azure give
# 30 s, AWS 2 minutes; the kubelet's SIGTERM comes after the preStop hook returns).
RETIRE_GRACE_S = 60
RETIRE_SCRIPT = (
    "import os; from distributed import Client; "
    "c = Client(os.environ['DASK_SCHEDULER_ADDRESS'], timeout=10); "
    "c.retire_workers(names=[os.environ['DASK_WORKER_NAME']], close_workers=True); "
    "c.close()"
)


def retire_command() -> list[str]:
    """The worker's preStop hook: retire this worker (its data moves to the others), with
    a deadline inside the grace period; a failure never blocks the pod's end."""
    deadline = RETIRE_GRACE_S - 10
    return ["sh", "-c", f'timeout {deadline} python -c "{RETIRE_SCRIPT}" || true']


def tolerations_of(spec: KubeSpec, spot: bool = True) -> list[dict[str, str]]:
    """Taints the clouds put on GPU and spot nodes, which the Dask pods must tolerate
    (the scheduler, kept off spot nodes, does not tolerate theirs: ``spot=False``)."""
    found = []
    if spec.gpu_count:
        found.append({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
    if spec.spot and spot:
        from scalecloud.infra.registry import descriptor

        found.extend(dict(taint) for taint in descriptor(spec.provider).spot_tolerations)
    return found


def autoscaler_manifest(spec: KubeSpec) -> dict[str, Any]:
    """The DaskAutoscaler that keeps the workers between ``workers_min`` and ``workers_max``."""
    return {
        "apiVersion": DASK_API,
        "kind": "DaskAutoscaler",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(spec.labels)},
        "spec": {"cluster": spec.name, "minimum": spec.workers_min, "maximum": spec.workers_max},
    }


def namespace_manifest(spec: KubeSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": spec.namespace, "labels": dict(spec.labels)},
    }


def operator_release_args(spec: KubeSpec) -> dict[str, Any]:
    """The operator's Helm release: public chart, pinned, in the cluster's namespace.

    One operator per scalecloud cluster, confined to its namespace: a namespaced Role
    instead of the chart's fixed-name ClusterRole (two clusters on one Kubernetes, as on
    minikube, would collide on it), and kopf watching that namespace only, so each
    DaskCluster has exactly one operator and clusters come and go in any order. The CRDs
    are cluster-wide: Helm installs them with the first release and never deletes them.
    """
    return {
        "chart": OPERATOR_CHART,
        "version": operator_version(),
        "repository_opts": {"repo": OPERATOR_REPO},
        "namespace": spec.namespace,
        "name": "dask-operator",
        "atomic": True,
        "cleanup_on_fail": True,
        "values": {  # keys of the chart's values.yaml
            "podAnnotations": dict(spec.labels),
            "rbac": {"create": True, "cluster": False},
            "kopfArgs": ["--namespace", spec.namespace],
        },
    }


@dataclass
class DaskResources:
    """What :func:`dask_on_kubernetes` declared, for outputs and tests."""

    component: Any
    provider: Any
    namespace: Any
    operator: Any
    dask_cluster: Any
    autoscaler: Any | None
    service_account: Any = None  # with --data: the workers' ServiceAccount


def dask_on_kubernetes(
    spec: KubeSpec,
    kubeconfig: Any = None,
    context: str | None = None,
    after: list[Any] | None = None,
    access: DataAccess | None = None,
) -> DaskResources:
    """Declare the Dask component on the cluster reached by ``kubeconfig`` (or ``context``).

    ``after``: resources (node pools) the Kubernetes provider, hence every object on the
    cluster, waits for. ``access`` (with ``--data``): the annotations of the workers'
    ServiceAccount and the grants the DaskCluster waits for. Pulumi is imported here, not
    at module import, so the CLI starts fast.
    """
    import pulumi
    import pulumi_kubernetes as k8s

    if kubeconfig is None and not context:  # else the provider takes the current context
        raise ValueError("dask_on_kubernetes needs the cluster's kubeconfig or a context")
    name = spec.name
    component = pulumi.ComponentResource("scalecloud:index:DaskOnKubernetes", name, None)
    provider = k8s.Provider(
        f"{name}-k8s",
        kubeconfig=kubeconfig,
        context=context,
        # When the cluster is already gone, destroy drops its objects from state.
        delete_unreachable=True,
        opts=pulumi.ResourceOptions(parent=component, depends_on=after or []),
    )

    def on_cluster(*depends_on: Any) -> Any:
        return pulumi.ResourceOptions(
            parent=component, provider=provider, depends_on=list(depends_on)
        )

    namespace = k8s.core.v1.Namespace(
        f"{name}-ns", metadata=namespace_manifest(spec)["metadata"], opts=on_cluster()
    )
    operator = k8s.helm.v3.Release(
        f"{name}-operator", **operator_release_args(spec), opts=on_cluster(namespace)
    )

    def custom_resource(suffix: str, manifest: dict[str, Any], opts: Any) -> Any:
        return k8s.apiextensions.CustomResource(
            f"{name}-{suffix}", api_version=manifest["apiVersion"], kind=manifest["kind"],
            metadata=manifest["metadata"], spec=manifest["spec"], opts=opts,
        )  # fmt: skip

    service_account = None
    waits: list[Any] = [operator]
    if spec.data:
        if access is None:
            raise ValueError(f"{spec.provider}'s program declared no identity for --data")
        from scalecloud.infra.kube.access import service_account_manifest

        manifest = service_account_manifest(spec, access.annotations)
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-data-sa", metadata=manifest["metadata"], opts=on_cluster(namespace)
        )
        waits += [service_account, *access.depends_on]
    dask_cluster = custom_resource("daskcluster", dask_cluster_manifest(spec), on_cluster(*waits))
    autoscaler = None
    if spec.adaptive:
        autoscaler = custom_resource(
            "autoscaler", autoscaler_manifest(spec), on_cluster(operator, dask_cluster)
        )
    component.register_outputs(
        {"namespace": spec.namespace, "scheduler_service": spec.scheduler_service}
    )
    return DaskResources(
        component, provider, namespace, operator, dask_cluster, autoscaler, service_account
    )


def export_outputs(spec: KubeSpec, **access: Any) -> None:
    """The stack outputs every program exports: how to reach the cluster (``kubeconfig``
    or ``context``), and where its Dask objects are."""
    import pulumi

    for key, value in access.items():
        pulumi.export(key, value)
    pulumi.export("namespace", spec.namespace)
    pulumi.export("scheduler_service", spec.scheduler_service)
    pulumi.export("dask_cluster", spec.name)

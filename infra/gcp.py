"""Google Cloud: a GKE cluster with an autoscaling worker node pool, and Dask on it.

The program is a function of a :class:`~scalecloud.infra.kube.KubeSpec`; pulumi-gcp is
imported when it runs (``pip install "scalecloud[gcp]"``), never at import.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.driver import PulumiProvider
from scalecloud.infra.kube.preflight import cli_json
from scalecloud.infra.kube.spec import (
    LABEL,
    SCHEDULER_POOL,
    WORKER_POOL,
    CloudCluster,
    KubeSpec,
    exec_kubeconfig,
)
from scalecloud.infra.registry import CLOUD_OPTIONS, STACK_DOWN_SUMMARY, ProviderDescriptor

if TYPE_CHECKING:
    from scalecloud.infra.kube.access import DataAccess

SCHEDULER_MACHINE_TYPE = "e2-standard-2"  # the on-demand node of the scheduler with --spot


def gke_cluster(spec: KubeSpec, opts: Any = None) -> CloudCluster:
    """The GKE cluster component, its kubeconfig (an Output) and worker pool.

    The default pool is removed and replaced by a node pool that autoscales between
    ``min_nodes`` and ``max_nodes`` (0 allowed), optionally spot and with GPUs. Deletion
    protection is off, or ``down`` could not delete the cluster.
    """
    import pulumi
    import pulumi_gcp as gcp

    name = spec.name
    component = pulumi.ComponentResource("scalecloud:gcp:GkeCluster", name, None, opts)
    child = pulumi.ResourceOptions(parent=component)
    identity: dict[str, Any] = {}  # with --data: Workload Identity on cluster and nodes
    metadata: dict[str, Any] = {}
    if spec.data:
        project = gcp.organizations.get_client_config_output().project
        identity["workload_identity_config"] = {
            "workload_pool": project.apply(lambda p: f"{p}.svc.id.goog")
        }
        metadata["workload_metadata_config"] = {"mode": "GKE_METADATA"}
    cluster = gcp.container.Cluster(
        f"{name}-gke",
        location=spec.zone or spec.region,
        deletion_protection=False,
        remove_default_node_pool=True,
        initial_node_count=1,
        resource_labels=dict(spec.labels),
        release_channel={"channel": "REGULAR"},
        **identity,
        opts=child,
    )
    node_config: Any = {  # a NodePoolNodeConfigArgsDict
        "machine_type": spec.machine_type,
        "spot": spec.spot,
        "labels": spec.pool_labels(WORKER_POOL),
        "resource_labels": dict(spec.labels),
        "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
        **metadata,
    }
    if spec.gpu_count:
        node_config["guest_accelerators"] = [
            {
                "type": spec.gpu_type,
                "count": spec.gpu_count,
                "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"},
            }
        ]
    # Pools named in their cluster (an auto-name passes GKE's 40 characters for long
    # cluster names); a changed pool is deleted before its replacement is made.
    # The autoscaler owns the node count: a refresh must not reset it.
    pool_opts = pulumi.ResourceOptions(
        parent=component, delete_before_replace=True,
        ignore_changes=["nodeCount", "initialNodeCount"],
    )  # fmt: skip
    pool = gcp.container.NodePool(
        f"{name}-workers",
        name="workers",
        cluster=cluster.name,
        location=cluster.location,
        initial_node_count=spec.min_nodes,
        autoscaling={"min_node_count": spec.min_nodes, "max_node_count": spec.max_nodes},
        management={"auto_repair": True, "auto_upgrade": True},
        node_config=node_config,
        opts=pool_opts,
    )
    scheduler_pool = None
    if spec.spot:  # the scheduler on on-demand capacity: losing it loses the whole run
        scheduler_config: Any = {
            "machine_type": SCHEDULER_MACHINE_TYPE,
            "spot": False,
            "labels": spec.pool_labels(SCHEDULER_POOL),
            "resource_labels": dict(spec.labels),
            "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            **metadata,
        }
        scheduler_pool = gcp.container.NodePool(
            f"{name}-scheduler",
            name="scheduler",
            cluster=cluster.name,
            location=cluster.location,
            node_count=1,
            management={"auto_repair": True, "auto_upgrade": True},
            node_config=scheduler_config,
            opts=pool_opts,
        )
    kubeconfig = pulumi.Output.all(
        cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate
    ).apply(
        lambda args: exec_kubeconfig(
            args[0], f"https://{args[1]}", args[2], "gke-gcloud-auth-plugin", [],
            "install it with: gcloud components install gke-gcloud-auth-plugin",
        )
    )  # fmt: skip
    component.register_outputs({"cluster": cluster.name, "node_pool": pool.name})
    return CloudCluster(
        component, pulumi.Output.secret(kubeconfig), pool, scheduler_nodes=scheduler_pool
    )


def gke_data_access(spec: KubeSpec, cluster: CloudCluster) -> DataAccess:
    """``--data`` on GKE: a Google service account the workers' ServiceAccount acts as
    (Workload Identity), granted a storage role on each named bucket and nothing else."""
    import pulumi
    import pulumi_gcp as gcp
    from scalecloud.infra.kube import access

    name = spec.name
    component = pulumi.ComponentResource("scalecloud:gcp:DataAccess", name, None)
    child = pulumi.ResourceOptions(parent=component, depends_on=[cluster.component])
    account = gcp.serviceaccount.Account(
        f"{name}-data", account_id=access.gcp_account_id(name),
        display_name=f"scalecloud {name}: workers' data access", opts=child,
    )  # fmt: skip
    binding = gcp.serviceaccount.IAMMember(
        f"{name}-data-workload-identity",
        service_account_id=account.name,
        role=access.GKE_IDENTITY_ROLE,
        member=account.project.apply(lambda p: access.gke_member(p, spec.namespace)),
        opts=child,
    )
    role = access.GCS_WRITE_ROLE if spec.data_write else access.GCS_READ_ROLE
    member = account.email.apply(lambda e: f"serviceAccount:{e}")
    buckets = [
        gcp.storage.BucketIAMMember(
            f"{name}-data-{bucket}", bucket=bucket, role=role, member=member, opts=child
        )
        for bucket in dict.fromkeys(url.bucket for url in access.grants(spec))
    ]
    component.register_outputs({"service_account": account.email})
    return access.DataAccess({access.GKE_ANNOTATION: account.email}, [binding, *buckets])


def program(spec: KubeSpec) -> None:
    """The whole stack: GKE, then Dask on it once the node pool exists."""
    from scalecloud.infra.kube.dask import dask_on_kubernetes, export_outputs

    cluster = gke_cluster(spec)
    grants = gke_data_access(spec, cluster) if spec.data else None
    dask_on_kubernetes(spec, kubeconfig=cluster.kubeconfig, after=cluster.node_pools, access=grants)
    export_outputs(spec, kubeconfig=cluster.kubeconfig)


def _gcloud_config_dir() -> Path:
    return Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")


def gcp_project() -> str | None:
    """The project from the environment or gcloud's active configuration."""
    for var in ("GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        if os.environ.get(var):
            return os.environ[var]
    config = _gcloud_config_dir() / "configurations" / "config_default"
    with suppress(OSError):
        for line in config.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "project" and value.strip():
                return value.strip()
    return None


class GcpProvider(PulumiProvider):
    """GKE through Pulumi; see :class:`~scalecloud.infra.pulumi_driver.PulumiProvider`."""

    name: ClassVar[str] = "gcp"
    tools = (
        ("gke-gcloud-auth-plugin",
         "install it: gcloud components install gke-gcloud-auth-plugin "
         "(https://cloud.google.com/sdk/docs/install first if gcloud is missing)"),
    )  # fmt: skip

    def check_credentials(self, spec: KubeSpec) -> None:
        adc = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or str(
            _gcloud_config_dir() / "application_default_credentials.json"
        )
        if not (Path(adc).is_file() or os.environ.get("GOOGLE_OAUTH_ACCESS_TOKEN")):
            raise ScalecloudError(
                "no Google Cloud application-default credentials found",
                "log in with: gcloud auth application-default login "
                "(or set GOOGLE_APPLICATION_CREDENTIALS to a key file)",
            )
        if gcp_project() is None:
            raise ScalecloudError(
                "no Google Cloud project is set",
                "set one with: gcloud config set project PROJECT_ID (or GOOGLE_PROJECT=...)",
            )

    def stack_env(self, spec: KubeSpec) -> dict[str, str]:
        env = {"GOOGLE_REGION": spec.region, "GOOGLE_ZONE": spec.zone}
        project = gcp_project()
        if project:
            env["GOOGLE_PROJECT"] = project
        return env

    def cloud_leftovers(self, spec: KubeSpec) -> list[str] | None:
        project = gcp_project()
        if project is None:
            return None
        base = ["--project", project, "--format", "json"]
        queries = {
            "cluster": ["gcloud", "container", "clusters", "list",
                        f"--filter=resourceLabels.{LABEL}={spec.name}", *base],
            "disk": ["gcloud", "compute", "disks", "list",
                     f"--filter=labels.{LABEL}={spec.name} OR description~{spec.namespace}/", *base],
            # LoadBalancers made by Kubernetes name their Service in the description.
            "forwarding rule": ["gcloud", "compute", "forwarding-rules", "list",
                                f"--filter=description~{spec.namespace}/", *base],
        }  # fmt: skip
        found: list[str] = []
        for what, command in queries.items():
            items = cli_json(command)
            if items is None:
                return None
            found += [f"{what} {item.get('name', '?')}" for item in items]
        return found


# List prices per hour in USD (see infra/kube/prices.py for what they are and are not);
# `plan` and `status` say their date.
# Shapes of the machine types scalecloud prices: vCPUs, memory GiB.
MACHINES: dict[str, tuple[float, float]] = {
    "e2-standard-2": (2, 8), "e2-standard-4": (4, 16), "e2-standard-8": (8, 32),
    "n2-standard-4": (4, 16), "n1-standard-4": (4, 15), "g2-standard-4": (4, 16),
}  # fmt: skip

PRICES: dict[str, Any] = {
    "as_of": "2026-11-01",
    "control_plane": {
        "hourly": 0.1,
        "note": "GKE Standard cluster management fee (the monthly free-tier credit "
        "covers one zonal cluster)",
    },
    "nodes": {
        "us-central1": {
            "e2-standard-2": {"on_demand": 0.067, "spot": 0.02},
            "e2-standard-4": {"on_demand": 0.134, "spot": 0.04},
            "e2-standard-8": {"on_demand": 0.268, "spot": 0.08},
            "n2-standard-4": {"on_demand": 0.194, "spot": 0.047},
            "n1-standard-4": {"on_demand": 0.19, "spot": 0.04},
            "g2-standard-4": {"on_demand": 0.707, "spot": 0.224},
        },
        "europe-west1": {
            "e2-standard-2": {"on_demand": 0.074, "spot": 0.022},
            "e2-standard-4": {"on_demand": 0.147, "spot": 0.044},
            "e2-standard-8": {"on_demand": 0.295, "spot": 0.088},
            "n2-standard-4": {"on_demand": 0.214, "spot": 0.052},
            "n1-standard-4": {"on_demand": 0.209, "spot": 0.044},
        },
    },
    "gpus": {
        "us-central1": {
            "nvidia-tesla-t4": {"on_demand": 0.35, "spot": 0.14},
            "nvidia-l4": {
                "on_demand": 0.0,
                "spot": 0.0,
                "note": "included in the g2 machine price",
            },
        },
        "europe-west1": {"nvidia-tesla-t4": {"on_demand": 0.35, "spot": 0.14}},
    },
}

PROVIDER = ProviderDescriptor(
    name="gcp",
    summary="GKE on Google Cloud, with an autoscaling worker node pool",
    driver=GcpProvider,
    down_summary=STACK_DOWN_SUMMARY,
    options=frozenset(CLOUD_OPTIONS),  # every cloud option
    kubernetes=True,
    program=program,
    prices=PRICES,
    machines=MACHINES,
    name_limit=28,  # the cluster's auto-name, NAME-gke-XXXXXXX, may have 40 characters
    name_letter_first=True,
    defaults={"region": "us-central1", "zone": "{region}-a", "machine_type": "e2-standard-4",
              "gpu_type": "nvidia-tesla-t4", "gpu_machine_type": "n1-standard-4",
              "scheduler_machine_type": SCHEDULER_MACHINE_TYPE},
    extra="gcp",
    data_scheme="gs",
    modules=("pulumi", "pulumi_kubernetes", "pulumi_gcp"),
    plan_properties=("location", "machineType", "autoscaling", "spot", "guestAccelerators",
                     "deletionProtection", "removeDefaultNodePool", "workloadIdentityConfig",
                     "workloadMetadataConfig", "accountId", "role", "member", "bucket"),
)  # fmt: skip

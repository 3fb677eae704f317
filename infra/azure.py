"""Microsoft Azure: AKS with a system pool and an autoscaling user pool, and Dask on it.

AKS needs a system pool of at least one node, so the workers get a separate user pool
that the cluster autoscaler scales between ``min_nodes`` and ``max_nodes`` (0 allowed),
optionally spot and on a GPU VM size. The kubeconfig comes from the cluster's user
credentials. pulumi-azure-native is imported when the program runs
(``pip install "scalecloud[azure]"``).
"""

from __future__ import annotations

import base64
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.driver import PulumiProvider
from scalecloud.infra.kube.gpu import device_plugin_release, gpu_node_labels
from scalecloud.infra.kube.preflight import cli_json, has_env
from scalecloud.infra.kube.spec import LABEL, SCHEDULER_POOL, WORKER_POOL, CloudCluster, KubeSpec
from scalecloud.infra.registry import CLOUD_OPTIONS, STACK_DOWN_SUMMARY, ProviderDescriptor

if TYPE_CHECKING:
    from scalecloud.infra.kube.access import DataAccess

SYSTEM_VM_SIZE = "Standard_D2s_v5"
SYSTEM_ASSIGNED: Any = {"type": "SystemAssigned"}  # the cluster's managed identity
# With --data: the OIDC issuer and the workload identity webhook of AKS.
WORKLOAD_IDENTITY: dict[str, Any] = {
    "oidc_issuer_profile": {"enabled": True},
    "security_profile": {"workload_identity": {"enabled": True}},
}


def aks_cluster(spec: KubeSpec, opts: Any = None) -> CloudCluster:
    """The AKS component (resource group, managed cluster, worker pool) and its kubeconfig."""
    import pulumi
    import pulumi_azure_native as azure

    name = spec.name
    tags = dict(spec.labels)
    component = pulumi.ComponentResource("scalecloud:azure:AksCluster", name, None, opts)
    child = pulumi.ResourceOptions(parent=component)
    group = azure.resources.ResourceGroup(
        f"{name}-rg", resource_group_name=f"scalecloud-{name}", location=spec.region,
        tags=tags, opts=child,
    )  # fmt: skip
    system_pool: Any = {
        "name": "system",
        "mode": "System",
        "count": 1,
        "vm_size": SYSTEM_VM_SIZE,
        "os_type": "Linux",
        "type": "VirtualMachineScaleSets",
        "node_labels": spec.pool_labels(SCHEDULER_POOL),  # on-demand: the scheduler's, --spot
        "tags": tags,
    }  # at least one node
    cluster = azure.containerservice.ManagedCluster(
        f"{name}-aks",
        resource_group_name=group.name,
        resource_name_=f"scalecloud-{name}",
        location=spec.region,
        dns_prefix=f"scalecloud-{name}",
        # Named, or AKS makes MC_{group}_{cluster}_{region}, which may pass 80 characters.
        node_resource_group=f"scalecloud-{name}-nodes",
        identity=SYSTEM_ASSIGNED,
        enable_rbac=True,
        agent_pool_profiles=[system_pool],
        tags=tags,
        **(WORKLOAD_IDENTITY if spec.data else {}),
        opts=child,
    )
    pool_args: dict[str, Any] = {
        "mode": "User",
        "vm_size": spec.machine_type,
        "os_type": "Linux",
        "type": "VirtualMachineScaleSets",
        "enable_auto_scaling": True,
        "min_count": spec.min_nodes,
        "max_count": spec.max_nodes,
        "count": max(spec.min_nodes, 1),
        "node_labels": {**spec.pool_labels(WORKER_POOL), **gpu_node_labels(spec)},
        "tags": tags,
    }
    if spec.spot:
        # Spot nodes get this taint from Azure; the workers tolerate it (dask_k8s).
        pool_args.update(
            scale_set_priority="Spot", scale_set_eviction_policy="Delete", spot_max_price=-1
        )
    if spec.gpu_count:
        pool_args["node_taints"] = ["nvidia.com/gpu=true:NoSchedule"]
    pool = azure.containerservice.AgentPool(
        f"{name}-workers",
        agent_pool_name="workers",
        resource_group_name=group.name,
        resource_name_=cluster.name,
        **pool_args,
        # The autoscaler owns the node count: a refresh must not reset it.
        opts=pulumi.ResourceOptions(parent=component, ignore_changes=["count"]),
    )
    credentials = azure.containerservice.list_managed_cluster_user_credentials_output(
        resource_group_name=group.name, resource_name=cluster.name
    )
    kubeconfig: Any = credentials.kubeconfigs[0].value.apply(
        lambda encoded: base64.b64decode(encoded).decode()
    )
    component.register_outputs({"cluster": cluster.name, "node_pool": pool.name})
    return CloudCluster(
        component, pulumi.Output.secret(kubeconfig), pool,
        extras={"group": group, "cluster": cluster},
    )  # fmt: skip


def aks_data_access(spec: KubeSpec, cloud: CloudCluster) -> DataAccess:
    """``--data`` on AKS: a user-assigned identity, federated with the workers'
    ServiceAccount token, with a Storage Blob Data role on each named container only."""
    import pulumi
    import pulumi_azure_native as azure
    from scalecloud.infra.kube import access

    name, group, cluster = spec.name, cloud.extras["group"], cloud.extras["cluster"]
    component = pulumi.ComponentResource("scalecloud:azure:DataAccess", name, None)
    child = pulumi.ResourceOptions(parent=component)
    identity = azure.managedidentity.UserAssignedIdentity(
        f"{name}-data", resource_group_name=group.name, resource_name_=f"scalecloud-{name}-data",
        location=spec.region, tags=dict(spec.labels), opts=child,
    )  # fmt: skip
    federated = azure.managedidentity.FederatedIdentityCredential(
        f"{name}-data", resource_group_name=group.name, resource_name_=identity.name,
        federated_identity_credential_resource_name="scalecloud-workers",
        issuer=cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url),
        subject=access.federated_subject(spec.namespace), audiences=[access.AZURE_AUDIENCE],
        opts=child,
    )  # fmt: skip
    subscription = azure.authorization.get_client_config_output().subscription_id
    _, role = access.azure_role(spec.data_write)

    def role_id(sub: str) -> str:
        return f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"

    assignments = []
    for i, url in enumerate({(u.account, u.bucket): u for u in access.grants(spec)}.values()):
        scope: Any = subscription.apply(partial(access.azure_container_scope, url=url))
        assignments.append(
            azure.authorization.RoleAssignment(
                f"{name}-data-{i}",
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=subscription.apply(role_id),
                scope=scope,
                opts=child,
            )
        )
    component.register_outputs({"client_id": identity.client_id})
    return access.DataAccess(
        {access.AZURE_ANNOTATION: identity.client_id}, [federated, *assignments]
    )


def program(spec: KubeSpec) -> None:
    """The whole stack: AKS, then Dask on it once the worker pool exists."""
    from scalecloud.infra.kube.dask import dask_on_kubernetes, export_outputs

    cluster = aks_cluster(spec)
    grants = aks_data_access(spec, cluster) if spec.data else None
    dask = dask_on_kubernetes(
        spec, kubeconfig=cluster.kubeconfig, after=cluster.node_pools, access=grants
    )
    device_plugin_release(spec, dask.provider, dask.component)
    export_outputs(spec, kubeconfig=cluster.kubeconfig)


class AzureProvider(PulumiProvider):
    """AKS through Pulumi; see :class:`~scalecloud.infra.pulumi_driver.PulumiProvider`."""

    name: ClassVar[str] = "azure"

    def check_credentials(self, spec: KubeSpec) -> None:
        azure_dir = Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")
        service_principal = all(
            os.environ.get(v) for v in ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID")
        )
        cli_login = (azure_dir / "azureProfile.json").is_file() and (
            (azure_dir / "msal_token_cache.json").is_file()
            or (azure_dir / "msal_token_cache.bin").is_file()
        )
        if not (service_principal or cli_login or has_env("ARM_USE_MSI", "ARM_USE_OIDC")):
            raise ScalecloudError(
                "no Azure credentials found (Azure CLI login or ARM_* environment)",
                "log in with: az login, then az account set --subscription SUBSCRIPTION_ID",
            )

    def cloud_leftovers(self, spec: KubeSpec) -> list[str] | None:
        tagged = cli_json(
            ["az", "resource", "list", "--tag", f"{LABEL}={spec.name}", "--output", "json"]
        )
        group = cli_json(
            ["az", "group", "exists", "--name", f"scalecloud-{spec.name}", "--output", "json"]
        )
        if tagged is None or group is None:
            return None
        found = [item.get("id", "?") for item in tagged]
        if group is True:
            found.append(f"resource group scalecloud-{spec.name}")
        return found


# List prices per hour in USD (see infra/kube/prices.py for what they are and are not);
# `plan` and `status` say their date.
# Shapes of the VM sizes scalecloud prices: vCPUs, memory GiB.
MACHINES: dict[str, tuple[float, float]] = {
    "Standard_D2s_v5": (2, 8), "Standard_D4s_v5": (4, 16), "Standard_D8s_v5": (8, 32),
    "Standard_NC4as_T4_v3": (4, 28),
}  # fmt: skip

PRICES: dict[str, Any] = {
    "as_of": "2026-11-01",
    "control_plane": {"hourly": 0.0, "note": "AKS Free tier control plane"},
    "fixed_nodes": {
        "machine_type": "Standard_D2s_v5",
        "count": 1,
        "note": "the AKS system pool (at least one node)",
    },
    "nodes": {
        "eastus": {
            "Standard_D2s_v5": {"on_demand": 0.096, "spot": 0.02},
            "Standard_D4s_v5": {"on_demand": 0.192, "spot": 0.04},
            "Standard_D8s_v5": {"on_demand": 0.384, "spot": 0.08},
            "Standard_NC4as_T4_v3": {"on_demand": 0.526, "spot": 0.158},
        },
        "westeurope": {
            "Standard_D2s_v5": {"on_demand": 0.115, "spot": 0.024},
            "Standard_D4s_v5": {"on_demand": 0.23, "spot": 0.048},
            "Standard_D8s_v5": {"on_demand": 0.46, "spot": 0.096},
            "Standard_NC4as_T4_v3": {"on_demand": 0.631, "spot": 0.19},
        },
    },
}

PROVIDER = ProviderDescriptor(
    name="azure",
    summary="AKS on Azure, with a system pool and an autoscaling user pool",
    driver=AzureProvider,
    down_summary=STACK_DOWN_SUMMARY,
    options=frozenset(CLOUD_OPTIONS),  # every cloud option
    kubernetes=True,
    program=program,
    prices=PRICES,
    machines=MACHINES,
    defaults={"region": "eastus", "zone": "", "machine_type": "Standard_D4s_v5",
              "gpu_type": "nvidia-t4", "gpu_machine_type": "Standard_NC4as_T4_v3"},
    extra="azure",
    data_scheme="abfs",
    modules=("pulumi", "pulumi_kubernetes", "pulumi_azure_native"),
    spot_tolerations=({"key": "kubernetes.azure.com/scalesetpriority", "operator": "Exists",
                       "effect": "NoSchedule"},),
    plan_properties=("location", "vmSize", "enableAutoScaling", "minCount", "maxCount",
                     "scaleSetPriority", "mode", "count", "oidcIssuerProfile", "securityProfile",
                     "subject", "scope", "roleDefinitionId"),
    data_pod_labels={"azure.workload.identity/use": "true"},
)  # fmt: skip

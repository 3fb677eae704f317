"""The Pulumi programs of gcp, aws, azure and minikube, run under the SDK's mock runtime.

Each test runs the real program with fresh mocks (``plan.declare``) and asserts on every
resource declared: exact types, autoscaling bounds, machine types, spot and GPU options,
labels, dependencies, the image, and that nothing is public by default.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest
from scalecloud.infra.image import extra_pip_packages, official_image, worker_pins
from scalecloud.infra.kube.dask import OPERATOR_CHART, OPERATOR_REPO
from scalecloud.infra.kube.plan import Declared, declare
from scalecloud.infra.kube.spec import LABEL, KubeSpec, kube_spec
from scalecloud.infra.spec import ClusterSpec
from scalecloud.infra.versions import python_version

pytest.importorskip("pulumi")

DASK_TYPES = [
    "kubernetes:core/v1:Namespace",
    "kubernetes:helm.sh/v3:Release",
    "kubernetes:kubernetes.dask.org/v1:DaskAutoscaler",
    "kubernetes:kubernetes.dask.org/v1:DaskCluster",
    "pulumi:providers:kubernetes",
    "scalecloud:index:DaskOnKubernetes",
]
CLOUD_TYPES = {
    "gcp": [
        "gcp:container/cluster:Cluster",
        "gcp:container/nodePool:NodePool",
        "scalecloud:gcp:GkeCluster",
    ],
    "aws": [
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/routeTable:RouteTable",
        *["aws:ec2/routeTableAssociation:RouteTableAssociation"] * 2,
        *["aws:ec2/subnet:Subnet"] * 2,
        "aws:ec2/vpc:Vpc",
        "aws:eks/addon:Addon",  # Pod Identity's agent
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",  # the Cluster Autoscaler's
        *["aws:iam/role:Role"] * 3,
        "aws:iam/rolePolicy:RolePolicy",
        *["aws:iam/rolePolicyAttachment:RolePolicyAttachment"] * 4,
        "kubernetes:helm.sh/v3:Release",  # the Cluster Autoscaler
        "scalecloud:aws:EksCluster",
    ],
    "azure": [
        "azure-native:containerservice:AgentPool",
        "azure-native:containerservice:ManagedCluster",
        "azure-native:resources:ResourceGroup",
        "scalecloud:azure:AksCluster",
    ],
    "minikube": [],
}


def spec_for(provider: str, **extra: object) -> KubeSpec:
    workers = extra.pop("workers", 2)
    adapt = extra.pop("adapt", (1, 5))
    idle = extra.pop("idle_timeout", 1800.0)
    return kube_spec(
        ClusterSpec(
            provider=provider, name="exp-1", workers=workers, adapt=adapt, idle_timeout=idle,
            extra=extra,
        )
    )  # fmt: skip


def one(declared: list[Declared], typ: str, name: str | None = None) -> Declared:
    found = [d for d in declared if d.type == typ and (name is None or d.name == name)]
    assert len(found) == 1, [d.type for d in declared]
    return found[0]


@pytest.mark.parametrize("provider", list(CLOUD_TYPES))
def test_each_program_declares_exactly_its_resources(provider):
    declared = declare(spec_for(provider))
    assert sorted(d.type for d in declared) == sorted(DASK_TYPES + CLOUD_TYPES[provider])


@pytest.mark.parametrize("provider", list(CLOUD_TYPES))
def test_dask_objects_wait_for_the_operator_and_nodes(provider):
    spec = spec_for(provider)
    declared = declare(spec)
    release = one(declared, "kubernetes:helm.sh/v3:Release", "exp-1-operator")
    cluster = one(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster")
    scaler = one(declared, "kubernetes:kubernetes.dask.org/v1:DaskAutoscaler")
    assert release.urn in cluster.dependencies
    assert {release.urn, cluster.urn} <= set(scaler.dependencies)
    assert release.inputs["chart"] == OPERATOR_CHART
    assert release.inputs["version"] == version("dask-kubernetes")
    assert release.inputs["repositoryOpts"] == {"repo": OPERATOR_REPO}
    assert release.inputs["namespace"] == spec.namespace
    provider_res = one(declared, "pulumi:providers:kubernetes")
    assert provider_res.inputs["deleteUnreachable"] == "true"
    if provider == "minikube":
        assert provider_res.inputs["context"] == "minikube"
        assert "kubeconfig" not in provider_res.inputs
    else:
        # The provider waits for the worker nodes, so every Kubernetes object does too.
        pools = [d.urn for d in declared if d.type.endswith(("NodePool", "NodeGroup", "AgentPool"))]
        assert len(pools) == 1 and pools[0] in provider_res.dependencies
        assert "current-context" in provider_res.inputs["kubeconfig"]
    for d in declared:
        if d.type.startswith("kubernetes:") and d.type != "pulumi:providers:kubernetes":
            assert d.provider.startswith(provider_res.urn), d.name


@pytest.mark.parametrize("provider", list(CLOUD_TYPES))
def test_the_dask_cluster_runs_the_clients_image_and_is_private(provider):
    declared = declare(spec_for(provider))
    cluster = one(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster")
    scheduler = cluster.inputs["spec"]["scheduler"]
    worker = cluster.inputs["spec"]["worker"]
    py = ".".join(python_version().split(".")[:2])
    expected = f"ghcr.io/dask/dask:{version('distributed')}-py{py}"
    assert official_image() == expected
    env = {"EXTRA_PIP_PACKAGES": extra_pip_packages(worker_pins())}
    for part in (scheduler, worker):
        assert part["spec"]["containers"][0]["image"] == expected
    # Only the workers install the workloads' packages; the scheduler starts at once,
    # well inside its liveness probe (first check at 15 s).
    assert "env" not in scheduler["spec"]["containers"][0]
    container = worker["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in container["env"]} == env
    assert "startupProbe" not in container and "livenessProbe" not in container
    assert f"scikit-learn=={version('scikit-learn')}" in env["EXTRA_PIP_PACKAGES"]
    assert scheduler["service"]["type"] == "ClusterIP"
    assert "loadBalancerSourceRanges" not in scheduler["service"]
    assert cluster.inputs["spec"]["idleTimeout"] == 1800
    assert worker["replicas"] == 1  # starts at the adaptive minimum
    scaler = one(declared, "kubernetes:kubernetes.dask.org/v1:DaskAutoscaler")
    assert scaler.inputs["spec"] == {"cluster": "exp-1", "minimum": 1, "maximum": 5}


@pytest.mark.parametrize("provider", list(CLOUD_TYPES))
def test_everything_is_labelled_with_the_cluster_name(provider):
    declared = declare(spec_for(provider))
    labels = {LABEL: "exp-1"}
    for typ in (
        "kubernetes:core/v1:Namespace",
        "kubernetes:kubernetes.dask.org/v1:DaskCluster",
        "kubernetes:kubernetes.dask.org/v1:DaskAutoscaler",
    ):
        assert one(declared, typ).inputs["metadata"]["labels"] == labels
    for d in declared:
        if d.type.startswith("aws:") and d.type.split(":")[1] in (
            "ec2/vpc", "ec2/subnet", "eks/cluster", "eks/nodeGroup", "iam/role",
        ):  # fmt: skip
            assert d.inputs["tags"][LABEL] == "exp-1", d.name
        if d.type.startswith("azure-native:") and "tags" in d.inputs:
            assert d.inputs["tags"] == labels, d.name
    if provider == "gcp":
        assert one(declared, "gcp:container/cluster:Cluster").inputs["resourceLabels"] == labels
        node_config = one(declared, "gcp:container/nodePool:NodePool").inputs["nodeConfig"]
        assert node_config["labels"] == labels and node_config["resourceLabels"] == labels


def test_gke_has_an_autoscaling_pool_and_can_be_deleted():
    declared = declare(spec_for("gcp", min_nodes=0, max_nodes=6, machine_type="e2-standard-8"))
    cluster = one(declared, "gcp:container/cluster:Cluster").inputs
    assert cluster["deletionProtection"] is False
    assert cluster["removeDefaultNodePool"] is True and cluster["initialNodeCount"] == 1
    assert cluster["location"] == "us-central1-a"
    pool = one(declared, "gcp:container/nodePool:NodePool").inputs
    assert pool["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 6}
    assert pool["nodeConfig"]["machineType"] == "e2-standard-8"
    assert pool["nodeConfig"]["spot"] is False
    assert "guestAccelerators" not in pool["nodeConfig"]


def test_gke_spot_and_gpu():
    declared = declare(spec_for("gcp", spot=True, gpu="nvidia-l4:2", machine_type="g2-standard-24"))
    config = one(declared, "gcp:container/nodePool:NodePool", "exp-1-workers").inputs["nodeConfig"]
    assert config["spot"] is True and config["machineType"] == "g2-standard-24"
    assert config["guestAccelerators"][0]["type"] == "nvidia-l4"
    assert config["guestAccelerators"][0]["count"] == 2
    worker = one(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster").inputs["spec"]["worker"]
    assert worker["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert worker["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_eks_node_group_scaling_spot_gpu_and_autoscaler():
    plain = declare(spec_for("aws", max_nodes=4))
    group = one(plain, "aws:eks/nodeGroup:NodeGroup").inputs
    assert group["scalingConfig"] == {"minSize": 1, "maxSize": 4, "desiredSize": 1}
    assert group["capacityType"] == "ON_DEMAND" and group["amiType"] == "AL2023_x86_64_STANDARD"
    assert group["instanceTypes"] == ["m6i.xlarge"]
    autoscaler = one(plain, "kubernetes:helm.sh/v3:Release", "exp-1-cluster-autoscaler").inputs
    assert autoscaler["chart"] == "cluster-autoscaler"
    assert autoscaler["values"]["autoDiscovery"] == {"clusterName": "scalecloud-exp-1"}
    assert autoscaler["values"]["cloudProvider"] == "aws"
    subnets = [d for d in plain if d.type == "aws:ec2/subnet:Subnet"]
    assert {s.inputs["availabilityZone"] for s in subnets} == {"us-east-1a", "us-east-1b"}

    gpu = declare(spec_for("aws", spot=True, gpu="1", region="eu-west-1"))
    group = one(gpu, "aws:eks/nodeGroup:NodeGroup", "exp-1-workers").inputs
    assert group["capacityType"] == "SPOT" and group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group["instanceTypes"] == ["g4dn.xlarge"]
    assert {s.inputs["availabilityZone"] for s in gpu if s.type == "aws:ec2/subnet:Subnet"} == {
        "eu-west-1a", "eu-west-1b",
    }  # fmt: skip


def test_aks_user_pool_autoscales_with_spot_and_gpu():
    plain = declare(spec_for("azure", min_nodes=0, max_nodes=3))
    cluster = one(plain, "azure-native:containerservice:ManagedCluster").inputs
    (system,) = cluster["agentPoolProfiles"]
    assert system["mode"] == "System" and system["count"] == 1
    pool = one(plain, "azure-native:containerservice:AgentPool").inputs
    assert pool["mode"] == "User" and pool["enableAutoScaling"] is True
    assert (pool["minCount"], pool["maxCount"]) == (0, 3)
    assert pool["vmSize"] == "Standard_D4s_v5" and "scaleSetPriority" not in pool

    spot = declare(spec_for("azure", spot=True, gpu="1"))
    pool = one(spot, "azure-native:containerservice:AgentPool").inputs
    assert pool["scaleSetPriority"] == "Spot" and pool["scaleSetEvictionPolicy"] == "Delete"
    assert pool["vmSize"] == "Standard_NC4as_T4_v3"
    worker = one(spot, "kubernetes:kubernetes.dask.org/v1:DaskCluster").inputs["spec"]["worker"]
    keys = {t["key"] for t in worker["spec"]["tolerations"]}
    assert keys == {"nvidia.com/gpu", "kubernetes.azure.com/scalesetpriority"}


def test_fixed_workers_have_no_autoscaler():
    declared = declare(spec_for("minikube", workers=3, adapt=None, idle_timeout=None))
    assert not [d for d in declared if d.type.endswith("DaskAutoscaler")]
    spec = one(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster").inputs["spec"]
    assert spec["worker"]["replicas"] == 3 and spec["idleTimeout"] == 0


def test_a_custom_image_is_used_as_is():
    declared = declare(spec_for("gcp", image="registry.example/ml:1"))
    spec = one(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster").inputs["spec"]
    for part in ("scheduler", "worker"):
        container = spec[part]["spec"]["containers"][0]
        assert container["image"] == "registry.example/ml:1" and "env" not in container


def test_expose_is_a_load_balancer_open_to_one_address_only():
    declared = declare(spec_for("aws", expose_cidr="198.51.100.7/32"))
    service = one(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster").inputs["spec"][
        "scheduler"
    ]["service"]
    assert service["type"] == "LoadBalancer"
    assert service["loadBalancerSourceRanges"] == ["198.51.100.7/32"]


def test_declare_fails_loudly_when_a_program_declares_nothing():
    with pytest.raises(RuntimeError, match="declared nothing"):
        declare(spec_for("minikube"), program=lambda spec: None)

"""The programs under a mock runtime that applies the clouds' documented rules (issue 11):
zones come from the zone query (point 4), generated names suit each cloud (point 14),
autoscaled sizes survive a refresh (point 14), and EKS runs a version in standard support,
priced by its support state (point 13)."""

from __future__ import annotations

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.cloudrules import CloudRuleError, CloudRules, zones_of
from scalecloud.infra.kube.plan import declare
from scalecloud.infra.kube.prices import control_plane, price_table
from scalecloud.infra.kube.spec import kube_spec
from scalecloud.infra.registry import descriptor
from scalecloud.infra.spec import ClusterSpec
from test_kube_driver import assert_refused

pytest.importorskip("pulumi_aws")

CLOUDS = ("gcp", "aws", "azure")


def declared(provider: str, name: str = "r1", **extra: object):
    return declare(kube_spec(ClusterSpec(provider=provider, name=name, adapt=(1, 4), extra=extra)))


def test_a_subnet_in_a_zone_nobody_asked_for_is_refused():
    import pulumi
    import pulumi_aws as aws

    def hard_coded(spec):  # what aws.py did: "{region}a", "{region}b"
        del spec
        aws.ec2.Subnet("s", vpc_id="vpc-1", cidr_block="10.0.0.0/18",
                       availability_zone="us-east-1a")  # fmt: skip
        pulumi.export("done", True)

    spec = kube_spec(ClusterSpec(provider="aws", name="z"))
    with pytest.raises(Exception, match="is not one the zone query answered"):
        declare(spec, program=hard_coded)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_eks_subnets_take_two_answered_zones_that_eks_supports(region):
    found = declared("aws", region=region)
    zones = sorted(d.inputs["availabilityZone"] for d in found if d.type == "aws:ec2/subnet:Subnet")
    answered = zones_of(region)
    assert len(zones) == 2 and all(z in answered for z in zones)
    assert "use1-az3" not in {answered[z] for z in zones}


def test_eks_zones_leave_out_the_zone_ids_eks_refuses():
    from scalecloud.infra.aws import eks_zones

    names = ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert eks_zones(names, ["use1-az3", "use1-az1", "use1-az2"]) == names[1:]
    with pytest.raises(ScalecloudError, match="two availability zones"):
        eks_zones(names[:2], ["use1-az3", "use1-az1"])
    rules = CloudRules()
    rules.call("aws:index/getAvailabilityZones:getAvailabilityZones", {"region": "us-east-1"})
    for zone in ("us-east-1b", "us-east-1e"):  # use1-az1, use1-az3
        rules.check("aws:ec2/subnet:Subnet", zone, {"vpcId": "v", "cidrBlock": "c",
                                                    "availabilityZone": zone})  # fmt: skip
    cluster = {"roleArn": "r", "vpcConfig": {"subnetIds": ["us-east-1b-id", "us-east-1e-id"]}}
    with pytest.raises(CloudRuleError, match="EKS does not support zone us-east-1e"):
        rules.check("aws:eks/cluster:Cluster", "c", cluster)


@pytest.mark.parametrize("provider", CLOUDS)
def test_the_longest_allowed_name_passes_every_rule_and_one_more_is_refused(provider, cli):
    limit = descriptor(provider).name_limit
    longest = "e" + "x" * (limit - 1)
    assert declared(provider, name=longest)  # every generated name suits the cloud
    result = cli("plan", "--provider", provider, "--name", longest + "x")
    # 40 is every provider's limit (a Kubernetes label and a Pulumi stack name)
    expected = "use 1-40 lowercase" if limit == 40 else f"does not suit {provider}: at most {limit}"
    assert_refused(cli, result, expected)


def test_gke_names_start_with_a_letter_and_pools_are_named_in_their_cluster(cli):
    result = cli("plan", "--provider", "gcp", "--name", "1exp")
    assert_refused(cli, result, "starting with a letter")
    assert declared("minikube", name="1exp")  # Kubernetes itself takes it
    rules = CloudRules()
    long = "e" * 28
    rules.check("gcp:container/cluster:Cluster", f"{long}-gke", {})  # 40 with the auto-name
    with pytest.raises(CloudRuleError, match="at most 40"):  # why the pools are named
        rules.check("gcp:container/nodePool:NodePool", f"{long}-workers",
                    {"cluster": "c", "location": "l"})  # fmt: skip
    with pytest.raises(CloudRuleError, match="missing required input cluster"):
        rules.check("gcp:container/nodePool:NodePool", "p", {"name": "p", "location": "l"})


@pytest.mark.parametrize(
    ("provider", "pool", "ignored"),
    [
        ("gcp", "gcp:container/nodePool:NodePool", ["nodeCount", "initialNodeCount"]),
        ("aws", "aws:eks/nodeGroup:NodeGroup", ["scalingConfig.desiredSize"]),
        ("azure", "azure-native:containerservice:AgentPool", ["count"]),
    ],
)
def test_a_refresh_keeps_the_autoscaled_node_count(provider, pool, ignored):
    pools = [d for d in declared(provider, spot=True) if d.type == pool]
    workers = [d for d in pools if d.name.endswith("-workers")]
    assert len(workers) == 1 and workers[0].ignore_changes == ignored


def test_eks_runs_a_version_in_standard_support_with_the_matching_autoscaler():
    from scalecloud.infra import aws, eks_parts

    found = declared("aws")
    (cluster,) = [d for d in found if d.type == "aws:eks/cluster:Cluster"]
    assert cluster.inputs["version"] == aws.EKS_VERSION
    plane = price_table("aws")["control_plane"]
    as_of = price_table("aws")["as_of"]
    assert as_of < aws.EKS_STANDARD_SUPPORT_ENDS[aws.EKS_VERSION] == plane["standard_support_ends"]
    # The Cluster Autoscaler's minor version must be the cluster's.
    assert eks_parts.AUTOSCALER_APP_VERSION.rsplit(".", 1)[0] == aws.EKS_VERSION
    (release,) = [d for d in found if d.name.endswith("-cluster-autoscaler")]
    assert release.inputs["version"] == eks_parts.AUTOSCALER_VERSION
    assert release.inputs["name"] == "cluster-autoscaler"


def test_the_control_plane_is_priced_by_its_support_state():
    plane = price_table("aws")["control_plane"]
    ends = plane["standard_support_ends"]
    assert control_plane(plane, today=ends) == (0.1, plane["note"])
    hourly, note = control_plane(plane, today="2099-01-01")
    assert hourly == 0.6 and "extended support" in note
    gke = price_table("gcp")["control_plane"]  # no support state recorded: its list price
    assert control_plane(gke, today="2099-01-01")[0] == gke["hourly"]


@pytest.mark.parametrize(
    ("provider", "pool"),
    [("aws", "aws:eks/nodeGroup:NodeGroup"), ("azure", "azure-native:containerservice:AgentPool")],
)
def test_gpu_nodes_on_eks_and_aks_get_the_nvidia_device_plugin(provider, pool):
    found = declared(provider, gpu="1", spot=True)
    (plugin,) = [d for d in found if d.inputs.get("chart") == "nvidia-device-plugin"]
    assert plugin.inputs["namespace"] == "kube-system"
    tolerations = plugin.inputs["values"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    for taint in descriptor(provider).spot_tolerations:  # GPU nodes that are spot too
        assert dict(taint) in tolerations
    (workers,) = [d for d in found if d.type == pool and d.name.endswith("-workers")]
    labels = workers.inputs.get("labels") or workers.inputs.get("nodeLabels")
    # the chart's default node affinity selects nodes with this label (or NFD's)
    assert labels["nvidia.com/gpu.present"] == "true"
    plain = declared(provider)
    assert not [d for d in plain if d.inputs.get("chart") == "nvidia-device-plugin"]
    gke = declared("gcp", gpu="1")  # GKE installs the plugin itself
    assert not [d for d in gke if d.inputs.get("chart") == "nvidia-device-plugin"]


def test_the_eks_cluster_autoscaler_gets_its_own_role_through_pod_identity():
    """Not the node role: AL2023 nodes keep the metadata service to themselves (hop limit
    1), so a pod relying on the node role gets no credentials and crash-loops."""
    import json

    from scalecloud.infra import eks_parts

    found = declared("aws")
    by_name = {(d.type, d.name): d for d in found}
    role = by_name[("aws:iam/role:Role", "r1-autoscaler")]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = by_name[("aws:iam/rolePolicy:RolePolicy", "r1-autoscaler")]
    assert policy.inputs["policy"] == eks_parts.autoscaler_policy("scalecloud-r1")
    association = by_name[
        ("aws:eks/podIdentityAssociation:PodIdentityAssociation", "r1-autoscaler")
    ]
    release = by_name[("kubernetes:helm.sh/v3:Release", "r1-cluster-autoscaler")]
    account = release.inputs["values"]["rbac"]["serviceAccount"]["name"]
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        release.inputs["namespace"], account,
    )  # fmt: skip
    assert association.urn in release.dependencies  # no pod before its credentials
    addon = by_name[("aws:eks/addon:Addon", "r1-pod-identity")]
    assert addon.inputs["addonName"] == "eks-pod-identity-agent"
    assert addon.urn in association.dependencies
    node_role_policies = [
        d for d in found if d.type == "aws:iam/rolePolicy:RolePolicy"
        and "node-role" in str(d.inputs.get("role"))
    ]  # fmt: skip
    assert node_role_policies == [] and "r1-node-autoscaler" not in {d.name for d in found}

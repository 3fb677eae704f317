"""Amazon Web Services: EKS with a managed node group, the Cluster Autoscaler, and Dask.

Built from ``pulumi_aws`` resources (not the pulumi-eks component, which registers as one
opaque resource) so every piece is visible to ``plan`` and the tests: a VPC with two
public subnets, the cluster and node IAM roles, the EKS cluster, a managed node group whose
scaling config bounds the nodes, and the Cluster Autoscaler Helm release that actually
scales it (EKS tags managed node groups' autoscaling groups for its auto-discovery).
pulumi-aws is imported when the program runs (``pip install "scalecloud[aws]"``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from scalecloud.infra.eks_parts import autoscaler, eks_data_access, pod_identity_agent
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.cloudrules import EKS_UNSUPPORTED_ZONE_IDS
from scalecloud.infra.kube.driver import PulumiProvider
from scalecloud.infra.kube.gpu import device_plugin_release, gpu_node_labels
from scalecloud.infra.kube.preflight import cli_json, has_env
from scalecloud.infra.kube.spec import (
    LABEL,
    SCHEDULER_POOL,
    WORKER_POOL,
    CloudCluster,
    KubeSpec,
    exec_kubeconfig,
)
from scalecloud.infra.registry import CLOUD_OPTIONS, STACK_DOWN_SUMMARY, ProviderDescriptor

SCHEDULER_MACHINE_TYPE = "m6i.large"  # the on-demand node of the scheduler with --spot
# A Kubernetes version in EKS standard support; after its end the control plane bills at
# the extended-support rate (EKS Kubernetes release calendar).
EKS_VERSION = "1.35"
EKS_STANDARD_SUPPORT_ENDS = {"1.33": "2026-07-29", "1.34": "2026-12-02", "1.35": "2027-03-27"}

_NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)


def assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def eks_zones(names: list[str], zone_ids: list[str]) -> list[str]:
    """Two of the region's available zones (the zone query's answer), leaving out those
    whose zone ID EKS refuses. Zone names map to different IDs in each account, so they
    are never hard-coded."""
    usable = sorted(
        n for n, z in zip(names, zone_ids, strict=True) if z not in EKS_UNSUPPORTED_ZONE_IDS
    )
    if len(usable) < 2:
        raise ScalecloudError(
            f"EKS needs two availability zones, and the region offers {len(usable)} it supports",
            "choose another region with --region, e.g. --region us-east-2",
        )
    return usable[:2]


def ami_type(spec: KubeSpec) -> str:
    """Amazon Linux 2023; its NVIDIA variant (drivers included) when GPUs are asked for."""
    return "AL2023_x86_64_NVIDIA" if spec.gpu_count else "AL2023_x86_64_STANDARD"


def eks_cluster(spec: KubeSpec, opts: Any = None) -> CloudCluster:
    """The EKS component (network, roles, cluster, node group) and its kubeconfig."""
    import pulumi
    import pulumi_aws as aws

    name = spec.name
    tags = dict(spec.labels)
    component = pulumi.ComponentResource("scalecloud:aws:EksCluster", name, None, opts)
    region_opts = pulumi.ResourceOptions(parent=component)
    cluster_name = f"scalecloud-{name}"

    vpc = aws.ec2.Vpc(
        f"{name}-vpc", cidr_block="10.0.0.0/16", enable_dns_hostnames=True,
        enable_dns_support=True, tags={**tags, "Name": cluster_name}, opts=region_opts,
    )  # fmt: skip
    gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=region_opts)
    routes = aws.ec2.RouteTable(
        f"{name}-routes", vpc_id=vpc.id,
        routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}], tags=tags,
        opts=region_opts,
    )  # fmt: skip
    subnets = []
    found = aws.get_availability_zones(
        state="available", region=spec.region or None,
        filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
    )  # fmt: skip
    for index, zone in enumerate(eks_zones(found.names, found.zone_ids)):
        suffix = "ab"[index]
        subnet = aws.ec2.Subnet(
            f"{name}-subnet-{suffix}", vpc_id=vpc.id, cidr_block=f"10.0.{index * 64}.0/18",
            availability_zone=zone, map_public_ip_on_launch=True,
            tags={**tags, f"kubernetes.io/cluster/{cluster_name}": "shared",
                  "kubernetes.io/role/elb": "1"},
            opts=region_opts,
        )  # fmt: skip
        aws.ec2.RouteTableAssociation(
            f"{name}-routes-{suffix}", subnet_id=subnet.id, route_table_id=routes.id,
            opts=region_opts,
        )  # fmt: skip
        subnets.append(subnet)

    cluster_role = aws.iam.Role(
        f"{name}-cluster-role", assume_role_policy=assume_role_policy("eks.amazonaws.com"),
        tags=tags, opts=region_opts,
    )  # fmt: skip
    cluster_policy = aws.iam.RolePolicyAttachment(
        f"{name}-cluster-policy", role=cluster_role.name,
        policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", opts=region_opts,
    )  # fmt: skip
    node_role = aws.iam.Role(
        f"{name}-node-role", assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
        tags=tags, opts=region_opts,
    )  # fmt: skip
    node_policies: list[Any] = [
        aws.iam.RolePolicyAttachment(
            f"{name}-node-policy-{i}", role=node_role.name, policy_arn=arn, opts=region_opts
        )
        for i, arn in enumerate(_NODE_POLICIES)
    ]
    cluster = aws.eks.Cluster(
        f"{name}-eks",
        name=cluster_name,
        version=EKS_VERSION,
        role_arn=cluster_role.arn,
        vpc_config={"subnet_ids": [s.id for s in subnets], "endpoint_public_access": True},
        access_config={
            "authentication_mode": "API_AND_CONFIG_MAP",
            "bootstrap_cluster_creator_admin_permissions": True,
        },
        tags=tags,
        opts=pulumi.ResourceOptions(parent=component, depends_on=[cluster_policy]),
    )
    node_group = aws.eks.NodeGroup(
        f"{name}-workers",
        cluster_name=cluster.name,
        node_role_arn=node_role.arn,
        subnet_ids=[s.id for s in subnets],
        instance_types=[spec.machine_type],
        capacity_type="SPOT" if spec.spot else "ON_DEMAND",
        ami_type=ami_type(spec),
        scaling_config={
            "min_size": spec.min_nodes,
            "max_size": spec.max_nodes,
            "desired_size": max(spec.min_nodes, 1),
        },
        labels={**spec.pool_labels(WORKER_POOL), **gpu_node_labels(spec)},
        tags=tags,
        opts=pulumi.ResourceOptions(
            parent=component,
            depends_on=node_policies,
            # The Cluster Autoscaler owns the desired size: a refresh must not reset it.
            ignore_changes=["scalingConfig.desiredSize"],
        ),
    )
    scheduler_group = None
    if spec.spot:  # the scheduler on on-demand capacity: losing it loses the whole run
        scheduler_group = aws.eks.NodeGroup(
            f"{name}-scheduler",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=[s.id for s in subnets],
            instance_types=[SCHEDULER_MACHINE_TYPE],
            capacity_type="ON_DEMAND",
            ami_type="AL2023_x86_64_STANDARD",
            scaling_config={"min_size": 1, "max_size": 1, "desired_size": 1},
            labels=spec.pool_labels(SCHEDULER_POOL),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=component, depends_on=node_policies),
        )
    kubeconfig = pulumi.Output.all(
        cluster.name, cluster.endpoint, cluster.certificate_authority.data
    ).apply(
        lambda args: exec_kubeconfig(
            args[0], args[1], args[2], "aws",
            ["eks", "get-token", "--cluster-name", args[0], "--region", spec.region],
            "install the AWS CLI v2: https://aws.amazon.com/cli/",
        )
    )  # fmt: skip
    component.register_outputs({"cluster": cluster.name, "node_group": node_group.node_group_name})
    return CloudCluster(
        component, pulumi.Output.secret(kubeconfig), node_group, cluster_name, scheduler_group
    )


def program(spec: KubeSpec) -> None:
    """The whole stack: network and EKS, the Cluster Autoscaler, then Dask."""
    from scalecloud.infra.kube.dask import dask_on_kubernetes, export_outputs

    cluster = eks_cluster(spec)
    agent = pod_identity_agent(spec, cluster)  # how pods get AWS roles, without keys
    grants = eks_data_access(spec, cluster, agent) if spec.data else None
    dask = dask_on_kubernetes(
        spec, kubeconfig=cluster.kubeconfig, after=cluster.node_pools, access=grants
    )
    autoscaler(spec, cluster, agent, dask.provider, dask.component)
    device_plugin_release(spec, dask.provider, dask.component)
    export_outputs(spec, kubeconfig=cluster.kubeconfig)


class AwsProvider(PulumiProvider):
    """EKS through Pulumi; see :class:`~scalecloud.infra.pulumi_driver.PulumiProvider`."""

    name: ClassVar[str] = "aws"
    tools = (("aws", "install the AWS CLI v2 (it issues the cluster's tokens): "
                     "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"),)  # fmt: skip

    def check_credentials(self, spec: KubeSpec) -> None:
        aws_dir = Path(os.environ.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config").parent
        found = (
            has_env("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            or (aws_dir / "credentials").is_file()
            or (aws_dir / "config").is_file()
            or Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")).is_file()
        )  # fmt: skip
        if not found:
            raise ScalecloudError(
                "no AWS credentials found (environment, profile or SSO)",
                "log in with: aws configure (or aws sso login --profile P and AWS_PROFILE=P)",
            )

    def stack_env(self, spec: KubeSpec) -> dict[str, str]:
        return {"AWS_REGION": spec.region}

    def cloud_leftovers(self, spec: KubeSpec) -> list[str] | None:
        found: list[str] = []
        # Ours carry the label; what Kubernetes made (LoadBalancers, volumes) the cluster tag.
        for key, value in (
            (LABEL, spec.name),
            (f"kubernetes.io/cluster/scalecloud-{spec.name}", "owned"),
        ):
            reply = cli_json(
                ["aws", "resourcegroupstaggingapi", "get-resources", "--region", spec.region,
                 "--tag-filters", f"Key={key},Values={value}", "--output", "json"]
            )  # fmt: skip
            if reply is None:
                return None
            found += [r["ResourceARN"] for r in reply.get("ResourceTagMappingList", [])]
        return found


# List prices per hour in USD (see infra/kube/prices.py for what they are and are not);
# `plan` and `status` say their date.
# Shapes of the instance types scalecloud prices: vCPUs, memory GiB.
MACHINES: dict[str, tuple[float, float]] = {
    "m6i.large": (2, 8), "m6i.xlarge": (4, 16), "m6i.2xlarge": (8, 32),
    "c6i.xlarge": (4, 8), "g4dn.xlarge": (4, 16),
}  # fmt: skip

PRICES: dict[str, Any] = {
    "as_of": "2026-11-01",
    "control_plane": {
        "hourly": 0.1,
        "note": "EKS control plane, billed even with zero nodes",
        # Past the end of standard support, EKS bills $0.60 an hour (extended support).
        "version": EKS_VERSION,
        "standard_support_ends": EKS_STANDARD_SUPPORT_ENDS[EKS_VERSION],
        "extended_hourly": 0.6,
    },
    "nodes": {
        "us-east-1": {
            "m6i.large": {"on_demand": 0.096, "spot": 0.038},
            "m6i.xlarge": {"on_demand": 0.192, "spot": 0.076},
            "m6i.2xlarge": {"on_demand": 0.384, "spot": 0.152},
            "c6i.xlarge": {"on_demand": 0.17, "spot": 0.068},
            "g4dn.xlarge": {"on_demand": 0.526, "spot": 0.21},
        },
        "eu-west-1": {
            "m6i.large": {"on_demand": 0.107, "spot": 0.042},
            "m6i.xlarge": {"on_demand": 0.214, "spot": 0.084},
            "m6i.2xlarge": {"on_demand": 0.428, "spot": 0.168},
            "g4dn.xlarge": {"on_demand": 0.587, "spot": 0.23},
        },
    },
}

PROVIDER = ProviderDescriptor(
    name="aws",
    summary="EKS on AWS, with a managed node group scaled by the Cluster Autoscaler",
    driver=AwsProvider,
    down_summary=STACK_DOWN_SUMMARY,
    options=frozenset(CLOUD_OPTIONS),  # every cloud option
    kubernetes=True,
    program=program,
    prices=PRICES,
    machines=MACHINES,
    defaults={"region": "us-east-1", "zone": "", "machine_type": "m6i.xlarge",
              "gpu_type": "nvidia-t4", "gpu_machine_type": "g4dn.xlarge",
              "scheduler_machine_type": SCHEDULER_MACHINE_TYPE},
    extra="aws",
    data_scheme="s3",
    modules=("pulumi", "pulumi_kubernetes", "pulumi_aws"),
    plan_properties=("cidrBlock", "availabilityZone", "instanceTypes", "capacityType", "amiType",
                     "scalingConfig", "policyArn", "addonName", "serviceAccount", "policy"),
)  # fmt: skip

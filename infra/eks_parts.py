"""What the EKS program runs on the cluster besides Dask, each with its own AWS role.

Pods reach AWS roles through EKS Pod Identity (its agent add-on and one association per
ServiceAccount), never through the node role: managed nodes on Amazon Linux 2023 limit
the instance metadata service to the node itself (hop limit 1), so a pod that relied on
the node role would get no credentials.

- The Cluster Autoscaler: a role allowed to read the autoscaling groups and to resize
  only this cluster's, associated with its ServiceAccount in kube-system.
- ``up --data``: a role allowed on the named buckets' prefixes only, associated with the
  Dask workers' ServiceAccount.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from scalecloud.infra.kube.spec import CloudCluster, KubeSpec

if TYPE_CHECKING:
    from scalecloud.infra.kube.access import DataAccess

AUTOSCALER_REPO = "https://kubernetes.github.io/autoscaler"
AUTOSCALER_CHART = "cluster-autoscaler"
AUTOSCALER_VERSION = "9.59.0"  # chart of Cluster Autoscaler 1.35.0 (its appVersion)
AUTOSCALER_APP_VERSION = "1.35.0"
AUTOSCALER_NAMESPACE = "kube-system"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
# What the Cluster Autoscaler needs; resizing restricted to this cluster's groups.
_AUTOSCALER_ACTIONS_READ = (
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
)  # fmt: skip
_AUTOSCALER_ACTIONS_WRITE = (
    "autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup",
)  # fmt: skip


def autoscaler_policy(cluster_name: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": list(_AUTOSCALER_ACTIONS_READ), "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": list(_AUTOSCALER_ACTIONS_WRITE),
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"
                        }
                    },
                },
            ],
        }
    )


def pod_identity_agent(spec: KubeSpec, cluster: CloudCluster) -> Any:
    """The EKS Pod Identity agent add-on (it runs on the nodes, so it waits for them)."""
    import pulumi
    import pulumi_aws as aws
    from scalecloud.infra.kube.access import EKS_POD_IDENTITY_ADDON

    return aws.eks.Addon(
        f"{spec.name}-pod-identity", cluster_name=cluster.cluster_name,
        addon_name=EKS_POD_IDENTITY_ADDON, tags=dict(spec.labels),
        opts=pulumi.ResourceOptions(parent=cluster.component, depends_on=cluster.node_pools),
    )  # fmt: skip


def pod_role(
    spec: KubeSpec, cluster: CloudCluster, agent: Any, suffix: str, policy: str,
    namespace: str, service_account: str, parent: Any,
) -> Any:  # fmt: skip
    """A role trusted by Pod Identity, with ``policy``, associated with one ServiceAccount;
    the association (pods get the role once it exists)."""
    import pulumi
    import pulumi_aws as aws
    from scalecloud.infra.kube.access import pod_identity_trust

    name, tags = spec.name, dict(spec.labels)
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-{suffix}", assume_role_policy=pod_identity_trust(), tags=tags, opts=child
    )
    granted = aws.iam.RolePolicy(f"{name}-{suffix}", role=role.id, policy=policy, opts=child)
    return aws.eks.PodIdentityAssociation(
        f"{name}-{suffix}", cluster_name=cluster.cluster_name, namespace=namespace,
        service_account=service_account, role_arn=role.arn, tags=tags,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[agent, granted]),
    )  # fmt: skip


def autoscaler(
    spec: KubeSpec, cluster: CloudCluster, agent: Any, provider: Any, parent: Any
) -> Any:
    """The Cluster Autoscaler, which grows and shrinks the node group with pending pods,
    running as a ServiceAccount that Pod Identity gives its own role."""
    import pulumi
    import pulumi_kubernetes as k8s

    association = pod_role(
        spec, cluster, agent, "autoscaler", autoscaler_policy(cluster.cluster_name),
        AUTOSCALER_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT, cluster.component,
    )  # fmt: skip
    return k8s.helm.v3.Release(
        f"{spec.name}-cluster-autoscaler",
        name="cluster-autoscaler",  # one per EKS cluster; an auto-name could pass Helm's 53
        chart=AUTOSCALER_CHART,
        version=AUTOSCALER_VERSION,
        repository_opts={"repo": AUTOSCALER_REPO},
        namespace=AUTOSCALER_NAMESPACE,
        values={
            "cloudProvider": "aws",
            "autoDiscovery": {"clusterName": cluster.cluster_name},
            "awsRegion": spec.region,
            "rbac": {"serviceAccount": {"create": True, "name": AUTOSCALER_SERVICE_ACCOUNT}},
            "extraArgs": {
                "balance-similar-node-groups": True,
                "skip-nodes-with-system-pods": False,
            },
            "podLabels": dict(spec.labels),
        },
        # Its pods start once their role is associated: no credential-less crash loop.
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[association]),
    )


def eks_data_access(spec: KubeSpec, cluster: CloudCluster, agent: Any) -> DataAccess:
    """``--data`` on EKS: the workers' ServiceAccount gets a role allowed on the named
    buckets' prefixes only."""
    import pulumi
    from scalecloud.infra.kube import access

    component = pulumi.ComponentResource("scalecloud:aws:DataAccess", spec.name, None)
    association = pod_role(
        spec, cluster, agent, "data", access.s3_policy(access.grants(spec), spec.data_write),
        spec.namespace, access.SERVICE_ACCOUNT, component,
    )  # fmt: skip
    return access.DataAccess({}, [association])

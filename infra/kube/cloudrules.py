"""The clouds' documented rules, applied by the mock runtime that ``plan`` and the tests
run the programs under, where a plain mock would echo any input back.

- **Names**: a resource without an explicit name gets Pulumi's auto-name (its logical
  name, a dash and 7 random characters); every name must match the cloud's pattern and
  length (GKE: lowercase, starting with a letter, at most 40; EKS node groups 63; IAM roles
  64; AKS agent pools 12 lowercase letters and digits; Helm releases 53).
- **Zones**: subnets must be in a zone that the zone query answered, and an EKS cluster's
  subnets in two zones or more, none of the zone IDs EKS refuses.
- **Required inputs**: what each resource type cannot be created without.

A resource that breaks a rule fails the declaration with :class:`CloudRuleError`, as the
cloud's API would refuse it.
"""

from __future__ import annotations

import re
from typing import Any

# Zone IDs where EKS cannot create a control plane (EKS user guide, "Amazon EKS cluster
# subnet requirements": use1-az3, usw1-az2, cac1-az3).
EKS_UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})

# type: (name input, pattern, max length, required inputs)
RULES: dict[str, tuple[str, str, int, tuple[str, ...]]] = {
    "gcp:container/cluster:Cluster": ("name", r"[a-z]([-a-z0-9]*[a-z0-9])?", 40, ()),
    "gcp:container/nodePool:NodePool": (
        "name", r"[a-z]([-a-z0-9]*[a-z0-9])?", 40, ("cluster", "location"),
    ),
    "aws:eks/cluster:Cluster": (
        "name", r"[0-9A-Za-z][A-Za-z0-9\-_]*", 100, ("roleArn", "vpcConfig"),
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        "nodeGroupName", r"[0-9A-Za-z][A-Za-z0-9\-_]*", 63,
        ("clusterName", "nodeRoleArn", "subnetIds", "scalingConfig"),
    ),
    "aws:iam/role:Role": ("name", r"[\w+=,.@-]+", 64, ("assumeRolePolicy",)),
    "aws:ec2/subnet:Subnet": ("", "", 0, ("vpcId", "cidrBlock", "availabilityZone")),
    "azure-native:resources:ResourceGroup": ("resourceGroupName", r"[-\w._()]+", 90, ()),
    "azure-native:containerservice:ManagedCluster": (
        "resourceName", r"[a-zA-Z0-9]([-_a-zA-Z0-9]{0,61}[a-zA-Z0-9])?", 63,
        ("resourceGroupName", "dnsPrefix", "agentPoolProfiles"),
    ),
    "azure-native:containerservice:AgentPool": (
        "agentPoolName", r"[a-z][a-z0-9]{0,11}", 12, ("resourceGroupName", "resourceName"),
    ),
    "kubernetes:helm.sh/v3:Release": ("name", r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", 53, ("chart",)),
    "kubernetes:core/v1:Namespace": ("", "", 0, ()),
}  # fmt: skip
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class CloudRuleError(ValueError):
    """A declared resource that the cloud would refuse."""


def zones_of(region: str) -> dict[str, str]:
    """What the zone query answers for ``region``: zone name -> zone ID. us-east-1 is given
    as AWS documents it (six zones, one of them use1-az3); other regions three zones."""
    if region == "us-east-1":
        return {
            f"us-east-1{s}": f"use1-az{i}"
            for s, i in zip("abcdef", (6, 1, 2, 4, 3, 5), strict=True)
        }
    short = "".join(part[0] for part in region.split("-")[:-1]) + region.split("-")[-1]
    return {f"{region}{s}": f"{short}-az{i}" for i, s in enumerate("abc", 1)}


class CloudRules:
    """The rules' state over one declaration: the zones answered, the subnets made."""

    def __init__(self) -> None:
        self.zones: dict[str, str] = {}
        self.subnet_zones: dict[str, str] = {}

    def call(self, token: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to an invoke the rules know, else None."""
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            answered = zones_of(args.get("region") or "us-east-1")
            self.zones.update(answered)
            return {"names": list(answered), "zoneIds": list(answered.values()),
                    "id": args.get("region") or "us-east-1"}  # fmt: skip
        return None

    def check(self, typ: str, logical: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Outputs the cloud adds (the auto-name); raises :class:`CloudRuleError` for what
        it would refuse."""
        rule = RULES.get(typ)
        if rule is None:
            return {}
        key, pattern, limit, required = rule
        missing = [r for r in required if inputs.get(r) in (None, "", [], {})]
        if missing:
            raise CloudRuleError(f"{typ} {logical}: missing required input {missing[0]}")
        added: dict[str, Any] = {}
        if key:
            name = inputs.get(key) or f"{logical}-abcdef0"  # Pulumi's auto-name
            added[key] = name
            if len(name) > limit or not re.fullmatch(pattern, name):
                raise CloudRuleError(
                    f"{typ} {logical}: name {name!r} breaks the cloud's rule "
                    f"(/{pattern}/, at most {limit} characters)"
                )
        if typ == "azure-native:containerservice:ManagedCluster" and not inputs.get(
            "nodeResourceGroup"
        ):  # AKS names it MC_{group}_{cluster}_{location}: at most 80 characters
            nodes = f"MC_{inputs['resourceGroupName']}_{added[key]}_{inputs.get('location')}"
            if len(nodes) > 80:
                raise CloudRuleError(f"AKS node resource group {nodes!r} is over 80 characters")
        if typ == "kubernetes:core/v1:Namespace":
            name = (inputs.get("metadata") or {}).get("name", "")
            if len(name) > 63 or not DNS_LABEL.fullmatch(name):
                raise CloudRuleError(f"namespace {name!r} is not a DNS label")
        if typ == "aws:ec2/subnet:Subnet":
            zone = inputs["availabilityZone"]
            if zone not in self.zones:
                raise CloudRuleError(
                    f"subnet {logical}: zone {zone!r} is not one the zone query answered "
                    f"({', '.join(self.zones) or 'none was asked'})"
                )
            self.subnet_zones[f"{logical}-id"] = zone
        if typ == "aws:eks/cluster:Cluster":
            zones = {self.subnet_zones.get(s) for s in inputs["vpcConfig"].get("subnetIds", [])}
            if None in zones or len(zones) < 2:
                raise CloudRuleError(f"EKS cluster {logical}: subnets must span two zones")
            refused = sorted(z for z in zones if self.zones[str(z)] in EKS_UNSUPPORTED_ZONE_IDS)
            if refused:
                raise CloudRuleError(
                    f"EKS cluster {logical}: EKS does not support zone {refused[0]} "
                    f"({self.zones[refused[0]]})"
                )
        return added

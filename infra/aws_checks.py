"""AWS checks through the AWS CLI: the vCPU quota before ``up``, and what is really left
after ``down``.

The EC2 vCPU quotas count vCPUs per instance family and purchase option, per region
(Service Quotas, service code ``ec2``); ``up`` needs ``--max-nodes`` × the machine type's
vCPUs of its family's quota, plus the on-demand scheduler node with ``--spot``. The quota
is shared with every other instance in the region, which this check cannot see.

The Resource Groups Tagging API keeps listing deleted resources for about an hour (a
terminated instance, a deleted volume). Each resource it reports is therefore looked up
through its own service before it counts as a leftover; a type scalecloud cannot look up,
or a lookup that fails, stays a leftover (the conservative answer), marked as unverified.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.preflight import cli_call, one_line
from scalecloud.infra.kube.spec import KubeSpec

# Instance family (the letters before the first digit, longest match) → its vCPU quotas:
# the family's name in the quota names, the on-demand quota code, the spot quota code.
_STANDARD = ("Standard (A, C, D, H, I, M, R, T, Z)", "L-1216C47A", "L-34B43A08")
_G_VT = ("G and VT", "L-DB2E81BA", "L-3819A6DF")
VCPU_QUOTAS: dict[str, tuple[str, str, str]] = {
    **dict.fromkeys("acdhimrtz", _STANDARD), "g": _G_VT, "vt": _G_VT,
    "p": ("P", "L-417A185B", "L-7212CCBC"), "f": ("F", "L-74FC7D96", "L-88CF9481"),
    "x": ("X", "L-7295265B", "L-E3A00192"), "inf": ("Inf", "L-1945791B", "L-B5D1601B"),
    "trn": ("Trn", "L-2C3B7624", "L-6B0D517C"), "dl": ("DL", "L-6E869C2A", "L-85EED4F7"),
}  # fmt: skip


def vcpu_quota(instance_type: str, spot: bool) -> tuple[str, str] | None:
    """The name and code of the vCPU quota an instance type counts against, or None for a
    family scalecloud does not know."""
    match = re.match(r"([a-z]+)\d", instance_type)
    family = match.group(1) if match else ""
    while family and family not in VCPU_QUOTAS:
        family = family[:-1]
    if not family:
        return None
    name, on_demand, spot_code = VCPU_QUOTAS[family]
    if spot:
        return f"All {name} Spot Instance Requests", spot_code
    return f"Running On-Demand {name} instances", on_demand


def _aws(args: list[str], region: str) -> tuple[Any, str | None]:
    return cli_call(["aws", *args, "--region", region, "--output", "json"], timeout=60)


def instance_vcpus(instance_type: str, region: str, machines: Mapping[str, Any]) -> int:
    """vCPUs of an instance type: from the provider's table, else from EC2 itself."""
    if instance_type in machines:
        return int(machines[instance_type][0])
    answer, why = _aws(
        ["ec2", "describe-instance-types", "--instance-types", instance_type], region
    )
    if why is not None and "InvalidInstanceType" in why:
        raise ScalecloudError(
            f"EC2 has no instance type {instance_type!r} in {region}",
            "choose another --machine-type, e.g. m6i.xlarge",
        )
    if why is not None or not answer.get("InstanceTypes"):
        raise ScalecloudError(
            f"could not look up the vCPUs of {instance_type} in {region}: {one_line(why or 'no answer')}",
            "nothing was created; check your network and AWS login (aws sts get-caller-identity), "
            "then run up again",
        )
    return int(answer["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"])


def quota_value(code: str, region: str) -> float:
    """The applied value of an EC2 quota (its default when none was ever applied)."""
    answer, why = _aws(["service-quotas", "get-service-quota", "--service-code", "ec2",
                        "--quota-code", code], region)  # fmt: skip
    if why is not None and "NoSuchResource" in why:
        answer, why = _aws(["service-quotas", "get-aws-default-service-quota",
                            "--service-code", "ec2", "--quota-code", code], region)  # fmt: skip
    if why is not None:
        raise ScalecloudError(
            f"could not read the EC2 vCPU quota {code} in {region}: {one_line(why)}",
            "nothing was created; check your network, or allow servicequotas:GetServiceQuota, "
            f"then run up again (see it yourself: aws service-quotas get-service-quota "
            f"--service-code ec2 --quota-code {code} --region {region})",
        )
    return float(answer["Quota"]["Value"])


def check_vcpu_quota(spec: KubeSpec, machines: Mapping[str, Any], scheduler_machine: str) -> None:
    """Refuse an ``up`` whose nodes, at ``--max-nodes``, would pass an EC2 vCPU quota."""
    nodes = [(spec.machine_type, spec.max_nodes, spec.spot, "--max-nodes")]
    if spec.spot:  # the scheduler's own on-demand node
        nodes.append((scheduler_machine, 1, False, "the scheduler node"))
    need: dict[str, tuple[str, int, list[str]]] = {}
    for machine, count, spot, why in nodes:
        quota = vcpu_quota(machine, spot)
        if quota is None:
            continue  # a family without a known quota: EC2 itself will say
        vcpus = instance_vcpus(machine, spec.region, machines)
        name, total, parts = need.get(quota[1], (quota[0], 0, []))
        need[quota[1]] = (name, total + count * vcpus, [*parts, f"{why} {count} × {machine} "
                                                         f"({vcpus} vCPUs)"])  # fmt: skip
    worker_quota = vcpu_quota(spec.machine_type, spec.spot)
    for code, (name, total, parts) in need.items():
        value = quota_value(code, spec.region)
        if total <= value:
            continue
        fewer = ""
        if worker_quota is not None and worker_quota[1] == code:
            vcpus = instance_vcpus(spec.machine_type, spec.region, machines)
            fits = int((value - (total - spec.max_nodes * vcpus)) // vcpus)
            fewer = f", or lower --max-nodes to {fits}" if 1 <= fits < spec.max_nodes else ""
        raise ScalecloudError(
            f"the EC2 quota {name!r} ({code}) in {spec.region} is {value:g} vCPUs; up needs "
            f"{total}: {' + '.join(parts)}",
            f"ask for more: aws service-quotas request-service-quota-increase --service-code ec2 "
            f"--quota-code {code} --desired-value {total} --region {spec.region} (or https://"
            f"console.aws.amazon.com/servicequotas/home/services/ec2/quotas/{code}){fewer}",
        )


# -- what is really left after down -----------------------------------------------------

# How to look a resource up: its ARN's (service, type) → the CLI arguments for its id
# (and ARN), and the states of what the answer lists (none listed: gone).
_States = Callable[[Any], list[str]]


def _listed(
    cli: str, command: str, flag: str, key: str
) -> tuple[Callable[[str, str], list[str]], _States]:
    """A lookup by id whose answer lists the resource while it exists (no state to read)."""
    return (lambda i, a: [cli, command, flag, i]), (lambda r: ["" for _ in r[key]])


_LOOKUPS: dict[tuple[str, str], tuple[Callable[[str, str], list[str]], _States]] = {
    ("ec2", "instance"): (
        lambda i, a: ["ec2", "describe-instances", "--instance-ids", i],
        lambda r: [x["State"]["Name"] for v in r["Reservations"] for x in v["Instances"]],
    ),
    ("ec2", "volume"): (
        lambda i, a: ["ec2", "describe-volumes", "--volume-ids", i],
        lambda r: [v["State"] for v in r["Volumes"]],
    ),
    ("ec2", "network-interface"): (
        lambda i, a: ["ec2", "describe-network-interfaces", "--network-interface-ids", i],
        lambda r: [v.get("Status", "") for v in r["NetworkInterfaces"]],
    ),
    ("ec2", "security-group"): _listed(
        "ec2", "describe-security-groups", "--group-ids", "SecurityGroups"
    ),
    ("ec2", "vpc"): _listed("ec2", "describe-vpcs", "--vpc-ids", "Vpcs"),
    ("ec2", "subnet"): _listed("ec2", "describe-subnets", "--subnet-ids", "Subnets"),
    ("ec2", "internet-gateway"): _listed(
        "ec2", "describe-internet-gateways", "--internet-gateway-ids", "InternetGateways"
    ),
    ("ec2", "route-table"): _listed(
        "ec2", "describe-route-tables", "--route-table-ids", "RouteTables"
    ),
    ("ec2", "natgateway"): (
        lambda i, a: ["ec2", "describe-nat-gateways", "--nat-gateway-ids", i],
        lambda r: [v["State"] for v in r["NatGateways"]],
    ),
    ("ec2", "elastic-ip"): _listed("ec2", "describe-addresses", "--allocation-ids", "Addresses"),
    ("ec2", "launch-template"): _listed(
        "ec2", "describe-launch-templates", "--launch-template-ids", "LaunchTemplates"
    ),
    ("elasticloadbalancing", "loadbalancer"): (  # ALB and NLB (elbv2) by ARN
        lambda i, a: ["elbv2", "describe-load-balancers", "--load-balancer-arns", a],
        lambda r: [v["State"]["Code"] for v in r["LoadBalancers"]],
    ),
    ("elasticloadbalancing", "loadbalancer-classic"): _listed(
        "elb", "describe-load-balancers", "--load-balancer-names", "LoadBalancerDescriptions"
    ),
    ("elasticloadbalancing", "targetgroup"): (
        lambda i, a: ["elbv2", "describe-target-groups", "--target-group-arns", a],
        lambda r: ["" for _ in r["TargetGroups"]],
    ),
    ("eks", "cluster"): (
        lambda i, a: ["eks", "describe-cluster", "--name", i],
        lambda r: [r["cluster"].get("status", "")],
    ),
    ("eks", "nodegroup"): (
        lambda i, a: [
            "eks",
            "describe-nodegroup",
            "--cluster-name",
            *i.split("/")[:1],
            "--nodegroup-name",
            *i.split("/")[1:2],
        ],
        lambda r: [r["nodegroup"].get("status", "")],
    ),
    ("autoscaling", "autoScalingGroup"): (
        lambda i, a: [
            "autoscaling",
            "describe-auto-scaling-groups",
            "--auto-scaling-group-names",
            i,
        ],
        lambda r: ["" for _ in r["AutoScalingGroups"]],
    ),
}
# States that only ever end in deletion: the resource is on its way out, not a leftover.
GONE_STATES = {"terminated", "shutting-down", "deleted", "deleting"}


def arn_kind(arn: str) -> tuple[str, str, str, str]:
    """An ARN's service, region, resource type and id (``cluster/nodegroup`` for EKS node
    groups, the group name for autoscaling groups)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "", "", "", arn
    service, region, resource = parts[2], parts[3], parts[5]
    if service == "autoscaling":  # autoScalingGroup:UUID:autoScalingGroupName/NAME
        return service, region, "autoScalingGroup", resource.rpartition("/")[2]
    kind, _, rest = resource.partition("/")
    classic = not rest.startswith(("app/", "net/", "gwy/"))
    if service == "elasticloadbalancing" and kind == "loadbalancer" and classic:
        kind = "loadbalancer-classic"
    return service, region, kind, rest


def is_live(arn: str, region: str) -> tuple[bool, str]:
    """Whether the resource still exists, asked of its own service: (True, "") when it
    does, (False, "") when it is gone, (True, why) when scalecloud cannot tell."""
    service, arn_region, kind, ident = arn_kind(arn)
    lookup = _LOOKUPS.get((service, kind))
    if lookup is None:
        return True, f"not verified: scalecloud cannot look up {service} {kind or 'resources'}"
    args, states = lookup
    answer, why = _aws(args(ident, arn), arn_region or region)
    if why is not None:
        if "NotFound" in why:  # InvalidInstanceID.NotFound, LoadBalancerNotFound, ...
            return False, ""
        return True, f"not verified: {one_line(why, 120)}"
    try:
        found = states(answer)
    except (KeyError, TypeError, IndexError):
        return True, "not verified: unexpected answer"
    return any(s.lower() not in GONE_STATES for s in found), ""


def live_leftovers(arns: list[str], region: str) -> list[str]:
    """The reported ARNs that still exist; those that could not be checked, with why."""
    left = []
    for arn in dict.fromkeys(arns):
        live, note = is_live(arn, region)
        if live:
            left.append(f"{arn} ({note})" if note else arn)
    return left

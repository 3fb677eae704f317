"""Commands for the Kubernetes providers: plan (what `up` would create, and its cost)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from scalecloud.cli import options as opt
from scalecloud.infra.errors import ScalecloudError


def cloud_extra(
    provider: str, region: str | None, zone: str | None, machine_type: str | None,
    min_nodes: int | None, max_nodes: int | None, spot: bool, gpu: str | None,
    image: str | None, expose: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The cloud flags that were given, as ClusterSpec.extra; refused for ``local``."""
    given = {
        "region": region, "zone": zone, "machine_type": machine_type, "min_nodes": min_nodes,
        "max_nodes": max_nodes, "spot": spot or None, "gpu": gpu, "image": image,
        "expose_cidr": expose,
    }  # fmt: skip
    given = {k: v for k, v in given.items() if v is not None}
    if expose and provider != "local":
        from scalecloud.infra.kube.preflight import caller_cidr, check_cidr

        given["expose_cidr"] = caller_cidr() if expose == "me" else check_cidr(expose)
    if provider == "local" and given:
        flags = ", ".join("--" + k.replace("_cidr", "").replace("_", "-") for k in given)
        raise ScalecloudError(
            f"{flags} apply to the Kubernetes providers only",
            "add --provider gcp|aws|azure|minikube, or leave them out",
        )
    return given


def _property_rows(declared: Any) -> dict[str, Any]:
    """The properties of a declared resource worth showing (never the kubeconfig)."""
    inputs = declared.inputs
    wanted = (
        "location", "machineType", "autoscaling", "spot", "guestAccelerators",
        "deletionProtection", "removeDefaultNodePool", "cidrBlock", "availabilityZone",
        "instanceTypes", "capacityType", "amiType", "scalingConfig", "version", "vmSize",
        "enableAutoScaling", "minCount", "maxCount", "scaleSetPriority", "mode", "count",
        "chart", "namespace", "context", "deleteUnreachable", "policyArn",
    )  # fmt: skip
    rows = {key: inputs[key] for key in wanted if key in inputs}
    if "nodeConfig" in inputs:
        rows.update({k: v for k, v in inputs["nodeConfig"].items() if k in wanted})
    if "agentPoolProfiles" in inputs:
        rows["systemPool"] = [
            {k: p.get(k) for k in ("name", "mode", "count", "vmSize")}
            for p in inputs["agentPoolProfiles"]
        ]
    if declared.type.endswith(":DaskCluster"):
        spec = inputs["spec"]
        container = spec["worker"]["spec"]["containers"][0]
        rows.update(
            image=container["image"], replicas=spec["worker"]["replicas"],
            idleTimeout=spec.get("idleTimeout"), service=spec["scheduler"]["service"]["type"],
            extraPipPackages=next(
                (e["value"] for e in container.get("env", []) if e["name"] == "EXTRA_PIP_PACKAGES"),
                None,
            ),
        )  # fmt: skip
    if declared.type.endswith(":DaskAutoscaler"):
        rows.update(minimum=inputs["spec"]["minimum"], maximum=inputs["spec"]["maximum"])
    if "metadata" in inputs and "labels" in inputs["metadata"]:
        rows["labels"] = inputs["metadata"]["labels"]
    for key in ("tags", "resourceLabels", "labels"):
        if key in inputs:
            rows[key] = inputs[key]
    return _ints(rows)


def _ints(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def plan_report(spec: Any) -> dict[str, Any]:
    """Run the provider's program under mocks; the resources and the cost estimate."""
    from scalecloud.infra.kube.plan import declare
    from scalecloud.infra.kube.prices import estimate
    from scalecloud.infra.kube.spec import require_extra

    require_extra(spec.provider)
    declared = declare(spec)
    names = {d.urn: d.name for d in declared}
    types = {d.urn: d.type for d in declared}
    resources = [
        {
            "type": d.type, "name": d.name,
            "parent": {"type": types[d.parent], "name": names[d.parent]} if d.parent in names else None,
            "depends_on": sorted(names[u] for u in d.dependencies if u in names),
            "properties": _property_rows(d),
        }
        for d in declared
    ]  # fmt: skip
    return {"provider": spec.provider, "name": spec.name, "spec": spec.to_dict(),
            "resources": resources, "cost": estimate(spec)}  # fmt: skip


def plan(
    provider: opt.ProviderOpt = "gcp",
    name: Annotated[
        str, typer.Option("--name", "-n", envvar="SCALECLOUD_CLUSTER", help="Cluster name.")
    ] = "default",
    workers: opt.WorkersOpt = 2,
    threads_per_worker: opt.ThreadsOpt = 1,
    memory_per_worker: opt.MemoryOpt = None,
    adapt: opt.AdaptOpt = None,
    idle_timeout: opt.IdleOpt = "1h",
    region: opt.RegionOpt = None,
    zone: opt.ZoneOpt = None,
    machine_type: opt.MachineTypeOpt = None,
    min_nodes: opt.MinNodesOpt = None,
    max_nodes: opt.MaxNodesOpt = None,
    spot: opt.SpotOpt = False,
    gpu: opt.GpuOpt = None,
    image: opt.ImageOpt = None,
    expose: opt.ExposeOpt = None,
    as_json: opt.JsonOpt = False,
) -> None:
    """Show what `up` would create on a cloud or minikube, and its hourly cost.

    Runs the real Pulumi program under the Pulumi SDK's mock runtime: no Pulumi CLI,
    no credentials, no network, nothing created.

    Examples:

      scalecloud plan --provider gcp --adapt 1:8 --spot

      scalecloud plan --provider aws --gpu 1 --max-nodes 4 --json

      scalecloud plan --provider minikube --workers 3
    """
    from scalecloud.cli.cluster_cmds import build_spec
    from scalecloud.cli.render import out, plan_tree, print_json
    from scalecloud.infra.kube.spec import KUBE_PROVIDERS, kube_spec

    if provider not in KUBE_PROVIDERS:
        raise ScalecloudError(
            f"plan is for the Kubernetes providers, not {provider!r}",
            f"choose one of: {', '.join(KUBE_PROVIDERS)}, e.g. --provider gcp",
        )
    extra = cloud_extra(
        provider, region, zone, machine_type, min_nodes, max_nodes, spot, gpu, image, expose
    )
    spec = build_spec(
        provider, name, workers, threads_per_worker, memory_per_worker, adapt, idle_timeout,
        0, 0, **extra,
    )  # fmt: skip
    report = plan_report(kube_spec(spec))
    if as_json:
        print_json(report)
        return
    out.print(plan_tree(report))


def register(app: typer.Typer) -> None:
    app.command()(plan)

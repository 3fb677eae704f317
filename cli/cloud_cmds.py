"""Commands for the Kubernetes providers: plan (what `up` would create, and its cost)."""

from __future__ import annotations

from typing import Annotated

import typer
from scalecloud.cli import options as opt
from scalecloud.infra.errors import ScalecloudError


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
    data: opt.DataOpt = None,
    data_write: opt.DataWriteOpt = False,
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
    from scalecloud.cli.cluster_cmds import cloud_options
    from scalecloud.cli.render import out, plan_tree, print_json
    from scalecloud.infra.kube.plan import plan_report
    from scalecloud.infra.kube.spec import kube_spec
    from scalecloud.infra.registry import build_spec, descriptor, kubernetes_providers

    if not descriptor(provider).kubernetes:
        raise ScalecloudError(
            f"plan is for the Kubernetes providers, not {provider!r}",
            f"choose one of: {', '.join(kubernetes_providers())}, e.g. --provider gcp",
        )
    spec = build_spec(
        provider, name, workers=workers, threads_per_worker=threads_per_worker,
        memory_per_worker=memory_per_worker, adapt=adapt, idle_timeout=idle_timeout,
        **cloud_options(region, zone, machine_type, min_nodes, max_nodes, spot, gpu, image,
                        expose, data, data_write),
    )  # fmt: skip
    report = plan_report(kube_spec(spec))
    if as_json:
        print_json(report)
        return
    out.print(plan_tree(report))


def register(app: typer.Typer) -> None:
    app.command()(plan)

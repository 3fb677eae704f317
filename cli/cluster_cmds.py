"""Cluster commands: up, status, scale, down, dashboard."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from scalecloud.cli import options as opt
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.provider import ClusterInfo, ClusterState
from scalecloud.infra.spec import format_duration, format_size, parse_adapt


def cloud_options(
    region: str | None, zone: str | None, machine_type: str | None, min_nodes: int | None,
    max_nodes: int | None, spot: bool, gpu: str | None, image: str | None, expose: str | None,
    data: list[str] | None = None, data_write: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The cloud flags as the API's keyword arguments (each provider refuses those it
    does not take)."""
    return {
        "region": region, "zone": zone, "machine_type": machine_type, "min_nodes": min_nodes,
        "max_nodes": max_nodes, "spot": spot, "gpu": gpu, "image": image, "expose": expose,
        "data": data, "data_write": data_write,
    }  # fmt: skip


def describe_up(info: ClusterInfo) -> str:
    threads = info.spec.threads_per_worker
    count = len(info.workers)
    size = (
        f"{count} worker{'s' if count != 1 else ''} × {threads} thread{'s' if threads != 1 else ''}"
    )
    if info.workers:
        size += f", {format_size(info.workers[0].memory_limit)} each"
    if info.adapt:
        size += f" (adaptive {info.adapt[0]}:{info.adapt[1]})"
    idle = (
        f"stops after {format_duration(info.idle_timeout)} idle"
        if info.idle_timeout
        else "no idle timeout: stop it with scalecloud down"
    )
    return (
        f"[green]Cluster {info.name!r} is running[/] ({info.provider}): {size}\n"
        f"  scheduler  {info.scheduler_address}\n"
        f"  dashboard  {info.dashboard_url or '-'}\n"
        f"  {idle}"
    )


def ensure_pulumi_cli(provider: str, install: bool, on_event: Any) -> None:
    """Before a Pulumi provider starts: with ``--install-pulumi``, or when the user says
    yes on a terminal, install a missing Pulumi CLI (else preflight says how)."""
    import sys

    from scalecloud.cluster import install_pulumi, needs_pulumi_cli

    if not needs_pulumi_cli(provider):
        return
    if not install and sys.stdin.isatty() and sys.stderr.isatty():
        install = typer.confirm(
            "The Pulumi CLI is not installed. Install it into scalecloud's state directory?",
            default=False, err=True,
        )  # fmt: skip
    if install:
        install_pulumi(on_event=on_event)


def up(
    provider: opt.ProviderOpt = "local",
    name: Annotated[
        str, typer.Option("--name", "-n", envvar="SCALECLOUD_CLUSTER", help="Cluster name.")
    ] = "default",
    workers: opt.WorkersOpt = 2,
    threads_per_worker: opt.ThreadsOpt = 1,
    memory_per_worker: opt.MemoryOpt = None,
    adapt: opt.AdaptOpt = None,
    idle_timeout: opt.IdleOpt = "1h",
    port: opt.PortOpt = 0,
    dashboard_port: opt.DashboardPortOpt = 0,
    region: opt.RegionOpt = None,
    zone: opt.ZoneOpt = None,
    machine_type: opt.MachineTypeOpt = None,
    min_nodes: opt.MinNodesOpt = None,
    max_nodes: opt.MaxNodesOpt = None,
    spot: opt.SpotOpt = False,
    gpu: opt.GpuOpt = None,
    image: opt.ImageOpt = None,
    expose: opt.ExposeOpt = None,
    install_pulumi: opt.InstallPulumiOpt = False,
    data: opt.DataOpt = None,
    data_write: opt.DataWriteOpt = False,
    as_json: opt.JsonOpt = False,
) -> None:
    """Start a cluster and print its scheduler address and dashboard link.

    Examples:

      scalecloud up                                  # 2 local workers

      scalecloud up --name big --workers 4 --memory-per-worker 4GiB

      scalecloud up --adapt 1:4 --idle-timeout 30m   # grows with the work

      scalecloud up --provider gcp --adapt 1:8 --spot   # GKE; see first: scalecloud plan

      scalecloud up --provider aws --data s3://my-bucket/exp-1   # workers may read it
    """
    from scalecloud.cli.render import EventView, out, print_json

    from scalecloud.cluster import Cluster

    with EventView(quiet=as_json) as view:
        cluster = Cluster(
            provider, name, workers=workers, threads_per_worker=threads_per_worker,
            memory_per_worker=memory_per_worker, adapt=adapt, idle_timeout=idle_timeout,
            port=port, dashboard_port=dashboard_port, keep=True, on_event=view,
            **cloud_options(region, zone, machine_type, min_nodes, max_nodes, spot, gpu, image,
                            expose, data, data_write),
        )  # fmt: skip
        ensure_pulumi_cli(provider, install_pulumi, view)
        info = cluster.start().info
    existed = not cluster.started
    if as_json:
        print_json(dict(info.to_dict(), already_running=existed))
        return
    if existed:
        out.print(f"Cluster {info.name!r} is already running; nothing changed.")
    out.print(describe_up(info))
    if not existed:
        out.print("Next: [bold]scalecloud submit kmeans[/]  ·  [bold]scalecloud down[/] when done")


def status(name: opt.NameOpt = None, as_json: opt.JsonOpt = False) -> None:
    """Show clusters: provider, addresses, workers, threads, memory, uptime.

    Examples:

      scalecloud status

      scalecloud status --name big --json
    """
    from scalecloud.cli.render import (
        cluster_table,
        clusters_table,
        dead_hint,
        out,
        print_json,
        warn,
    )

    from scalecloud.cluster import Cluster, clusters

    if name is None:
        infos = clusters(on_event=warn)
        if as_json:
            print_json([i.to_dict() for i in infos])
            return
        if not infos:
            out.print("No cluster is running. Start one with: [bold]scalecloud up[/]")
            return
        if len(infos) > 1:
            out.print(clusters_table(infos))
            return
        name = infos[0].name
    info = Cluster.attach(name, progress=False).info
    if as_json:
        print_json(info.to_dict())
        return
    out.print(cluster_table(info))
    if info.state == ClusterState.DEAD:
        out.print(f"[red]{dead_hint(info)}[/]")


def scale(
    workers: Annotated[
        int | None, typer.Argument(help="Fixed number of workers.", show_default=False)
    ] = None,
    adapt: opt.AdaptOpt = None,
    name: opt.NameOpt = None,
) -> None:
    """Change the worker count, or the adaptive range, of a running cluster.

    Examples:

      scalecloud scale 4

      scalecloud scale --adapt 1:8
    """
    from scalecloud.cli.render import out

    from scalecloud.cluster import scale as rescale

    adapt_range = parse_adapt(adapt) if adapt else None
    info = rescale(name, workers, adapt_range)
    mode = f"adaptive {adapt_range[0]}:{adapt_range[1]}" if adapt_range else "fixed"
    out.print(f"Cluster {info.name!r}: {len(info.workers)} workers ({mode}).")


def down(
    name: opt.NameOpt = None,
    all_clusters: Annotated[bool, typer.Option("--all", help="Stop every cluster.")] = False,
) -> None:
    """Stop a cluster and verify that nothing of it is left. Safe to repeat.

    Examples:

      scalecloud down

      scalecloud down --name big

      scalecloud down --all
    """
    from scalecloud.cli.render import EventView, out

    from scalecloud.cluster import down as tear_down

    with EventView() as view:
        done = tear_down(name, all=all_clusters, on_event=view)
    if not done:
        what = f"No cluster named {name!r}" if name else "No cluster is running"
        out.print(f"{what}; nothing to stop.")
    for cluster, verified in done:
        out.print(f"Cluster {cluster!r} is down; {verified}.")


def dashboard(
    name: opt.NameOpt = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open it in a browser.")] = False,
) -> None:
    """Print the dashboard link of a cluster (and open it with --open).

    On Kubernetes providers it port-forwards the dashboard and keeps the link open
    until Ctrl-C.

    Example:

      scalecloud dashboard --open
    """
    import threading
    import webbrowser

    from scalecloud.cli.render import out

    from scalecloud.cluster import Cluster

    cluster = Cluster.attach(name, progress=False)
    info = cluster.info
    if not info.running or not info.dashboard_url:
        raise ScalecloudError(
            f"cluster {cluster.name!r} has no live dashboard", "check: scalecloud status"
        )
    with cluster:
        link = cluster.dashboard_url or info.dashboard_url
        forwarded = link != info.dashboard_url  # a port-forward was opened for it
        out.print(f"{link}  (port-forward open; Ctrl-C closes it)" if forwarded else link)
        if open_browser:
            webbrowser.open(link)
        if forwarded:
            threading.Event().wait()


def register(app: typer.Typer) -> None:
    for command in (up, status, scale, down, dashboard):
        app.command()(command)

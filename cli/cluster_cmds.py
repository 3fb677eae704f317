"""Cluster commands: up, status, scale, down, dashboard."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from scalecloud.cli import options as opt
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.provider import ClusterInfo, check_provider, get_provider, resolve_cluster
from scalecloud.infra.spec import (
    ClusterSpec,
    format_duration,
    format_size,
    parse_adapt,
    parse_duration,
    parse_size,
)


def build_spec(
    provider: str, name: str | None, workers: int, threads: int, memory: str | None,
    adapt: str | None, idle_timeout: str, port: int, dashboard_port: int, **extra: object,
) -> ClusterSpec:  # fmt: skip
    """The one place where ``up``/``run`` flags become a validated ClusterSpec."""
    return ClusterSpec(
        provider=check_provider(provider),
        name=name or "default",
        workers=workers,
        threads_per_worker=threads,
        memory_per_worker=parse_size(memory, what="--memory-per-worker") if memory else None,
        adapt=parse_adapt(adapt) if adapt else None,
        idle_timeout=parse_duration(idle_timeout, what="--idle-timeout"),
        port=port,
        dashboard_port=dashboard_port,
        extra=dict(extra),
    )


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
    as_json: opt.JsonOpt = False,
) -> None:
    """Start a cluster and print its scheduler address and dashboard link.

    Examples:

      scalecloud up                                  # 2 local workers

      scalecloud up --name big --workers 4 --memory-per-worker 4GiB

      scalecloud up --adapt 1:4 --idle-timeout 30m   # grows with the work

      scalecloud up --provider gcp --adapt 1:8 --spot   # GKE; see first: scalecloud plan
    """
    from scalecloud.cli.cloud_cmds import cloud_extra
    from scalecloud.cli.render import EventView, out, print_json

    extra = cloud_extra(
        provider, region, zone, machine_type, min_nodes, max_nodes, spot, gpu, image, expose
    )
    spec = build_spec(
        provider, name, workers, threads_per_worker, memory_per_worker, adapt, idle_timeout,
        port, dashboard_port, **extra,
    )  # fmt: skip
    started = time.time()
    with EventView(quiet=as_json) as view:
        info = get_provider(spec.provider).up(spec, view)
    existed = info.created < started - 1e-3
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
    from scalecloud.cli.render import cluster_table, clusters_table, dead_hint, out, print_json
    from scalecloud.infra.state import StateStore

    store = StateStore()
    if name is None:
        infos = [i for i in (_status_of(n, store) for n in store.names()) if i is not None]
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
    provider, name = resolve_cluster(name, store)
    info = provider.status(name)
    if info is None:
        raise ScalecloudError(
            f"no cluster named {name!r}", f"start it with: scalecloud up --name {name}"
        )
    if as_json:
        print_json(info.to_dict())
        return
    out.print(cluster_table(info))
    if info.state == "dead":
        out.print(f"[red]{dead_hint(info)}[/]")


def _status_of(name: str, store: object) -> ClusterInfo | None:
    provider, name = resolve_cluster(name, store)
    return provider.status(name)


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

    if (workers is None) == (adapt is None):
        raise ScalecloudError(
            "give either a worker count or --adapt MIN:MAX", "e.g. scalecloud scale 4"
        )
    if workers is not None and workers < 0:
        raise ScalecloudError(
            f"the worker count must be >= 0, got {workers}", "e.g. scalecloud scale 4"
        )
    adapt_range = parse_adapt(adapt) if adapt else None
    provider, name = resolve_cluster(name)
    provider.scale(name, workers, adapt_range)
    info = provider.status(name)
    assert info is not None
    mode = f"adaptive {adapt_range[0]}:{adapt_range[1]}" if adapt_range else "fixed"
    out.print(f"Cluster {name!r}: {len(info.workers)} workers ({mode}).")


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
    from scalecloud.infra.state import StateStore

    store = StateStore()
    names = store.names() if all_clusters else None
    if names is None:
        if name is None and not store.names():
            out.print("No cluster is running; nothing to stop.")
            return
        if name is not None and store.get(name) is None:
            out.print(f"No cluster named {name!r}; nothing to stop.")
            return
        names = [resolve_cluster(name, store)[1]]
    for cluster in names:
        provider, cluster = resolve_cluster(cluster, store)
        with EventView() as view:
            provider.down(cluster, view)
        what = (
            "no process of it is left"
            if provider.name == "local"
            else "its stack held nothing after destroy and is removed"
        )
        out.print(f"Cluster {cluster!r} is down; {what}.")


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
    from scalecloud.cli.render import out

    provider, name = resolve_cluster(name)
    info = provider.status(name)
    if info is None or not info.running or not info.dashboard_url:
        raise ScalecloudError(f"cluster {name!r} has no live dashboard", "check: scalecloud status")
    connect = getattr(provider, "connect", None)
    if connect is None:
        out.print(info.dashboard_url)
        if open_browser:
            import webbrowser

            webbrowser.open(info.dashboard_url)
        return
    with connect(info) as local:  # a port-forward, open until Ctrl-C
        out.print(f"{local.dashboard_url}  (port-forward open; Ctrl-C closes it)")
        if open_browser:
            import webbrowser

            webbrowser.open(local.dashboard_url)
        import threading

        threading.Event().wait()


def register(app: typer.Typer) -> None:
    for command in (up, status, scale, down, dashboard):
        app.command()(command)

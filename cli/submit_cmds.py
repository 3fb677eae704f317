"""Workload commands: submit, run, workloads."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from scalecloud.cli import options as opt


def show_outcome(outcome: Any, cluster: str, as_json: bool) -> None:
    from scalecloud.cli.render import out, print_json, result_tables

    if as_json:
        print_json(dict(outcome.to_dict(), cluster=cluster))
        return
    if outcome.result is None:
        style = "green" if outcome.exit_code == 0 else "red"
        out.print(
            f"[{style}]{outcome.name} {outcome.status}[/] (exit code {outcome.exit_code}, "
            f"{outcome.duration_s:.2f} s, seed {outcome.seed}, run {outcome.run_id or '-'})"
        )
        return
    for table in result_tables(outcome):
        out.print(table)


def submit(
    workload: opt.WorkloadArg,
    args: opt.ScriptArgs = None,
    settings: opt.SetOpt = None,
    seed: opt.SeedOpt = None,
    name: opt.NameOpt = None,
    ship: opt.ShipOpt = None,
    strict_versions: opt.StrictVersionsOpt = False,
    as_json: opt.JsonOpt = False,
) -> None:
    """Run a workload or a Python script on a running cluster, with live progress.

    A script runs with DASK_SCHEDULER_ADDRESS set, so a plain Client() inside it
    connects to the cluster; its output streams through and its exit code is kept.
    The script's folder is importable on the workers (sent to them on a cloud, its
    .gitignore followed); --ship adds a module or package from elsewhere.
    Every run is recorded (see: scalecloud runs).

    Examples:

      scalecloud submit kmeans --set n_blocks=500 --seed 0

      scalecloud submit gridsearch --set data=reviews.csv --set text_column=body

      scalecloud submit my_experiment.py -- --epochs 3

      scalecloud submit my_experiment.py --ship ../mylib
    """
    from scalecloud.cli.render import EventView

    from scalecloud.cluster import Cluster
    from scalecloud.session import prepare

    prepared = prepare(workload, *(args or ()), seed=seed, settings=settings or (), ship=ship or ())
    with EventView(quiet=as_json) as view, Cluster.attach(name, on_event=view) as cluster:
        run = cluster.submit(prepared, strict_versions=strict_versions)
    show_run(run, cluster.name, as_json)


def show_run(run: Any, cluster: str, as_json: bool) -> None:
    """Show how a run ended, and exit with its exit code."""
    show_outcome(run.outcome, cluster, as_json)
    if run.outcome.exit_code:
        raise typer.Exit(run.outcome.exit_code)


def run(
    workload: opt.WorkloadArg,
    args: opt.ScriptArgs = None,
    settings: opt.SetOpt = None,
    seed: opt.SeedOpt = None,
    ship: opt.ShipOpt = None,
    provider: opt.ProviderOpt = "local",
    name: Annotated[
        str | None,
        typer.Option(
            "--name", "-n", help="Cluster name. Default: run-<random>.", show_default=False
        ),
    ] = None,
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
    strict_versions: opt.StrictVersionsOpt = False,
    as_json: opt.JsonOpt = False,
) -> None:
    """Start a cluster, run a workload on it, then tear it down, whatever happens.

    Teardown is guaranteed on success, on failure and on Ctrl-C. Every run is recorded
    (see: scalecloud runs).

    Examples:

      scalecloud run kmeans

      scalecloud run gridsearch --workers 4 --set cv=3

      scalecloud run my_experiment.py --adapt 1:4
    """
    from scalecloud.cli.cluster_cmds import cloud_options, ensure_pulumi_cli
    from scalecloud.cli.render import EventView

    from scalecloud.cluster import Cluster, fresh_name
    from scalecloud.session import prepare

    prepared = prepare(workload, *(args or ()), seed=seed, settings=settings or (), ship=ship or ())
    with EventView(quiet=as_json) as view:
        cluster = Cluster(
            provider, name or fresh_name(), workers=workers,
            threads_per_worker=threads_per_worker, memory_per_worker=memory_per_worker,
            adapt=adapt, idle_timeout=idle_timeout, port=port, dashboard_port=dashboard_port,
            keep=False, reuse=False, on_event=view,
            **cloud_options(region, zone, machine_type, min_nodes, max_nodes, spot, gpu, image,
                            expose, data, data_write),
        )  # fmt: skip
        cluster.check_run(prepared)  # before the cluster exists
        ensure_pulumi_cli(provider, install_pulumi, view)
        with cluster:
            run = cluster.submit(prepared, strict_versions=strict_versions)
    show_run(run, cluster.name, as_json)


def workloads(as_json: opt.JsonOpt = False) -> None:
    """List the built-in workloads with their parameters and defaults.

    Example:

      scalecloud workloads --json
    """
    from rich.table import Table
    from scalecloud.cli.render import out, print_json
    from scalecloud.workloads.core import Param
    from scalecloud.workloads.registry import WORKLOADS

    if as_json:
        print_json(
            [
                {
                    "name": w.name, "summary": w.summary, "notes": w.notes,
                    "params": [
                        {"name": p.name, "kind": p.kind, "default": Param.format(p.default), "help": p.help}
                        for p in w.params
                    ],
                }
                for w in WORKLOADS.values()
            ]
        )  # fmt: skip
        return
    for w in WORKLOADS.values():
        table = Table(
            title=f"[bold]{w.name}[/]: {w.summary}", title_justify="left", caption=w.notes or None
        )
        for column in ("parameter", "type", "default", "meaning"):
            table.add_column(column)
        for p in w.params:
            table.add_row(p.name, p.kind, Param.format(p.default), p.help)
        out.print(table)
    out.print(
        "Or a script: [bold]scalecloud submit path/to/script.py[/] "
        "(a plain Client() in it connects to the cluster)."
    )


def register(app: typer.Typer) -> None:
    app.command()(submit)
    app.command(context_settings={"allow_interspersed_args": True})(run)
    app.command()(workloads)

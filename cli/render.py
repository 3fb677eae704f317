"""Everything scalecloud shows on a terminal: events, errors, cluster and result tables."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table
from scalecloud.infra.events import Event
from scalecloud.infra.provider import ClusterInfo, ClusterState
from scalecloud.infra.spec import format_duration, format_size

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """JSON on stdout, nothing else, so that it pipes into jq."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_error(message: str, hint: str | None) -> None:
    """One line: the error, then the hint that fixes it."""
    from rich.markup import escape

    line = f"[bold red]Error:[/] {escape(message)}"
    if hint:
        line += f" [yellow]Hint:[/] {escape(hint)}"
    err.print(line)


def warn(event: Event) -> None:
    """A warning event as one line on stderr (stdout stays clean for --json)."""
    from rich.markup import escape

    err.print(f"[yellow]Warning:[/] {escape(event.message)}")


class EventView:
    """Shows library events: steps as lines, task progress as a live bar."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold blue]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[workers]} workers"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=quiet,
        )
        self.task: Any = None
        self.resource_task: Any = None

    def __enter__(self) -> EventView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def __call__(self, event: Event) -> None:
        if self.quiet:
            # --json keeps stdout clean; warnings (such as a version mismatch) still show.
            if event.kind == "warning":
                warn(event)
            return
        if event.kind == "resources":
            data = event.data
            if self.resource_task is None:
                self.resource_task = self.progress.add_task("resources", total=None, workers="-")
            self.progress.update(
                self.resource_task, completed=data["done"], total=max(data["total"], 1)
            )
        elif event.kind == "progress":
            data = event.data
            if self.task is None:
                self.task = self.progress.add_task("tasks", total=None, workers=0)
            self.progress.update(
                self.task, completed=data["done"], total=max(data["total"], data["done"], 1),
                workers=data["workers"],
            )  # fmt: skip
        elif event.kind == "warning":
            warn(event)
        elif event.message:
            self.progress.console.print(f"[dim]→ {event.message}[/]")


def cluster_table(info: ClusterInfo) -> Table:
    """The detailed view of one cluster."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    state_style = {ClusterState.RUNNING: "green", ClusterState.DEAD: "red"}.get(
        info.state, "yellow"
    )
    data = info.to_dict()
    mode = f"adaptive {info.adapt[0]}:{info.adapt[1]}" if info.adapt else "fixed"
    rows = [
        ("cluster", info.name),
        ("provider", info.provider),
        ("state", f"[{state_style}]{info.state}[/]"),
        ("scheduler", info.scheduler_address),
        ("dashboard", info.dashboard_url or "-"),
        ("workers", f"{len(info.workers)} ({mode})"),
        ("threads", str(data["threads"])),
        ("memory", format_size(data["memory"]) if data["memory"] else "-"),
        ("uptime", format_duration(time.time() - info.created)),
        ("idle timeout", format_duration(info.idle_timeout)),
    ]
    rows += list(info.rows)  # what the provider adds: nodes, image, cost, ...
    for label, value in rows:
        table.add_row(label, value)
    return table


def clusters_table(infos: list[ClusterInfo]) -> Table:
    table = Table(title="clusters")
    for column in ("name", "provider", "state", "workers", "scheduler", "uptime"):
        table.add_column(column)
    for info in infos:
        table.add_row(
            info.name, info.provider, info.state, str(len(info.workers)),
            info.scheduler_address, format_duration(time.time() - info.created),
        )  # fmt: skip
    return table


def dead_hint(info: ClusterInfo) -> str:
    return (
        f"the processes of cluster {info.name!r} are gone; clean up with: "
        f"scalecloud down --name {info.name}"
    )


def result_tables(outcome: Any) -> list[Table]:
    """The results of a run: a summary table, then the workload's own tables."""
    summary = Table(title=f"{outcome.name} — {outcome.status}", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in outcome.result.summary if outcome.result else []:
        summary.add_row(label, value)
    summary.add_row("seed", str(outcome.seed))
    summary.add_row("duration", f"{outcome.duration_s:.2f} s")
    if outcome.run_id:
        summary.add_row("run", f"{outcome.run_id} (scalecloud runs show {outcome.run_id})")
    tables = [summary]
    for title, rows in (outcome.result.tables if outcome.result else {}).items():
        if not rows:
            continue
        table = Table(title=title)
        for column in rows[0]:
            table.add_column(
                column, justify="right" if isinstance(rows[0][column], (int, float)) else "left"
            )
        for row in rows:
            table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()))
        tables.append(table)
    return tables


def plan_tree(report: dict[str, Any]) -> Any:
    """``plan``'s resources as a tree (children under their component), then the cost."""
    from rich.console import Group
    from rich.markup import escape
    from rich.tree import Tree

    root = Tree(
        f"[bold]{report['provider']}[/] stack [bold]{report['name']}[/]: "
        f"{len(report['resources'])} resources"
    )
    nodes: dict[str, Any] = {}
    for res in report["resources"]:
        up = res["parent"]
        parent = nodes.get((up["type"], up["name"])) if up else None
        label = f"[cyan]{res['type']}[/] {res['name']}"
        if res["depends_on"]:
            label += f" [dim](after {', '.join(res['depends_on'])})[/]"
        node = (parent or root).add(label)
        for key, value in res["properties"].items():
            text = json.dumps(value) if not isinstance(value, str) else value
            node.add(f"[dim]{key}[/] {escape(text)}")
        if res["type"].startswith("scalecloud:"):
            nodes[(res["type"], res["name"])] = node
    cost = report["cost"]
    table = Table(title=f"hourly cost estimate ({cost['currency']}, prices of {cost['as_of']})")
    for column in ("item", "per hour", "count", "note"):
        table.add_column(column)
    for line in cost["lines"]:
        price = "?" if line["hourly"] is None else f"{line['hourly']:.3f}"
        low, high = line["count"]
        table.add_row(
            line["item"], price, str(low) if low == high else f"{low}-{high}", line["note"]
        )
    summary = (
        f"[bold]{cost['hourly_min']:.2f}-{cost['hourly_max']:.2f} {cost['currency']}/hour[/] "
        "from the fewest to the most nodes"
    )
    notes = [f"[yellow]Note:[/] {n}" for n in cost["notes"]]
    grants = [
        f"[bold]data access[/] {escape(g['who'])}: [cyan]{escape(g['what'])}[/] on "
        f"{escape(g['where'])} ({escape(g['note'])})"
        for g in report.get("data_access", [])
    ]
    return Group(root, _fit_line(report["fit"]), *grants, table, summary, *notes)


def _fit_line(fit: dict[str, Any]) -> str:
    """How the workers sit on the nodes, as ``plan`` shows it."""
    memory = f", {fit['worker_memory_gib']} GiB" if fit["worker_memory_gib"] else ""
    wants = f"each worker requests {fit['worker_cpu']} CPU{memory}"
    if not fit["known"]:
        return f"[bold]workers:[/] {wants}; the shape of {fit['machine_type']} is not known"
    return (
        f"[bold]workers:[/] {wants}; {fit['workers_per_node']} fit on one {fit['machine_type']} "
        f"node ({fit['node_cpu']} CPU, {fit['node_memory_gib']} GiB left to pods); "
        f"{fit['max_workers']} workers need {fit['nodes_for_max_workers']} of at most "
        f"{fit['max_nodes']} nodes"
    )


def versions_table(table: Any, mismatches: list[Any], cluster: str | None) -> Table:
    """Client, scheduler and workers side by side; differing cells in red (yellow where the
    package is optional), their rows marked ✗. Packages installed nowhere are left out."""
    from scalecloud.infra.versions import SCHEDULER_IGNORES

    workers = sorted(table.workers)
    wide = len(workers) <= 6
    view = Table(title=f"versions: client vs cluster {cluster!r}" if cluster else "versions")
    view.add_column("package")
    view.add_column("client")
    if cluster:
        view.add_column("scheduler")
        for address in workers if wide else []:
            view.add_column(f"worker {address.rsplit(':', 1)[-1]}")
        if not wide:
            view.add_column(f"{len(workers)} workers")
    differing = {m.package: m for m in mismatches}
    for package in table.packages():
        mine = table.client.get(package)
        scheduler = (table.scheduler or {}).get(package)
        values = [table.workers[a].get(package) for a in workers]
        if mine is None and scheduler is None and not any(values):
            continue
        mismatch = differing.get(package)
        style = ("bold red" if mismatch.matters else "yellow") if mismatch else ""
        row = [f"[{style}]✗ {package}[/]" if mismatch else package, _version_cell(mine)]
        if cluster:
            check = package not in SCHEDULER_IGNORES
            row.append(_version_cell(scheduler, style if check and scheduler != mine else ""))
            cells = [_version_cell(v, style if v != mine else "") for v in values]
            row.extend(cells if wide else [", ".join(sorted(set(cells)))])
        view.add_row(*row)
    return view


def _version_cell(value: Any, style: str = "") -> str:
    text = "-" if value is None else str(value)
    return f"[{style}]{text}[/]" if style else text

"""Run record commands: runs (list), show, compare, rerun, export, rm."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from scalecloud.cli import options as opt
from scalecloud.infra.errors import ScalecloudError

runs_app = typer.Typer(
    name="runs",
    no_args_is_help=False,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)

RunIdArg = Annotated[str, typer.Argument(help="A run id, or the first characters of one.")]
_STYLES = {"succeeded": "green", "failed": "red", "interrupted": "yellow", "refused": "red"}


def _store() -> Any:
    from scalecloud.workloads.records.store import RunStore

    return RunStore()


def _status(record: dict[str, Any]) -> str:
    """The stored status, or ``lost`` for a running record whose process is gone."""
    import socket

    from scalecloud.infra.state import pid_alive

    here = record.get("host") == socket.gethostname()
    if record["status"] == "running" and here and not pid_alive(record.get("pid")):
        return "lost"
    return str(record["status"])


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def _key_metric(record: dict[str, Any]) -> str:
    metrics = record.get("metrics") or {}
    if "inertia" in metrics:
        return f"inertia {metrics['inertia']:.6g}"
    if "best_score" in metrics:
        return f"best score {metrics['best_score']:.4f}"
    if record.get("exit_code") is not None:
        return f"exit code {record['exit_code']}"
    return "-"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def _brief(value: Any) -> Any:
    """Nested lists (such as KMeans centers) as their shape; the JSON has them in full."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return f"[{len(value)} × {len(value[0])} values; see --json]"
    return value


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    cluster = record.get("cluster") or {}
    return {
        "id": record["id"], "workload": record["workload"], "status": _status(record),
        "started": record["started"], "duration_s": record.get("duration_s"),
        "seed": record.get("seed"), "provider": cluster.get("provider"),
        "cluster": cluster.get("name"), "result": _key_metric(record),
    }  # fmt: skip


@runs_app.callback()
def runs(
    ctx: typer.Context,
    workload: Annotated[
        str | None, typer.Option("--workload", help="Only runs of this workload or script name.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="Only runs with this status: succeeded, failed, interrupted, ..."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many runs.")] = 20,
    as_json: opt.JsonOpt = False,
) -> None:
    """List recorded runs, newest first. Every submit and run is recorded.

    Examples:

      scalecloud runs --workload kmeans --limit 5

      scalecloud runs show 0mhx3k    # an id or its first characters

      scalecloud runs compare ID ID
    """
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table
    from scalecloud.cli.render import out, print_json

    records = _store().list(workload=workload, status=status, limit=max(limit, 0))
    if as_json:
        print_json([_summary(r) for r in records])
        return
    if not records:
        out.print("No runs recorded yet. Start one with: [bold]scalecloud submit kmeans[/]")
        return
    table = Table(title="runs (newest first)")
    table.add_column("id", no_wrap=True, min_width=12)  # ids are typed back: never cut
    for column in ("started", "workload", "status", "duration", "seed", "cluster", "result"):
        table.add_column(column)
    for record in records:
        row = _summary(record)
        style = _STYLES.get(row["status"], "yellow")
        table.add_row(
            row["id"], _when(row["started"]), row["workload"], f"[{style}]{row['status']}[/]",
            f"{row['duration_s']:.1f} s" if row["duration_s"] is not None else "-",
            _text(row["seed"]), f"{row['provider']}/{row['cluster']}", row["result"],
        )  # fmt: skip
    out.print(table)


def _artifact_paths(record: dict[str, Any]) -> dict[str, str]:
    folder = _store().artifacts_dir(record["id"])
    return {name: str(folder / name) for name in record.get("artifacts") or []}


@runs_app.command()
def show(run_id: RunIdArg, as_json: opt.JsonOpt = False) -> None:
    """Everything recorded about a run, and the paths of its plots and tables.

    Examples:

      scalecloud runs show 0mhx3k

      scalecloud runs show 0mhx3k --json | jq .metrics
    """
    from rich.table import Table
    from scalecloud.cli.render import out, print_json
    from scalecloud.workloads.records.views import worker_versions

    record = _store().find(run_id)
    record["status"] = _status(record)
    record["artifact_paths"] = _artifact_paths(record)
    if as_json:
        print_json(record)
        return
    table = Table(show_header=False, title=f"run {record['id']}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    cluster = record.get("cluster") or {}
    script = record.get("script")
    git = record.get("git")
    rows = [
        ("workload", record["workload"]),
        ("script", f"{script['path']} (sha256 {script['sha256'][:16]}…)" if script else None),
        ("script args", " ".join(script["args"]) if script and script["args"] else None),
        ("status", f"[{_STYLES.get(record['status'], 'yellow')}]{record['status']}[/]"),
        ("error", record.get("error")),
        ("exit code", record.get("exit_code")),
        ("seed", f"{record['seed']} ({'given' if record.get('seed_given') else 'chosen'})"),
        ("started", _when(record["started"])),
        ("ended", _when(record.get("ended"))),
        ("duration", f"{record['duration_s']:.2f} s" if record.get("duration_s") else None),
        ("cluster", f"{cluster.get('name')} ({cluster.get('provider')})"),
        ("spec", cluster.get("spec")),
        ("workers over time", " → ".join(f"{t}s: {n}" for t, n in record["worker_counts"])),
        ("git", f"{git['commit'][:12]}{' (dirty)' if git['dirty'] else ''}" if git else None),
        ("rerun of", record.get("rerun_of")),
    ]
    rows += [(f"params.{k}", v) for k, v in (record.get("params") or {}).items()]
    metrics = record.get("metrics") or {}
    rows += [(f"metrics.{k}", _brief(v)) for k, v in metrics.items() if k != "cv_results"]
    if metrics.get("cv_results"):
        rows.append(("metrics.cv_results", f"{len(metrics['cv_results'])} candidates (CSV below)"))
    for name, path in record["artifact_paths"].items():
        rows.append((f"artifact {name}", path))
    for label, value in rows:
        if value not in (None, ""):
            table.add_row(label, value if isinstance(value, str) else _text(value))
    out.print(table)
    versions = record.get("versions") or {}
    vtable = Table(title="package versions", title_justify="left")
    for column in ("package", "client", "scheduler", "workers"):
        vtable.add_column(column)
    scheduler = (versions.get("cluster") or {}).get("scheduler") or {}
    workers = worker_versions(record)
    mismatched = {m["package"] for m in versions.get("mismatches") or []}
    for name, value in (versions.get("client") or {}).items():
        style = "bold yellow" if name in mismatched else ""
        vtable.add_row(
            name, _text(value), _text(scheduler.get(name)), _text(workers.get(name)), style=style
        )
    out.print(vtable)
    if mismatched:
        out.print(f"[yellow]Version mismatches:[/] {', '.join(sorted(mismatched))}")


@runs_app.command()
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or prefixes).")],
    as_json: opt.JsonOpt = False,
) -> None:
    """Parameters and metrics of several runs side by side; differences highlighted.

    Examples:

      scalecloud runs compare 0mhx3k 0mhx4a

      scalecloud runs compare 0mhx3k 0mhx4a 0mhx5b --json
    """
    from rich.markup import escape
    from rich.table import Table
    from scalecloud.cli.render import out, print_json
    from scalecloud.workloads.records.views import compare_rows

    if len(run_ids) < 2:
        raise ScalecloudError("compare needs two or more runs", "e.g. scalecloud runs compare A B")
    store = _store()
    records = [store.find(run_id) for run_id in run_ids]
    rows = compare_rows(records)
    if as_json:
        print_json({"runs": [r["id"] for r in records], "rows": rows})
        return
    table = Table(title="runs compared (differences in yellow, marked ≠)")
    table.add_column("field", style="bold")
    table.add_column("")
    for record in records:
        table.add_column(record["id"])
    for row in rows:
        table.add_row(
            row["field"], "≠" if row["differs"] else "",
            *(escape(_text(v)) for v in row["values"]),
            style="yellow" if row["differs"] else None,
        )  # fmt: skip
    out.print(table)
    count = sum(row["differs"] for row in rows)
    out.print(f"{count} field{'s' if count != 1 else ''} differ.")


@runs_app.command()
def rerun(
    run_id: RunIdArg,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider", "-p",
            help="Start a fresh cluster of the recorded size on this provider, run, tear it "
            "down. Default: submit to a running cluster.",
            show_default=False,
        ),
    ] = None,
    name: opt.NameOpt = None,
    strict_versions: opt.StrictVersionsOpt = False,
    as_json: opt.JsonOpt = False,
) -> None:  # fmt: skip
    """Run a recorded run again: the same workload, parameters and seed.

    Says whether package versions differ from the recorded ones, and whether the results
    (KMeans inertia, grid search best parameters and score) are the same.

    Examples:

      scalecloud runs rerun 0mhx3k                  # on the running cluster

      scalecloud runs rerun 0mhx3k --provider local # on a fresh cluster, torn down after
    """
    from scalecloud.cli.render import err, out, print_json
    from scalecloud.cli.submit_cmds import run_prepared, submit_prepared
    from scalecloud.workloads.records import views as runviews

    store = _store()
    old = store.find(run_id)
    prepared = runviews.prepare_rerun(old)
    if old.get("kind") == "script" and runviews.script_changed(old):
        err.print(f"[yellow]Warning:[/] {prepared.script} changed since run {old['id']}")
    client_diff = runviews.version_differences((old.get("versions") or {}).get("client") or {})
    for diff in client_diff if not as_json else []:
        err.print(
            f"[yellow]Warning:[/] {diff['package']} is {diff['now'] or 'missing'} here, "
            f"was {diff['recorded']} in run {old['id']}"
        )
    if provider is not None:
        from scalecloud.infra.provider import check_provider
        from scalecloud.infra.spec import ClusterSpec

        spec_data = dict((old.get("cluster") or {}).get("spec") or {})
        spec_data.update(
            provider=check_provider(provider), name=name or f"rerun-{secrets.token_hex(3)}",
            port=0, dashboard_port=0, extra={"owner_pid": os.getpid()},
        )  # fmt: skip
        outcome = run_prepared(
            prepared, ClusterSpec.from_dict(spec_data), as_json, strict_versions, old["id"],
            show=False,
        )  # fmt: skip
    else:
        outcome = submit_prepared(prepared, name, as_json, strict_versions, old["id"], show=False)
    new = store.get(outcome.run_id) or {}
    same = runviews.reproduction(old, new)
    cluster_diff = runviews.version_differences(
        runviews.worker_versions(old), runviews.worker_versions(new)
    )
    if as_json:
        print_json(
            dict(
                outcome.to_dict(), rerun_of=old["id"], reproduced=same,
                client_version_differences=client_diff,
                worker_version_differences=cluster_diff,
            )
        )  # fmt: skip
    else:
        from scalecloud.cli.submit_cmds import show_outcome

        show_outcome(outcome, new.get("cluster", {}).get("name", "-"), False)
        for row in same:
            mark = "[green]same[/]" if row["same"] else "[red]different[/]"
            out.print(
                f"{row['metric']}: {mark} ({_text(row['before'])} in {old['id']}, "
                f"{_text(row['after'])} now)"
            )
        if not client_diff and not cluster_diff:
            out.print(f"Package versions: the same as in run {old['id']}.")
        for diff in cluster_diff:
            out.print(
                f"[yellow]workers' {diff['package']}: {diff['now']} now, "
                f"{diff['recorded']} in run {old['id']}[/]"
            )
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


@runs_app.command()
def export(
    run_id: RunIdArg,
    format: Annotated[
        str, typer.Option("--format", "-f", help="The file format: environment.yml.")
    ] = "environment.yml",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of stdout."),
    ] = None,
) -> None:
    """Export a run's recorded package versions as a conda environment file.

    Examples:

      scalecloud runs export 0mhx3k --format environment.yml -o environment.yml

      conda env create -f environment.yml
    """
    from scalecloud.cli.render import err
    from scalecloud.workloads.records.views import environment_yml

    if format not in ("environment.yml", "conda"):
        raise ScalecloudError(f"unknown export format {format!r}", "use --format environment.yml")
    text = environment_yml(_store().find(run_id))
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    err.print(f"Wrote {output}")


@runs_app.command("rm")
def remove(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids (or prefixes) to delete.")],
) -> None:
    """Delete run records and their artifacts.

    Example:

      scalecloud runs rm 0mhx3k
    """
    from scalecloud.cli.render import out

    store = _store()
    records = [store.find(run_id) for run_id in run_ids]  # every id checked before deleting
    for record in records:
        store.remove(record["id"])
        out.print(f"Removed run {record['id']}")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app)

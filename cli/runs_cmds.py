"""Run record commands: runs (list), show, compare, rerun, export, rm."""

from __future__ import annotations

import json
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


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


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


def _summary(run: Any) -> dict[str, Any]:
    record = run.record
    cluster = record.get("cluster") or {}
    return {
        "id": run.id, "workload": run.workload, "status": run.status,
        "started": record["started"], "duration_s": run.duration_s,
        "seed": run.seed, "provider": cluster.get("provider"),
        "cluster": cluster.get("name"), "result": run.headline,
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

    from scalecloud.results import runs as recorded

    records = recorded(workload=workload, status=status, limit=max(limit, 0))
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

    from scalecloud.results import Run

    run = Run.load(run_id)
    record = run.to_dict()
    record["artifact_paths"] = {name: str(path) for name, path in run.artifacts.items()}
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
    for key, value in metrics.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            rows.append((f"metrics.{key}", f"{len(value)} rows (CSV below)"))
        else:
            rows.append((f"metrics.{key}", _brief(value)))
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

    from scalecloud.results import compare as side_by_side

    comparison = side_by_side(run_ids)
    rows = comparison.rows
    if as_json:
        print_json({"runs": list(comparison.runs), "rows": list(rows)})
        return
    table = Table(title="runs compared (differences in yellow, marked ≠)")
    table.add_column("field", style="bold")
    table.add_column("")
    for run_id in comparison.runs:
        table.add_column(run_id)
    for row in rows:
        table.add_row(
            row["field"], "≠" if row["differs"] else "",
            *(escape(_text(v)) for v in row["values"]),
            style="yellow" if row["differs"] else None,
        )  # fmt: skip
    out.print(table)
    count = comparison.differing
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
    from scalecloud.cli.render import EventView, out, print_json
    from scalecloud.cli.submit_cmds import show_outcome

    from scalecloud.results import Run

    old = Run.load(run_id)
    with EventView(quiet=as_json) as view:
        new = old.rerun(provider, name, strict_versions=strict_versions, on_event=view)
    report = new.rerun_report or {}
    outcome = new.outcome
    if as_json:
        print_json(
            dict(
                outcome.to_dict(), rerun_of=old.id, reproduced=report["reproduced"],
                client_version_differences=report["client_version_differences"],
                worker_version_differences=report["worker_version_differences"],
            )
        )  # fmt: skip
    else:
        show_outcome(outcome, (new.record.get("cluster") or {}).get("name", "-"), False)
        for row in report["reproduced"]:
            mark = "[green]same[/]" if row["same"] else "[red]different[/]"
            out.print(
                f"{row['metric']}: {mark} ({_text(row['before'])} in {old.id}, "
                f"{_text(row['after'])} now)"
            )
        if not report["client_version_differences"] and not report["worker_version_differences"]:
            out.print(f"Package versions: the same as in run {old.id}.")
        for diff in report["worker_version_differences"]:
            out.print(
                f"[yellow]workers' {diff['package']}: {diff['now']} now, "
                f"{diff['recorded']} in run {old.id}[/]"
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

    from scalecloud.results import Run

    if format not in ("environment.yml", "conda"):
        raise ScalecloudError(f"unknown export format {format!r}", "use --format environment.yml")
    text = environment_yml(Run.load(run_id).record)
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

    from scalecloud.results import remove as remove_runs

    for removed in remove_runs(run_ids):
        out.print(f"Removed run {removed}")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app)

"""Option and argument types shared by several commands (one definition each)."""

from __future__ import annotations

from typing import Annotated

import typer
from scalecloud.infra.provider import PROVIDERS

NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name", "-n", envvar="SCALECLOUD_CLUSTER",
        help="Cluster name. Default: the only cluster, else 'default'.", show_default=False,
    ),
]  # fmt: skip
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
ProviderOpt = Annotated[
    str,
    typer.Option(
        "--provider", "-p", envvar="SCALECLOUD_PROVIDER",
        help=f"Where the cluster runs: {', '.join(PROVIDERS)}.",
    ),
]  # fmt: skip
WorkersOpt = Annotated[
    int,
    typer.Option(
        "--workers", "-w", envvar="SCALECLOUD_WORKERS", help="Number of workers (fixed size)."
    ),
]
ThreadsOpt = Annotated[
    int,
    typer.Option("--threads-per-worker", envvar="SCALECLOUD_THREADS", help="Threads per worker."),
]
MemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--memory-per-worker", envvar="SCALECLOUD_MEMORY",
        help="Memory limit per worker, e.g. 4GiB. Default: the machine's memory shared out.",
        show_default=False,
    ),
]  # fmt: skip
AdaptOpt = Annotated[
    str | None,
    typer.Option(
        "--adapt", envvar="SCALECLOUD_ADAPT",
        help="Adaptive worker range MIN:MAX, e.g. 1:4 (overrides --workers).", show_default=False,
    ),
]  # fmt: skip
IdleOpt = Annotated[
    str,
    typer.Option(
        "--idle-timeout", envvar="SCALECLOUD_IDLE_TIMEOUT",
        help="Stop the cluster after this long without work, e.g. 30m, 2h; 0 keeps it.",
    ),
]  # fmt: skip
PortOpt = Annotated[
    int, typer.Option("--port", help="Scheduler port on 127.0.0.1; 0 picks a free one.")
]
DashboardPortOpt = Annotated[
    int, typer.Option("--dashboard-port", help="Dashboard port on 127.0.0.1; 0 picks a free one.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", metavar="KEY=VALUE",
        help="Set a workload parameter (repeatable); see: scalecloud workloads.", show_default=False,
    ),
]  # fmt: skip
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed", help="Random seed; chosen and shown when not given.", show_default=False
    ),
]
WorkloadArg = Annotated[
    str,
    typer.Argument(
        help="A workload (kmeans, gridsearch, nnsearch) or the path of a Python script."
    ),
]
ScriptArgs = Annotated[
    list[str] | None, typer.Argument(help="Arguments passed to the script.", show_default=False)
]
StrictVersionsOpt = Annotated[
    bool,
    typer.Option(
        "--strict-versions", envvar="SCALECLOUD_STRICT_VERSIONS",
        help="Refuse to run when package versions differ between this client and the cluster.",
    ),
]  # fmt: skip

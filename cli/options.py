"""Option and argument types shared by several commands (one definition each)."""

from __future__ import annotations

from typing import Annotated

import typer
from scalecloud.infra.registry import PROVIDERS

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
ShipOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ship", metavar="PATH", show_default=False,
        help="A file or package folder that a script's tasks import, sent to the workers with "
        "the script's own folder (repeatable; .gitignore is followed).",
    ),
]  # fmt: skip
ScriptArgs = Annotated[
    list[str] | None, typer.Argument(help="Arguments passed to the script.", show_default=False)
]

# -- Kubernetes providers (gcp, aws, azure, minikube): shared by up, run and plan ---------
RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region", envvar="SCALECLOUD_REGION", show_default=False, rich_help_panel="Clouds",
        help="Cloud region. Default: us-central1 (gcp), us-east-1 (aws), eastus (azure).",
    ),
]  # fmt: skip
ZoneOpt = Annotated[
    str | None,
    typer.Option(
        "--zone", envvar="SCALECLOUD_ZONE", show_default=False, rich_help_panel="Clouds",
        help="GKE zone (a zonal cluster). Default: REGION-a.",
    ),
]  # fmt: skip
MachineTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--machine-type", envvar="SCALECLOUD_MACHINE_TYPE", show_default=False,
        rich_help_panel="Clouds",
        help="Worker node type, e.g. e2-standard-4, m6i.xlarge, Standard_D4s_v5.",
    ),
]  # fmt: skip
MinNodesOpt = Annotated[
    int | None,
    typer.Option(
        "--min-nodes", envvar="SCALECLOUD_MIN_NODES", show_default=False,
        rich_help_panel="Clouds", help="Fewest worker nodes (0 allowed). Default: 1.",
    ),
]  # fmt: skip
MaxNodesOpt = Annotated[
    int | None,
    typer.Option(
        "--max-nodes", envvar="SCALECLOUD_MAX_NODES", show_default=False,
        rich_help_panel="Clouds", help="Most worker nodes. Default: the most workers asked for.",
    ),
]  # fmt: skip
SpotOpt = Annotated[
    bool,
    typer.Option(
        "--spot", envvar="SCALECLOUD_SPOT", rich_help_panel="Clouds",
        help="Spot / preemptible worker nodes (cheaper, may be reclaimed).",
    ),
]  # fmt: skip
GpuOpt = Annotated[
    str | None,
    typer.Option(
        "--gpu", envvar="SCALECLOUD_GPU", show_default=False, rich_help_panel="Clouds",
        help="GPUs per worker node, TYPE:COUNT or COUNT, e.g. nvidia-tesla-t4:1.",
    ),
]  # fmt: skip
ImageOpt = Annotated[
    str | None,
    typer.Option(
        "--image", envvar="SCALECLOUD_IMAGE", show_default=False, rich_help_panel="Clouds",
        help="Image for scheduler and workers. Default: the official Dask image matching "
        "this client, with the workloads' packages pinned.",
    ),
]  # fmt: skip
InstallPulumiOpt = Annotated[
    bool,
    typer.Option(
        "--install-pulumi", rich_help_panel="Clouds",
        help="When the Pulumi CLI is missing, install it into scalecloud's state directory "
        "first (on a terminal, up asks).",
    ),
]  # fmt: skip
ExposeOpt = Annotated[
    str | None,
    typer.Option(
        "--expose", envvar="SCALECLOUD_EXPOSE", show_default=False, rich_help_panel="Clouds",
        help="Make the scheduler a LoadBalancer open to this CIDR only, e.g. 198.51.100.7/32, "
        "or 'me' for this machine's public address (default: private, reached through a "
        "port-forward).",
    ),
]  # fmt: skip
StrictVersionsOpt = Annotated[
    bool,
    typer.Option(
        "--strict-versions", envvar="SCALECLOUD_STRICT_VERSIONS",
        help="Refuse to run when package versions differ between this client and the cluster.",
    ),
]  # fmt: skip
DataOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--data", metavar="URL", show_default=False, rich_help_panel="Clouds",
        help="A bucket the workers may read through the cloud's workload identity, no key "
        "copied (repeatable): gs://BUCKET/PREFIX on gcp, s3://BUCKET/PREFIX on aws, "
        "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PREFIX?resource_group=GROUP on azure "
        "(the prefix is optional).",
    ),
]  # fmt: skip
DataWriteOpt = Annotated[
    bool,
    typer.Option(
        "--data-write", rich_help_panel="Clouds",
        help="Let the workers write and delete objects in the --data buckets too.",
    ),
]  # fmt: skip

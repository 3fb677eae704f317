"""Data commands: ``data push`` (a local file or folder to gs://, s3:// or abfs://)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from scalecloud.cli import options as opt
from scalecloud.infra.events import Event

data_app = typer.Typer(
    name="data",
    help="Put data where cloud workers can read it: scalecloud data push PATH URL.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


class BytesView:
    """Library events as a live byte-progress bar (steps as lines) on stderr."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from scalecloud.cli.render import err

        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold blue]{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), console=err, transient=True,
            disable=quiet,
        )  # fmt: skip
        self.task: Any = None

    def __enter__(self) -> BytesView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def __call__(self, event: Event) -> None:
        from rich.markup import escape

        if event.kind == "bytes":
            data = event.data
            if self.task is None:
                self.task = self.progress.add_task("sending", total=data["total"])
            self.progress.update(
                self.task, completed=data["done"], description=escape(data["file"] or "sending")
            )
        elif event.kind == "warning":
            self.progress.console.print(f"[yellow]Warning:[/] {escape(event.message)}")
        elif event.kind == "info" and not self.quiet:
            self.progress.console.print(f"→ {escape(event.message)}")


def push(
    path: Annotated[str, typer.Argument(help="A local file, or a folder (its whole tree).")],
    url: Annotated[
        str,
        typer.Argument(
            help="Where it goes, read as a folder: gs://BUCKET/PREFIX, s3://BUCKET/PREFIX, "
            "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PREFIX (or abfs://CONTAINER/PREFIX "
            "with AZURE_STORAGE_ACCOUNT_NAME set)."
        ),
    ],
    part_size: Annotated[
        str | None,
        typer.Option(
            "--part-size",
            help="S3 multipart part size, e.g. 64MiB (default: s3fs's, 50 MiB).",
            show_default=False,
        ),
    ] = None,
    as_json: opt.JsonOpt = False,
) -> None:
    """Upload a file or folder to a bucket, resumably, and check every upload's checksum.

    A re-run sends only what is missing or different: files whose object already has the
    same size and checksum are skipped (per file: a file cut off mid-way is sent again).
    After each upload the store's checksum (S3 ETag, GCS md5Hash, Azure Content-MD5 where
    stored) is compared with the local file's. Credentials come from the cloud's usual
    chain (environment, profile, gcloud/az login).

    Examples:

      scalecloud data push data/ s3://my-bucket/exp-1     # data/a.csv -> s3://my-bucket/exp-1/a.csv

      scalecloud data push points.parquet gs://my-bucket/inputs --json

      scalecloud data push data/ abfs://inputs@myaccount.dfs.core.windows.net/exp-1

      scalecloud up --provider aws --data s3://my-bucket/exp-1   # workers may read it
    """
    from scalecloud.cli.render import out, print_json
    from scalecloud.infra.spec import format_size

    from scalecloud.data import push as upload

    with BytesView(quiet=as_json) as view:
        result = upload(path, url, part_size=part_size, on_event=view)
    if as_json:
        print_json(result.to_dict())
        return
    sent = len(result.uploaded)
    out.print(
        f"[green]Pushed to {result.url}[/]: {sent} file{'s' if sent != 1 else ''} sent "
        f"({format_size(result.uploaded_bytes)}), {len(result.skipped)} already there "
        f"of {result.files} ({format_size(result.bytes)})"
    )
    if result.replaced:
        out.print(f"  replaced (the store held other bytes): {', '.join(result.replaced)}")
    if result.verified:
        out.print(f"  checksum verified: {len(result.verified)}")
    if result.unverified:
        out.print(
            f"  [yellow]size checked only[/] (the store kept no checksum): "
            f"{', '.join(result.unverified)}"
        )


def register(app: typer.Typer) -> None:
    data_app.command()(push)
    app.add_typer(data_app)

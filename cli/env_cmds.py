"""Environment commands: env (versions here and on a cluster), image (a matching worker image)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from scalecloud.cli import options as opt
from scalecloud.infra.errors import ScalecloudError

FIX_HINT = (
    "give the cluster the client's versions: scalecloud image --build TAG writes and builds a "
    "worker image with them (or install the same versions where the cluster runs)"
)


def _cluster_table(name: str | None) -> tuple[str | None, Any]:
    """The version table of the cluster (client only when none runs and none was named)."""
    from scalecloud.infra import versions

    from scalecloud.cluster import Cluster, clusters

    if name is None and not clusters():
        return None, versions.VersionTable(client=versions.client_versions())
    with Cluster.attach(name, progress=False) as cluster:  # port-forwards closed after
        return cluster.name, cluster.versions()


def env(name: opt.NameOpt = None, as_json: opt.JsonOpt = False) -> None:
    """Show the versions that must match between this machine and the cluster.

    Lists the client's Python, dask, distributed, dask-ml, scikit-learn, numpy, pandas (and
    the optional packages installed); with a running cluster, the scheduler's and every
    worker's versions beside them, differences highlighted, with the fix.

    Examples:

      scalecloud env

      scalecloud env --name big --json
    """
    from scalecloud.cli.render import out, print_json, versions_table
    from scalecloud.infra.versions import mismatches

    cluster, table = _cluster_table(name)
    found = mismatches(table) if cluster else []
    if as_json:
        print_json(
            dict(
                table.to_dict(),
                cluster=cluster,
                mismatches=[m.to_dict() for m in found],
                hint=FIX_HINT if found else None,
            )
        )
        return
    out.print(versions_table(table, found, cluster))
    if cluster is None:
        out.print("No cluster is running: the client's versions only.")
    elif not found:
        out.print(f"[green]Cluster {cluster!r} matches the client.[/]")
    else:
        for mismatch in found:
            style = "bold red" if mismatch.matters else "yellow"
            out.print(f"[{style}]✗ {mismatch.describe()}[/]")
        out.print(f"[yellow]Fix:[/] {FIX_HINT}")


def image(
    pip: Annotated[
        list[str] | None,
        typer.Option(
            "--pip",
            metavar="PKG",
            help="Another package for the workers (repeatable); pinned to the installed "
            "version when it is installed here, else installed as given.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Directory for the Dockerfile and requirements.")
    ] = Path("scalecloud-image"),
    build: Annotated[
        str | None,
        typer.Option(
            "--build",
            metavar="TAG",
            help="Build the image with docker or podman, tagged TAG.",
            show_default=False,
        ),
    ] = None,
    push: Annotated[
        bool, typer.Option("--push", help="Push the built image (needs --build).")
    ] = False,
    as_json: opt.JsonOpt = False,
) -> None:
    """Write a worker image recipe whose versions are exactly the client's, and build it.

    The Dockerfile starts from the official Dask image of the client's distributed and
    Python versions; requirements.txt pins dask-ml, scikit-learn, numpy, pandas, pyarrow
    and distributed's own packages to the versions installed here.

    Examples:

      scalecloud image                               # ./scalecloud-image/Dockerfile

      scalecloud image --pip scikeras --pip keras --pip jax -o worker-image

      scalecloud image --build registry.example.com/me/workers:1 --push
    """  # fmt: skip
    from scalecloud.cli.render import out, print_json
    from scalecloud.infra import image as images

    if push and not build:
        raise ScalecloudError("--push needs an image to push", "add --build TAG")
    engine = images.container_engine() if build else None
    if build and engine is None:
        raise ScalecloudError(
            "--build needs a container engine, and neither docker nor podman is on PATH",
            "install Docker (https://docs.docker.com/get-docker/) or Podman (https://podman.io)",
        )
    recipe = images.recipe(tuple(pip or ()))
    written = _write(output, recipe.files())
    if not as_json:
        out.print(f"Wrote {', '.join(str(p) for p in written)} (FROM {recipe.base})")
    if build and engine:
        _engine_run(images.build_command(engine, str(output), build), as_json)
        if push:
            _engine_run(images.push_command(engine, build), as_json)
    if as_json:
        print_json(
            {
                "directory": str(output), "files": [str(p) for p in written], "base": recipe.base,
                "pins": recipe.pins, "unpinned": list(recipe.extras), "engine": engine,
                "built": build, "pushed": bool(push and build),
            }
        )  # fmt: skip
        return
    if build:
        out.print(f"[green]Built {build}[/]" + (" and pushed it." if push else "."))
    else:
        out.print(f"Build it with: [bold]scalecloud image --build TAG -o {output}[/]")


def _write(directory: Path, files: dict[str, str]) -> list[Path]:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in files.items():
            path = directory / name
            path.write_text(text)
            written.append(path)
    except OSError as exc:
        raise ScalecloudError(
            f"could not write the image recipe to {directory}: {exc.strerror}",
            "choose another directory with -o",
        ) from exc
    return written


def _engine_run(command: list[str], quiet: bool) -> None:
    """Run docker/podman with its output on stderr (stdout stays clean for --json)."""
    import sys

    code = subprocess.call(command, stdout=sys.stderr if quiet else None)
    if code != 0:
        raise ScalecloudError(
            f"{' '.join(command[:2])} failed with exit code {code}",
            "see the engine's output above",
        )


def register(app: typer.Typer) -> None:
    app.command()(env)
    app.command()(image)

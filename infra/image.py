"""Which container image the cluster's scheduler and workers run, matched to the client.

Pure functions of the client's installed versions (``workloads.versions``): the official
Dask image tagged with the client's distributed and Python versions, and the pins of the
packages the workloads need on top of it. The DaskCluster manifests (``infra``'s Kubernetes
programs) and the worker image recipe (``scalecloud image``) both start from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.versions import MATCH_PACKAGES, client_versions

OFFICIAL_IMAGE = "ghcr.io/dask/dask"
# What the official image lacks and the workloads import on the workers.
WORKER_PACKAGES: tuple[str, ...] = (
    "dask-ml",
    "scikit-learn",
    "numba",
    "numpy",
    "pandas",
    "pyarrow",
    # For the user's data read on the workers (pinned only where installed here).
    "zarr",
    "fsspec",
    "s3fs",
    "gcsfs",
    "adlfs",
)


def python_minor(python_version: str) -> str:
    """``3.11`` from ``3.11.7``."""
    return ".".join(python_version.split(".")[:2])


def official_image(versions: Mapping[str, str | None] | None = None) -> str:
    """``ghcr.io/dask/dask:<distributed>-py<major.minor>`` for the given (default: client) versions."""
    table = versions if versions is not None else client_versions()
    distributed, python = table.get("distributed"), table.get("python")
    if not distributed or not python:
        raise ValueError("distributed and python versions are needed to choose the image")
    return f"{OFFICIAL_IMAGE}:{distributed}-py{python_minor(python)}"


def worker_pins(
    versions: Mapping[str, str | None] | None = None, extra: tuple[str, ...] = ()
) -> dict[str, str]:
    """``{package: version}`` for what the workers need beyond the official image, pinned to
    the client's versions; packages the client does not have are left out."""
    table = versions if versions is not None else client_versions(extra)
    pins: dict[str, str] = {}
    for name in (*WORKER_PACKAGES, *extra):
        found = table.get(name)
        if found:
            pins[name] = found
    return pins


def extra_pip_packages(pins: Mapping[str, str]) -> str:
    """The official image's ``EXTRA_PIP_PACKAGES`` value for ``pins`` (installed at start)."""
    return " ".join(f"{name}=={value}" for name, value in sorted(pins.items()))


# Everything that must match beyond what the workloads import: distributed's own set.
MATCH_PINS: tuple[str, ...] = tuple(name for name in MATCH_PACKAGES if name != "python")
ENGINES: tuple[str, ...] = ("docker", "podman")
REQUIREMENTS = "requirements.txt"


@dataclass(frozen=True)
class ImageRecipe:
    """A worker image: its base, its pinned requirements, and the files that describe it."""

    base: str
    pins: dict[str, str]
    extras: tuple[str, ...] = ()

    def requirements(self) -> str:
        """``requirements.txt``: one ``name==version`` a line, then unpinned extras as given."""
        lines = [f"{name}=={value}" for name, value in sorted(self.pins.items())]
        return "\n".join([*lines, *self.extras]) + "\n"

    def dockerfile(self) -> str:
        return dockerfile(self.base)

    def files(self) -> dict[str, str]:
        return {"Dockerfile": self.dockerfile(), REQUIREMENTS: self.requirements()}


def dockerfile(base: str) -> str:
    """The Dockerfile of a worker image: ``base`` plus the pinned requirements."""
    return (
        "# Worker image for scalecloud: the official Dask image of the client's distributed and\n"
        "# Python versions, with what the workloads need pinned to the client's versions.\n"
        "# Written by `scalecloud image`; rebuild it when the client's environment changes.\n"
        f"FROM {base}\n"
        f"COPY {REQUIREMENTS} /tmp/scalecloud-{REQUIREMENTS}\n"
        f"RUN python -m pip install --no-cache-dir -r /tmp/scalecloud-{REQUIREMENTS} \\\n"
        f"    && rm /tmp/scalecloud-{REQUIREMENTS}\n"
    )


def pin_extra(requirement: str, installed: Callable[[str], str | None]) -> tuple[str, str | None]:
    """``(name, version)`` for a ``--pip`` extra when its installed version satisfies what
    was asked; else ``(requirement, None)``: it is installed as given."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(requirement)
    except InvalidRequirement as exc:
        raise ScalecloudError(
            f"invalid --pip requirement {requirement!r}: {exc}",
            "e.g. --pip xgboost or --pip 'xgboost>=2'",
        ) from None
    found = installed(req.name)
    if found is not None and req.specifier.contains(found, prereleases=True):
        return req.name, found
    return requirement, None


def recipe(
    extras: tuple[str, ...] = (), versions: Mapping[str, str | None] | None = None
) -> ImageRecipe:
    """The worker image matched to ``versions`` (default: this client's), plus ``extras``."""
    from scalecloud.infra.versions import package_version

    table = versions if versions is not None else client_versions()
    installed = table.get if versions is not None else package_version
    pins = worker_pins(table, extra=MATCH_PINS)
    unpinned: list[str] = []
    for requirement in extras:
        name, found = pin_extra(requirement, installed)
        if found is not None:
            pins[name] = found
            continue
        clash = next((p for p in pins if canonical(p) == canonical(requirement_name(name))), None)
        if clash is not None:
            raise ScalecloudError(
                f"--pip {requirement} conflicts with the client's {clash} {pins[clash]}, "
                "which the workers must match",
                f"drop --pip {requirement}, or install it here first so that it is pinned",
            )
        unpinned.append(name)
    return ImageRecipe(official_image(table), pins, tuple(unpinned))


def requirement_name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return str(Requirement(requirement).name)


def canonical(name: str) -> str:
    """PEP 503 normalised name: ``Scikit_Learn`` and ``scikit-learn`` are one package."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def container_engine() -> str | None:
    """The first container engine on PATH (docker, then podman), or None."""
    import shutil

    return next((engine for engine in ENGINES if shutil.which(engine)), None)


def build_command(engine: str, directory: str, tag: str) -> list[str]:
    return [engine, "build", "-t", tag, directory]


def push_command(engine: str, tag: str) -> list[str]:
    return [engine, "push", tag]

"""Which container image the cluster's scheduler and workers run, matched to the client.

Pure functions of the client's installed versions (``workloads.versions``): the official
Dask image tagged with the client's distributed and Python versions, and the pins of the
packages the workloads need on top of it. The DaskCluster manifests (``infra``'s Kubernetes
programs) and the worker image recipe (``scalecloud image``) both start from here.
"""

from __future__ import annotations

from collections.abc import Mapping

from scalecloud.workloads.versions import client_versions

OFFICIAL_IMAGE = "ghcr.io/dask/dask"
# What the official image lacks and the workloads import on the workers.
WORKER_PACKAGES: tuple[str, ...] = ("dask-ml", "scikit-learn", "numpy", "pandas", "pyarrow")


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

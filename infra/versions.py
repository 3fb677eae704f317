"""Package versions of the client, the scheduler and the workers, and where they differ.

One table for `scalecloud env`, the pre-run check of `submit`, run records and the worker
image recipe. Reading versions never imports the packages (``importlib.metadata``), so it is
cheap; comparing a running cluster goes through distributed's own ``Client.get_versions``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# The packages that must agree between client, scheduler and workers: distributed's own
# required set plus what the workloads unpickle on the workers.
MATCH_PACKAGES: tuple[str, ...] = (
    "python",
    "dask",
    "distributed",
    "dask-ml",
    "scikit-learn",
    "numpy",
    "pandas",
    "cloudpickle",
    "msgpack",
    "toolz",
    "tornado",
)
# Shown (and pinned in images) when installed; a difference in them is reported too.
OPTIONAL_PACKAGES: tuple[str, ...] = (
    "pyarrow",
    "lz4",
    "scipy",
    "numba",
    "scikeras",
    "keras",
    "matplotlib",
    # The user's data on the workers (--set data=...): Zarr, and the object stores' fsspec
    # filesystems (from the cloud extras).
    "zarr",
    "fsspec",
    "s3fs",
    "gcsfs",
    "adlfs",
)

# The scheduler only runs dask's graph machinery: a workload library differing there is fine.
SCHEDULER_IGNORES: frozenset[str] = frozenset(
    {"dask-ml", "scikit-learn", "numba", "scikeras", "keras", "matplotlib", "scipy"}
)


def python_version() -> str:
    """``major.minor.micro`` of this interpreter."""
    return ".".join(str(part) for part in sys.version_info[:3])


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    if name == "python":
        return python_version()
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def client_versions(packages: Iterable[str] = ()) -> dict[str, str | None]:
    """Versions here: every package that must match, the optional ones that are installed,
    and any extra ``packages`` asked for."""
    table = {name: package_version(name) for name in MATCH_PACKAGES}
    for name in (*OPTIONAL_PACKAGES, *packages):
        found = package_version(name)
        if found is not None or name in packages:
            table[name] = found
    return table


def _normalise_python(value: str | None) -> str | None:
    # distributed reports "3.11.7.final.0"; compare major.minor.micro.
    if value is None:
        return None
    return ".".join(str(value).split(".")[:3])


@dataclass(frozen=True)
class VersionTable:
    """Versions by package for the client, the scheduler and each worker."""

    client: dict[str, str | None]
    scheduler: dict[str, str | None] | None = None
    workers: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def packages(self) -> list[str]:
        names = list(self.client)
        for table in (self.scheduler or {}, *self.workers.values()):
            names.extend(
                n for n in table if n not in names and n in (*MATCH_PACKAGES, *OPTIONAL_PACKAGES)
            )
        return names

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client, "scheduler": self.scheduler, "workers": self.workers}


@dataclass(frozen=True)
class Mismatch:
    """One package whose versions differ somewhere in the cluster."""

    package: str
    client: str | None
    scheduler: str | None
    workers: dict[str, str | None]

    @property
    def matters(self) -> bool:
        """Whether the difference can break a run (a required package, not an optional one)."""
        return self.package in MATCH_PACKAGES

    def describe(self) -> str:
        worker_values = sorted({str(v) for v in self.workers.values()})
        return (
            f"{self.package}: client {self.client or 'missing'}, scheduler {self.scheduler or 'missing'}, "
            f"workers {', '.join(worker_values) or 'none'}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "client": self.client,
            "scheduler": self.scheduler,
            "workers": self.workers,
            "matters": self.matters,
        }


def _packages_of(report: Mapping[str, Any] | None) -> dict[str, str | None]:
    if not report:
        return {}
    packages = dict(report.get("packages", report))
    if "python" in packages:
        packages["python"] = _normalise_python(packages["python"])
    return packages


def cluster_versions(client: Any, packages: Iterable[str] = ()) -> VersionTable:
    """Ask the scheduler and every worker for their versions (distributed's ``get_versions``)."""
    wanted = [*MATCH_PACKAGES, *OPTIONAL_PACKAGES, *packages]
    wanted = [name for name in dict.fromkeys(wanted) if name != "python"]
    raw = client.get_versions(check=False, packages=wanted)
    return VersionTable(
        client=client_versions(packages),
        scheduler=_packages_of(raw.get("scheduler")),
        workers={
            address: _packages_of(report) for address, report in (raw.get("workers") or {}).items()
        },
    )


def mismatches(table: VersionTable) -> list[Mismatch]:
    """Packages whose client, scheduler (where it matters there) and worker versions differ.

    A package missing on the client but present on the cluster is not a mismatch (the
    cluster may carry extras); one the client has and a worker lacks is.
    """
    found: list[Mismatch] = []
    for name in table.packages():
        mine = table.client.get(name)
        if mine is None:
            continue
        theirs = {address: report.get(name) for address, report in table.workers.items()}
        scheduler = (table.scheduler or {}).get(name)
        seen = set(theirs.values())
        if table.scheduler is not None and name not in SCHEDULER_IGNORES:
            seen.add(scheduler)
        if seen - {mine}:
            found.append(Mismatch(name, mine, scheduler, theirs))
    return found

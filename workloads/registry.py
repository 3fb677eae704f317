"""The built-in workloads, by name."""

from __future__ import annotations

from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads import kmeans, sgd
from scalecloud.workloads.core import Workload
from scalecloud.workloads.search import gridsearch, nnsearch

WORKLOADS: dict[str, Workload] = {
    w.name: w for w in (kmeans.WORKLOAD, gridsearch.WORKLOAD, nnsearch.WORKLOAD, *sgd.WORKLOADS)
}


def find_workload(name: str) -> Workload | None:
    """The built-in workload called ``name``, or None."""
    return WORKLOADS.get(name)


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ScalecloudError(
            f"unknown workload {name!r}",
            f"choose one of: {', '.join(WORKLOADS)}, or give a path to a .py script "
            "(see: scalecloud workloads)",
        ) from None

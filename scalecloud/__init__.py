"""scalecloud from Python and Jupyter: the same clusters, runs and records as the CLI.

Example::

    import scalecloud

    with scalecloud.Cluster(provider="local", workers=2) as cluster:
        run = cluster.submit("kmeans", n_blocks=20, seed=0)
        print(run.metrics["inertia"], run.plots)

    scalecloud.runs(workload="kmeans").to_frame()

``Cluster`` starts a cluster (or reuses one by name) and tears down what it started when
the block ends, after an error or Ctrl-C too. ``connect()`` gives a ``distributed.Client``
of a running cluster. Every ``submit`` is recorded as the CLI records it; ``runs()``,
``Run.load(id)``, ``run.rerun()`` and ``compare(ids)`` read the records. Errors are
``ScalecloudError``, with a hint.

Importing this package loads nothing heavy: each name is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scalecloud.cluster import Cluster, clusters, connect, down
    from scalecloud.data import push
    from scalecloud.infra.errors import ScalecloudError
    from scalecloud.results import Comparison, Run, RunList, compare, runs
    from scalecloud.session import prepare

__all__ = [
    "Cluster",
    "Comparison",
    "Run",
    "RunList",
    "ScalecloudError",
    "clusters",
    "compare",
    "connect",
    "down",
    "install_pulumi",
    "prepare",
    "push",
    "runs",
]

_WHERE = {
    "Cluster": "scalecloud.cluster",
    "clusters": "scalecloud.cluster",
    "connect": "scalecloud.cluster",
    "down": "scalecloud.cluster",
    "install_pulumi": "scalecloud.cluster",
    "Run": "scalecloud.results",
    "RunList": "scalecloud.results",
    "Comparison": "scalecloud.results",
    "runs": "scalecloud.results",
    "compare": "scalecloud.results",
    "prepare": "scalecloud.session",
    "push": "scalecloud.data",
    "ScalecloudError": "scalecloud.infra.errors",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'scalecloud' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

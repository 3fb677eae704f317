"""What an SGD request must satisfy, checked before any cluster is touched."""

from __future__ import annotations

from typing import Any

from scalecloud.infra.errors import ScalecloudError


def check(params: dict[str, Any]) -> None:
    """A positive learning rate, a batch no larger than the data, a run to predict with."""
    from scalecloud.workloads.sgd import STRATEGIES

    if params.get("strategy", "sync") not in STRATEGIES:
        raise ScalecloudError(
            f"unknown strategy {params['strategy']!r}", f"choose from: {', '.join(STRATEGIES)}"
        )
    lr = params.get("lr")
    if lr is not None and lr <= 0:
        raise ScalecloudError(f"the learning rate must be > 0, got lr={lr:g}", "e.g. --set lr=0.5")
    if params.get("data"):
        from scalecloud.workloads.sgd.data import check as check_data

        check_data(params)  # the batch is checked against the rows once they are read
        return
    rows = params["n_blocks"] * params["rows_per_block"]
    if params["strategy"] != "sequential" and params["batch_size"] > rows:
        raise ScalecloudError(
            f"batch_size {params['batch_size']:,} is larger than the data ({rows:,} rows: "
            f"{params['n_blocks']} blocks × {params['rows_per_block']:,})",
            f"use at most the data, e.g. --set batch_size={min(rows, 10_000)}",
        )
    block = params["rows_per_block"] * params["n_features"] * 4
    if block > 2 * 2**30:
        raise ScalecloudError(
            f"one block of {params['rows_per_block']:,} rows × {params['n_features']} features "
            f"is {block / 2**30:.1f} GiB; a block must fit in a worker (at most 2 GiB)",
            "use more, smaller blocks",
        )

"""What a KMeans request must satisfy, checked before any cluster is touched."""

from __future__ import annotations

from typing import Any

from scalecloud.infra.errors import ScalecloudError

# A block is generated, held and regenerated whole on one worker: even in regenerate mode
# (data larger than memory) one block must fit in a worker with room to spare.
MAX_BLOCK_BYTES = 2 * 2**30


def check(params: dict[str, Any]) -> None:
    """The sizes must be possible, whatever the storage mode."""
    if params.get("data"):
        from scalecloud.workloads.kmeans.userdata import check as check_data

        check_data(params)  # the generated data's sizes do not apply
        return
    rows = params["n_blocks"] * params["rows_per_block"]
    if params["n_clusters"] > rows:
        raise ScalecloudError(
            f"{params['n_clusters']} clusters need at least as many rows, and the data has "
            f"{rows:,} ({params['n_blocks']} blocks × {params['rows_per_block']} rows)",
            f"lower n_clusters or raise n_blocks, e.g. --set n_clusters={min(rows, 12)}",
        )
    block = params["rows_per_block"] * params["n_features"] * 8
    if block > MAX_BLOCK_BYTES:
        fit = max(1, MAX_BLOCK_BYTES // (params["n_features"] * 8))
        raise ScalecloudError(
            f"one block of {params['rows_per_block']:,} rows × {params['n_features']} features "
            f"is {block / 2**30:.1f} GiB; a block must fit in a worker (at most "
            f"{MAX_BLOCK_BYTES // 2**30} GiB), even in regenerate mode",
            f"use more, smaller blocks, e.g. --set rows_per_block={fit}",
        )

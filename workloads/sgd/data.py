"""Where the SGD workload's rows come from: generated on the workers from the seed
(``shards.make_data``), or the user's CSV or Parquet file (``--set data=PATH``), read on
the client, split into a training part and a held-out part (``test_size``, rows drawn
with the seed) and scattered to the workers once, one shard each."""

from __future__ import annotations

from typing import Any

import scalecloud.workloads.sgd.shards as shards
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import EventFn

TABLE_HINT = "--set feature_columns=a,b,... --set label_column=..."


def check(params: dict[str, Any]) -> None:
    """The file exists and has the columns (its header only), before any cluster."""
    from scalecloud.workloads.tables import check_table

    features = list(params.get("feature_columns") or ())
    check_table(params["data"], [*features, params["label_column"]], TABLE_HINT)


def load(params: dict[str, Any]) -> tuple[Any, Any]:
    """Features (float32) and labels (0/1, float32) of the user's file."""
    import numpy as np
    import pandas as pd
    from scalecloud.workloads.tables import read_table

    path, label = params["data"], params["label_column"]
    features = list(params.get("feature_columns") or ())
    frame = read_table(path, [*features, label], TABLE_HINT)
    features = features or [c for c in frame.columns if c != label]
    frame = frame[[*features, label]].dropna()
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if not features or bad:
        raise ScalecloudError(
            f"feature column {bad[0]!r} of {path} is not numeric" if bad
            else f"{path} has no feature columns",
            "choose numeric columns with --set feature_columns=a,b,...",
        )  # fmt: skip
    classes, y = np.unique(frame[label].to_numpy(), return_inverse=True)
    if len(classes) != 2:
        raise ScalecloudError(
            f"a linear classifier here needs 2 classes; {label!r} of {path} has {len(classes)}",
            "choose a two-class label with --set label_column=...",
        )
    return frame[features].to_numpy(dtype=np.float32), y.astype(np.float32)


def on_workers(client: Any, params: dict[str, Any], seed: int, on_event: EventFn) -> Any:
    """The run's rows on the workers, one shard each (``fast.DistributedData``)."""
    if not params.get("data"):
        return shards.make_data(client, params, seed, on_event)
    import numpy as np
    from scalecloud.workloads.kmeans import fast, recovery

    x, y = load(params)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, round(params["test_size"] * len(x)))
    test, train = order[:n_test], np.sort(order[n_test:])
    if params["strategy"] != "sequential" and params["batch_size"] > len(train):
        raise ScalecloudError(
            f"batch_size {params['batch_size']:,} is larger than the data ({len(train):,} "
            f"training rows in {params['data']})",
            f"use at most the data, e.g. --set batch_size={len(train)}",
        )
    workers = fast._workers(client)
    count = max(1, min(len(workers), len(train)))
    futures = []
    for worker, rows, held in zip(workers, np.array_split(train, count),
                                  np.array_split(test, count), strict=False):  # fmt: skip
        parts = client.scatter([x[rows], y[rows], x[held], y[held]], workers=[worker])
        futures.append(client.submit(shards.Shard.of_arrays, *parts, workers=[worker],
                                     allow_other_workers=True, pure=False))  # fmt: skip
    watch = recovery.Watch(on_event, None)
    return fast.DistributedData(futures=futures, workers=[""] * len(futures), watch=watch,
                                n_features=x.shape[1])  # fmt: skip

"""Where the SGD workload's rows come from: generated on the workers from the seed
(``shards.make_data``), or the user's CSV or Parquet file or folder (``--set data=PATH``),
read by the workers themselves, never through the client.

For the user's data, tasks on the workers plan the files and read each block once,
keeping its usable rows (no missing feature or label) where it was read
(``data/rows.py``); the client sees only each block's count of rows and distinct labels.
It checks two classes and the batch size, draws the held-out rows with the seed over the
usable rows, numbered in file and row order (``default_rng(seed).permutation``: the first
``max(1, round(test_size × rows))`` are held out), and gives each worker a contiguous
range of rows: its training rows are that range less the held-out rows (the sorted
training rows split in equal parts, one per worker), and it keeps the held-out rows that
fall in its range, so that it needs only the blocks of its range (fetched from the
worker that read them, mostly itself). Labels are 0 and 1 in the order of the sorted
classes. The rows and the split are those that reading the whole table on the client
gave before (tests/test_workers_read.py keeps that reading as the reference); only which
worker keeps which held-out row changed, which no metric depends on.
"""

from __future__ import annotations

from typing import Any

import scalecloud.workloads.sgd.shards as shards
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn

TABLE_HINT = "--set feature_columns=a,b,... --set label_column=..."
NUMERIC_HINT = "choose numeric columns with --set feature_columns=a,b,..."


def check(params: dict[str, Any]) -> None:
    """The file exists and has the columns, the features are numeric (from its header and
    first rows, or its schema), before any cluster."""
    from scalecloud.workloads.tables import check_table, column_kinds

    path, label = params["data"], params["label_column"]
    features = list(params.get("feature_columns") or ())
    check_table(path, [*features, label], TABLE_HINT)
    kinds = column_kinds(path)
    features = features or [c for c in kinds if c != label]
    if not features:
        raise ScalecloudError(f"{path} has no feature columns", NUMERIC_HINT)
    bad = [c for c in features if not kinds.get(c, True)]
    if bad:
        raise ScalecloudError(f"feature column {bad[0]!r} of {path} is not numeric", NUMERIC_HINT)


def classes_of(found: Any) -> Any:
    """The sorted distinct labels of the surveyed table, which must be two."""
    import numpy as np

    labels = [np.asarray(c.labels) for c in found.counts]
    classes = np.unique(np.concatenate(labels)) if labels else np.empty(0)
    if len(classes) != 2:
        more = any(c.more_labels for c in found.counts)
        raise ScalecloudError(
            f"a linear classifier here needs 2 classes; {found.label!r} of {found.location} "
            f"has {'more than ' if more else ''}{len(classes)}",
            "choose a two-class label with --set label_column=...",
        )
    return classes


def build_shard(parts: list[Any], starts: list[int], lo: int, hi: int, held: Any,
                classes: Any) -> shards.Shard:  # fmt: skip
    """On a worker: its shard of usable rows ``lo`` to ``hi`` of the loaded blocks
    ``parts``, less the held-out rows ``held`` (in the order drawn), which it keeps apart."""
    import numpy as np
    from scalecloud.workloads.data.rows import rows_of

    x, labels = rows_of(parts, starts, lo, hi)
    y = np.searchsorted(classes, labels).astype(np.float32)
    train = np.ones(len(x), dtype=bool)
    train[held - lo] = False
    return shards.Shard.of_arrays(x[train], y[train], x[held - lo], y[held - lo])


def split(n_rows: int, test_size: float, seed: int, n_workers: int) -> tuple[Any, Any, Any]:
    """The held-out rows (in the order drawn), the sorted training rows, and the bounds
    of each worker's range: worker ``k`` trains on rows ``bounds[k]`` to ``bounds[k + 1]``
    less the held-out ones, which are part ``k`` of the training rows split in equal parts
    (``np.array_split``)."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(n_rows)
    n_test = max(1, round(test_size * n_rows))
    test, train = order[:n_test], np.sort(order[n_test:])
    count = max(1, min(n_workers, len(train)))
    firsts = [int(part[0]) for part in np.array_split(train, count)[1:]]
    return test, train, np.array([0, *firsts, n_rows])


def on_workers(client: Any, params: dict[str, Any], seed: int, on_event: EventFn) -> Any:
    """The run's rows on the workers, one shard each (``fast.DistributedData``)."""
    if not params.get("data"):
        return shards.make_data(client, params, seed, on_event)

    from scalecloud.workloads.data.rows import survey
    from scalecloud.workloads.kmeans import fast, recovery

    path, label = params["data"], params["label_column"]
    workers = fast._workers(client)
    found = survey(client, path, list(params.get("feature_columns") or ()), label, TABLE_HINT,
                   workers)  # fmt: skip
    on_event(Event("step", f"{path}: {found.n_rows:,} usable rows in {len(found.blocks)} "
                           "blocks, read on the workers"))  # fmt: skip
    classes = classes_of(found)
    test, train, bounds = split(found.n_rows, params["test_size"], seed, len(workers))
    if params["strategy"] != "sequential" and params["batch_size"] > len(train):
        raise ScalecloudError(
            f"batch_size {params['batch_size']:,} is larger than the data ({len(train):,} "
            f"training rows in {path})",
            f"use at most the data, e.g. --set batch_size={len(train)}",
        )
    futures = []
    for worker, lo, hi in zip(workers, bounds[:-1], bounds[1:], strict=False):
        held = test[(test >= lo) & (test < hi)]
        parts, starts = found.blocks_of(int(lo), int(hi))
        futures.append(client.submit(build_shard, parts, starts, int(lo), int(hi), held,
                                     classes, workers=[worker], allow_other_workers=True,
                                     pure=False))  # fmt: skip
    watch = recovery.Watch(on_event, None)
    return fast.DistributedData(futures=futures, workers=[""] * len(futures), watch=watch,
                                n_features=len(found.features))  # fmt: skip

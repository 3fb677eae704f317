"""The lecture's last workload: minibatch SGD for a linear classifier on a large
generated array, four ways of parallelising it, and distributed prediction."""

from __future__ import annotations

import time
from typing import Any

from scalecloud.infra.events import Event, EventFn
from scalecloud.workloads.core import Param, Workload, WorkloadResult

STRATEGIES = ("sequential", "sync", "async", "local")

WORKLOAD = Workload(
    name="sgd",
    summary="minibatch SGD for a linear classifier on a large generated array, "
    "sequential, synchronous, asynchronous (parameter server) or local; then prediction",
    target="scalecloud.workloads.sgd:run",
    requires="scalecloud.workloads.sgd.checks:check",
    reproduced=("loss", "accuracy", "n_train"),
    headline="{strategy}: loss {loss:.5g}, held-out accuracy {accuracy:.4f}",
    artifacts="scalecloud.workloads.sgd.plots:write",
    params=(
        Param(
            "n_blocks",
            "int",
            100,
            "training blocks of rows (100 × 100,000 × 100 float32: 10M rows, 4 GB)",
            minimum=1,
        ),
        Param("rows_per_block", "int", 100_000, "rows generated per block", minimum=1),
        Param("n_features", "int", 100, "columns of the array", minimum=1),
        Param("holdout_blocks", "int", 1, "further blocks held out for the accuracy", minimum=1),
        Param(
            "strategy",
            "str",
            "sync",
            "sequential (scikit-learn partial_fit over the "
            "blocks in order), sync (averaged gradients), async (parameter server "
            "actor) or local (models averaged every local_steps)",
            choices=STRATEGIES,
        ),
        Param(
            "loss", "str", "log_loss", "log_loss (logistic) or hinge", choices=("log_loss", "hinge")
        ),
        Param("epochs", "int", 5, "passes over the training rows", minimum=1),
        Param(
            "batch_size",
            "int",
            10_000,
            "rows per step, over all workers (sync, async, local)",
            minimum=1,
        ),
        Param(
            "lr",
            "float",
            None,
            "step size; default: sequential 0.01 (with schedule "
            "constant or invscaling), sync 1.0, local and async 0.5",
        ),
        Param(
            "schedule",
            "str",
            "optimal",
            "sequential's learning-rate schedule (scikit-learn's)",
            choices=("optimal", "constant", "invscaling"),
        ),
        Param("alpha", "float", 1e-4, "L2 regularisation (scikit-learn's alpha)", minimum=0),
        Param("local_steps", "int", 16, "local: steps on each worker between averages", minimum=1),
        Param(
            "max_staleness",
            "int",
            4,
            "async: a gradient older than this many updates is refused",
            minimum=0,
        ),
        Param(
            "target_loss",
            "float",
            None,
            "loss whose time to reach is reported (default: 1.01 × the lowest loss of the run)",
        ),
        Param(
            "data",
            "data",
            None,
            "your own CSV or Parquet file or folder (a local path or an s3://, gs:// or "
            "abfs:// URL, read by the workers, each its own rows) instead of generated rows",
        ),
        Param(
            "feature_columns", "strs", None, "columns of --set data (default: all but the label)"
        ),
        Param("label_column", "str", "label", "label column of --set data (two classes)"),
        Param("test_size", "float", 0.1, "share of --set data's rows held out", minimum=0.0),
        Param(
            "storage",
            "str",
            "auto",
            "memory keeps the training rows on the workers; regenerate rebuilds each block "
            "from its seed when a step needs it (data larger than memory); auto picks",
            choices=("auto", "memory", "regenerate"),
        ),
        Param(
            "predict",
            "bool",
            False,
            "after training, predict every row on the workers (weights broadcast once)",
        ),
    ),
    notes="The data is drawn from a logistic model whose weights come from the seed; block "
    "i from block_seed(seed, i). Differs from the lecture: the parameter server is a Dask "
    "Actor, not TensorFlow's, and the model is linear (logistic or hinge loss), not a deep "
    "network. sequential is exactly scikit-learn's SGDClassifier.partial_fit over the "
    "blocks in order; sync with batch_size = all rows is full-batch gradient descent. async "
    "applies the updates in the order the workers' timing gives: a rerun matches it only to "
    "a few digits.",
)

PREDICT = Workload(
    name="predict",
    summary="distributed prediction with the weights of a recorded sgd run: broadcast once, "
    "applied to every partition on the workers",
    target="scalecloud.workloads.sgd.predict:run",
    requires="scalecloud.workloads.sgd.predict:check",
    reproduced=("rows", "positives"),
    headline="{rows:,} rows at {rows_per_s:.4g} rows/s",
    params=(Param("run", "str", None, "id of a recorded sgd run (its weights, data and seed)"),),
    notes="The lecture: parallelism is trivial at prediction time, you just need to distribute "
    "your weights. The weights go to every worker once (Client.scatter, broadcast); rows/s "
    "is set against the bandwidth bound measured on the same rows (a streaming column sum).",
)
WORKLOADS = (WORKLOAD, PREDICT)


def run(client: Any, params: dict[str, Any], seed: int, on_event: EventFn) -> WorkloadResult:
    import scalecloud.workloads.sgd.data as sgd_data
    import scalecloud.workloads.sgd.predict as predict
    import scalecloud.workloads.sgd.shards as shards
    import scalecloud.workloads.sgd.train as train
    from scalecloud.workloads.kmeans.fast import on_partitions

    rows = params["n_blocks"] * params["rows_per_block"]
    storage = shards.choose_storage(client, params)
    on_event(Event("step", f"reading {params['data']} on the workers" if params["data"] else
                   f"generating {rows:,} × {params['n_features']} rows on the workers "
                   f"({storage})"))  # fmt: skip
    start = time.perf_counter()
    data = sgd_data.on_workers(client, dict(params, storage=storage), seed, on_event)
    try:
        held = sum(s["nbytes"] for s in on_partitions(client, data, shards.summary))
        generate_s = time.perf_counter() - start
        on_event(Event("step", f"training ({params['strategy']}, {params['epochs']} epochs)"))
        metrics = train.train(client, data, params, seed, on_event)
        if params["predict"]:
            on_event(Event("step", "predicting every row on the workers"))
            metrics["prediction"] = predict.on_data(
                client, data, metrics["weights"], metrics["intercept"]
            )
    finally:
        client.cancel(data.futures)
    metrics.update(strategy=params["strategy"], generate_s=round(generate_s, 4),
                   data_bytes=metrics["n_train"] * (data.n_features or 0) * 4, held_bytes=held,
                   storage=storage, n_workers=len(data.futures))  # fmt: skip
    target = metrics["time_to_target_s"]
    summary = [
        ("final loss", f"{metrics['loss']:.6g}"),
        ("held-out accuracy", f"{metrics['accuracy']:.4f} ({metrics['n_holdout']:,} rows)"),
        ("time to target", f"{target:.2f} s (loss ≤ {metrics['target_loss']:.6g})"
         if target is not None else f"not reached (loss ≤ {metrics['target_loss']:.6g})"),
        ("training time", f"{metrics['train_s']:.2f} s ({params['epochs']} epochs, "
         f"{params['strategy']})"),
        ("data", f"{params['data'] + ': ' if params['data'] else ''}{metrics['data_bytes'] / 1e9:.3f} GB ({metrics['n_train']:,} training rows, "
         f"{storage}), generated in {generate_s:.2f} s"),
    ]  # fmt: skip
    if "staleness_max" in metrics:
        summary.append(("staleness", f"mean {metrics['staleness_mean']:.2f}, max "
                        f"{metrics['staleness_max']} (refused {metrics['refused_pushes']})"))  # fmt: skip
    if "prediction" in metrics:
        summary.append(("prediction", predict.describe(metrics["prediction"])))
    table = [dict(h) for h in metrics["history"]]
    return WorkloadResult(metrics=metrics, summary=summary, tables={"epochs": table})

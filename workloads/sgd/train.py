"""The training strategies of the SGD workload, and the epoch loop they share.

Every strategy advances the model one epoch at a time; after each epoch the training
objective (mean loss plus ``alpha / 2 * |w|^2``, scikit-learn's) and the held-out
accuracy are computed on the workers. Training time excludes these evaluations.

* ``sequential``: scikit-learn's ``SGDClassifier.partial_fit`` over the training blocks in
  order; the model travels to the worker holding the next blocks (exactly
  ``partial_fit`` over the same blocks in the same order).
* ``sync``: each step sums the gradients of every worker's shard of the minibatch; the
  client averages them and updates the weights (large-batch SGD; with the full batch,
  full-batch gradient descent).
* ``local``: each worker takes ``local_steps`` minibatch steps on its own rows, then the
  models are averaged (weighted by rows).
* ``async``: see ``paramserver``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import scalecloud.workloads.sgd.shards as shards
from scalecloud.infra.events import Event, EventFn
from scalecloud.workloads.kmeans.fast import DistributedData, on_partitions

# The step size each strategy uses when ``lr`` is not set (sequential: scikit-learn's
# 'optimal' schedule unless ``schedule`` says otherwise).
DEFAULT_LR = {"sequential": 0.01, "sync": 1.0, "local": 0.5, "async": 0.5}


@dataclass
class Model:
    """Linear weights and intercept (or, for ``sequential``, the scikit-learn model)."""

    w: Any
    b: float = 0.0
    sklearn: Any = None
    server: Any = None  # async: the parameter server's actor
    extra: dict[str, Any] = field(default_factory=dict)

    def weights(self) -> tuple[Any, float]:
        import numpy as np

        if self.sklearn is not None and hasattr(self.sklearn, "coef_"):
            return (np.asarray(self.sklearn.coef_[0], np.float64),
                    float(self.sklearn.intercept_[0]))  # fmt: skip
        return self.w, self.b


def learning_rate(params: dict[str, Any]) -> float:
    lr = params.get("lr")
    return float(lr) if lr is not None else DEFAULT_LR[params["strategy"]]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def new_model(params: dict[str, Any], n_features: int, seed: int) -> Model:
    import numpy as np

    model = Model(w=np.zeros(n_features))
    if params["strategy"] == "sequential":
        from sklearn.linear_model import SGDClassifier

        model.sklearn = SGDClassifier(
            loss=params["loss"], alpha=params["alpha"], learning_rate=params["schedule"],
            eta0=learning_rate(params), random_state=seed,
        )  # fmt: skip
    return model


def one_part(data: DistributedData, i: int) -> DistributedData:
    """The ``i``-th partition alone (its own view; the watch is shared)."""
    return DistributedData(futures=[data.futures[i]], workers=[data.workers[i]],
                           watch=data.watch)  # fmt: skip


def epoch_sequential(client: Any, data: DistributedData, model: Model, p: dict[str, Any]) -> None:
    for i in range(len(data.futures)):
        part = one_part(data, i)
        (model.sklearn,) = on_partitions(client, part, shards.partial_fit, model.sklearn)
        data.workers[i] = part.workers[0]


def epoch_sync(client: Any, data: DistributedData, model: Model, p: dict[str, Any]) -> None:
    steps = steps_per_epoch(p["n_train"], p["batch_size"])
    lr, alpha = learning_rate(p), p["alpha"]
    for step in range(steps):
        parts = on_partitions(client, data, shards.sync_grad, model.w, model.b, p["loss"],
                              step, steps)  # fmt: skip
        count = sum(n for _, _, n in parts)
        if not count:  # a batch smaller than the workers: this step has no row anywhere
            continue
        gw = sum(g for g, _, _ in parts) / count
        gb = sum(g for _, g, _ in parts) / count
        model.w = model.w - lr * (gw + alpha * model.w)
        model.b = model.b - lr * gb


def epoch_local(client: Any, data: DistributedData, model: Model, p: dict[str, Any]) -> None:
    steps = steps_per_epoch(p["n_train"], p["batch_size"])
    lr, alpha, every = learning_rate(p), p["alpha"], p["local_steps"]
    sizes = p["shard_rows"]
    for first in range(0, steps, every):
        count = min(every, steps - first)
        parts = on_partitions(client, data, shards.local_steps, model.w, model.b, p["loss"],
                              lr, alpha, first, count, steps)  # fmt: skip
        total = sum(sizes)
        model.w = sum(w * n for (w, _), n in zip(parts, sizes, strict=True)) / total
        model.b = float(sum(b * n for (_, b), n in zip(parts, sizes, strict=True)) / total)
        model.extra["rounds"] = model.extra.get("rounds", 0) + 1


def epoch_async(client: Any, data: DistributedData, model: Model, p: dict[str, Any]) -> None:
    import scalecloud.workloads.sgd.paramserver as paramserver

    paramserver.epoch(client, data, model, p)


EPOCH = {"sequential": epoch_sequential, "sync": epoch_sync, "local": epoch_local,
         "async": epoch_async}  # fmt: skip


def train(
    client: Any, data: DistributedData, params: dict[str, Any], seed: int, on_event: EventFn
) -> dict[str, Any]:
    """``epochs`` epochs of the chosen strategy; the per-epoch history and final model."""
    import numpy as np

    stats = on_partitions(client, data, shards.summary)
    n_train = sum(s["n"] for s in stats)
    p = dict(
        params,
        n_train=n_train,
        shard_rows=[s["n"] for s in stats],
        step_size=learning_rate(params),
        steps=steps_per_epoch(n_train, params["batch_size"]),
    )
    n_holdout = sum(s["nh"] for s in stats)
    model = new_model(params, data.n_features or params["n_features"], seed)
    history: list[dict[str, Any]] = []
    clock = 0.0
    began = time.perf_counter()

    def measure(epoch: int) -> None:
        w, b = model.weights()
        parts = on_partitions(client, data, shards.evaluate, w, b, params["loss"])
        loss = sum(q["loss"] for q in parts) / p["n_train"] + params["alpha"] / 2 * float(w @ w)
        accuracy = sum(q["correct"] for q in parts) / max(1, n_holdout)
        # time_s: training alone; wall_s: since the start, evaluations included.
        history.append({"epoch": epoch, "time_s": round(clock, 4), "loss": loss,
                        "accuracy": accuracy,
                        "wall_s": round(time.perf_counter() - began, 4)})  # fmt: skip
        if epoch:
            on_event(Event("info", f"epoch {epoch}: loss {loss:.6g}, held-out accuracy "
                                   f"{accuracy:.4f} ({clock:.2f} s)"))  # fmt: skip

    measure(0)
    for epoch in range(1, params["epochs"] + 1):
        start = time.perf_counter()
        EPOCH[params["strategy"]](client, data, model, p)
        clock += time.perf_counter() - start
        measure(epoch)
    w, b = model.weights()
    final = history[-1]
    target = params.get("target_loss")
    if target is None:
        target = min(h["loss"] for h in history) * 1.01
    reached = [h for h in history if h["loss"] <= target]
    return {
        "loss": final["loss"],
        "accuracy": final["accuracy"],
        "target_loss": target,
        "time_to_target_s": reached[0]["time_s"] if reached else None,
        "train_s": round(clock, 4),
        "history": history,
        "weights": [float(v) for v in np.asarray(w)],
        "intercept": float(b),
        "n_train": p["n_train"],
        "n_holdout": n_holdout,
        "lr": learning_rate(params) if params["strategy"] != "sequential"
        or params["schedule"] != "optimal" else None,
        **model.extra,
    }  # fmt: skip

"""The ``async`` strategy: a parameter server as a Dask Actor.

The lecture's parameter server (TensorFlow's) is here a :class:`ParameterServer` actor on
one worker. Each worker runs a loop over its own rows: it computes the gradient of its
next minibatch at the weights it last received and pushes it; the server applies it and
answers with its current weights (a push is also the next pull). The staleness of a
gradient is the number of updates the server applied between the pull and the push; a
push staler than ``max_staleness`` is refused and the worker recomputes it at the
current weights, so staleness is bounded. Its mean and maximum, and the refused pushes,
are reported.
"""

from __future__ import annotations

from typing import Any

import scalecloud.workloads.sgd.shards as shards
from scalecloud.workloads.kmeans.fast import DistributedData


class ParameterServer:
    """The weights, their version (updates applied) and staleness statistics."""

    def __init__(self, w: Any, b: float, lr: float, alpha: float, max_staleness: int) -> None:
        import numpy as np

        self.w, self.b = np.array(w, dtype=np.float64), float(b)
        self.lr, self.alpha, self.max_staleness = lr, alpha, max_staleness
        self.version = 0
        self.staleness_sum = 0
        self.staleness_max = 0
        self.refused = 0

    def pull(self) -> tuple[Any, float, int]:
        return self.w, self.b, self.version

    def push(self, gw: Any, gb: float, n: int, seen: int) -> tuple[Any, float, int, bool]:
        """Apply a gradient (summed over ``n`` rows, at weights of version ``seen``) unless
        it is too stale; the current weights and whether it was applied."""
        staleness = self.version - seen
        if staleness > self.max_staleness:
            self.refused += 1
            return self.w, self.b, self.version, False
        self.w = self.w - self.lr * (gw / n + self.alpha * self.w)
        self.b = self.b - self.lr * gb / n
        self.version += 1
        self.staleness_sum += staleness
        self.staleness_max = max(self.staleness_max, staleness)
        return self.w, self.b, self.version, True

    def stats(self) -> dict[str, Any]:
        return {
            "updates": self.version,
            "staleness_mean": self.staleness_sum / max(1, self.version),
            "staleness_max": self.staleness_max,
            "refused_pushes": self.refused,
        }


def worker_epoch(shard: shards.Shard, server: Any, loss: str, steps: int) -> int:
    """One pass over this shard's rows in ``steps`` minibatches, against the server."""
    w, b, version = server.pull().result()
    step = pushes = 0
    while step < steps:
        rows = shards.step_rows(shard, step, steps)
        n = rows.stop - rows.start
        if n == 0:
            step += 1
            continue
        gw, gb = shards.grad_sum(*shard.rows(rows.start, rows.stop), w, b, loss)
        w, b, version, applied = server.push(gw, gb, n, version).result()
        pushes += 1
        step += 1 if applied else 0
    return pushes


def epoch(client: Any, data: DistributedData, model: Any, p: dict[str, Any]) -> None:
    """One epoch: every worker's loop over its rows, concurrently, against the server."""
    if model.server is None:
        model.server = client.submit(
            ParameterServer, model.w, model.b, p["step_size"], p["alpha"],
            p["max_staleness"], actor=True, workers=[data.workers[0]],
        ).result()  # fmt: skip
    steps = p["steps"]
    loops = [
        client.submit(worker_epoch, future, model.server, p["loss"], steps,
                      workers=[home], pure=False)
        for future, home in zip(data.futures, data.workers, strict=True)
    ]  # fmt: skip
    client.gather(loops)
    model.w, model.b, _ = model.server.pull().result()
    model.extra.update(model.server.stats().result())

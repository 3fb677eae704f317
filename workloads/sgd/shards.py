"""The SGD workload's data and what runs on it where it lives.

The array is generated on the workers, block by block, from the seed: block ``i`` is a
function of ``block_seed(seed, i)`` alone (rows drawn from a logistic model whose true
weights come from the seed). Each worker holds one :class:`Shard`: the training rows of
its contiguous range of blocks, concatenated (float32), or, for data larger than memory,
only their seeds (each block is regenerated when a step reaches it), and its share of the
held-out blocks. The functions below run on a shard where it lives (``fast.on_partitions``); only
weights, gradients and sums travel.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from scalecloud.infra.events import EventFn
from scalecloud.workloads.kmeans import block_seed


def true_weights(n_features: int, seed: int) -> tuple[Any, float]:
    """The weights and intercept of the logistic model the data is drawn from."""
    import numpy as np

    rng = np.random.default_rng([seed, 7])
    w = rng.standard_normal(n_features)
    return 3.0 * w / np.linalg.norm(w), 0.25


def make_block(rows: int, n_features: int, seed: int, index: int) -> tuple[Any, Any]:
    """Block ``index``: float32 rows ~ N(0, 1) and labels in {0, 1} drawn from the model."""
    import numpy as np

    w, b = true_weights(n_features, seed)
    rng = np.random.default_rng(block_seed(seed, index))
    x = rng.standard_normal((rows, n_features), dtype=np.float32)
    z = x @ w.astype(np.float32) + b
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    return x, y


class BlockMaker:
    """``make(i)`` generates block ``i``: a picklable function of the block index alone."""

    def __init__(self, rows: int, n_features: int, seed: int) -> None:
        self.rows, self.n_features, self.seed = rows, n_features, seed

    def __call__(self, index: int) -> tuple[Any, Any]:
        return make_block(self.rows, self.n_features, self.seed, index)


class Shard:
    """One worker's rows: training blocks ``train_ids`` (in memory, or regenerated from
    their seeds when used: ``keep=False``) and held-out blocks ``test_ids`` (in memory)."""

    def __init__(
        self, make: Callable[[int], Any], train_ids: list[int], test_ids: list[int],
        keep: bool = True,
    ) -> None:  # fmt: skip
        import numpy as np

        self.make, self.train_ids, self.test_ids = make, train_ids, test_ids
        self.xh, self.yh = _stack([make(i) for i in test_ids], getattr(make, "n_features", 0))
        self._cache: dict[int, tuple[Any, Any]] = {}
        if keep:
            blocks = [make(i) for i in train_ids]
            lengths = [len(x) for x, _ in blocks]
            self.x, self.y = _stack(blocks, self.xh.shape[1])
            del blocks
        else:
            lengths = [make.rows] * len(train_ids)  # type: ignore[attr-defined]
            self.x = self.y = None
        self.bounds = [int(v) for v in np.cumsum([0, *lengths])]
        self.n, self.nh = self.bounds[-1], len(self.xh)

    @classmethod
    def of_arrays(cls, x: Any, y: Any, xh: Any, yh: Any) -> Shard:
        """A shard of rows given (the user's data): one training block, kept."""
        shard = cls.__new__(cls)
        shard.make, shard.train_ids, shard.test_ids = None, [0], []  # type: ignore[assignment]
        shard._cache = {}
        shard.x, shard.y, shard.xh, shard.yh = x, y, xh, yh
        shard.bounds, shard.n, shard.nh = [0, len(x)], len(x), len(xh)
        return shard

    @property
    def nbytes(self) -> int:
        """Bytes held in memory (the training rows only when kept)."""
        held = int(self.xh.nbytes + self.yh.nbytes)
        return held + (0 if self.x is None else int(self.x.nbytes + self.y.nbytes))

    def block(self, j: int) -> tuple[Any, Any]:
        """The rows of this shard's ``j``-th training block."""
        if self.x is not None:
            lo, hi = self.bounds[j], self.bounds[j + 1]
            return self.x[lo:hi], self.y[lo:hi]
        if j not in self._cache:
            if len(self._cache) >= 2:  # steps go forward: the two latest blocks suffice
                del self._cache[min(self._cache)]
            self._cache[j] = self.make(self.train_ids[j])
        return self._cache[j]

    def blocks(self) -> Iterator[tuple[Any, Any]]:
        for j in range(len(self.train_ids)):
            yield self.block(j)

    def rows(self, lo: int, hi: int) -> tuple[Any, Any]:
        """Training rows ``lo:hi`` (from the one or more blocks they lie in)."""
        import numpy as np

        if self.x is not None:
            return self.x[lo:hi], self.y[lo:hi]
        first = int(np.searchsorted(self.bounds, lo, side="right")) - 1
        parts = []
        j = first
        while j < len(self.train_ids) and self.bounds[j] < hi:
            x, y = self.block(j)
            a, b = (
                max(lo, self.bounds[j]) - self.bounds[j],
                min(hi, self.bounds[j + 1]) - self.bounds[j],
            )
            parts.append((x[a:b], y[a:b]))
            j += 1
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _stack(blocks: list[tuple[Any, Any]], d: int) -> tuple[Any, Any]:
    import numpy as np

    if not blocks:
        return np.empty((0, d), np.float32), np.empty(0, np.float32)
    if len(blocks) == 1:
        return blocks[0]
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


def make_data(client: Any, params: dict[str, Any], seed: int, on_event: EventFn) -> Any:
    """One shard per worker, generated there: contiguous training blocks and a share of the
    held-out blocks."""
    import numpy as np
    from scalecloud.workloads.kmeans import fast, recovery

    make = BlockMaker(params["rows_per_block"], params["n_features"], seed)
    keep = choose_storage(client, params) == "memory"
    workers = fast._workers(client)
    count = max(1, min(len(workers), params["n_blocks"]))
    train = np.array_split(np.arange(params["n_blocks"]), count)
    held = np.array_split(params["n_blocks"] + np.arange(params["holdout_blocks"]), count)
    futures = [
        client.submit(Shard, make, ids.tolist(), test.tolist(), keep, workers=[worker],
                      allow_other_workers=True, pure=False)
        for worker, ids, test in zip(workers, train, held, strict=False)
    ]  # fmt: skip
    watch = recovery.Watch(on_event, None)
    return fast.DistributedData(futures=futures, workers=[""] * len(futures), watch=watch,
                                n_features=params["n_features"])  # fmt: skip


def choose_storage(client: Any, params: dict[str, Any]) -> str:
    """``memory`` when the training rows fit in half the workers' memory, else
    ``regenerate`` (unless ``storage`` says which)."""
    if params.get("storage", "auto") != "auto":
        return str(params["storage"])
    nbytes = params["n_blocks"] * params["rows_per_block"] * (params["n_features"] + 1) * 4
    workers = client.scheduler_info()["workers"].values()
    budget = sum(w.get("memory_limit") or 0 for w in workers)
    return "memory" if not budget or nbytes <= 0.5 * budget else "regenerate"


def summary(shard: Shard) -> dict[str, int]:
    return {"n": shard.n, "nh": shard.nh, "nbytes": shard.nbytes}


def margin_grad(z: Any, y: Any, loss: str) -> Any:
    """d loss / d z for labels ``y`` in {0, 1}: logistic or hinge."""
    import numpy as np

    if loss == "hinge":
        s = 2.0 * y - 1.0
        return np.where(s * z < 1.0, -s, 0.0).astype(z.dtype)
    return (1.0 / (1.0 + np.exp(-z)) - y).astype(z.dtype)


def loss_values(z: Any, y: Any, loss: str) -> Any:
    import numpy as np

    s = 2.0 * y.astype(np.float64) - 1.0
    m = s * z.astype(np.float64)
    if loss == "hinge":
        return np.maximum(0.0, 1.0 - m)
    return np.logaddexp(0.0, -m)


def grad_sum(x: Any, y: Any, w: Any, b: float, loss: str) -> tuple[Any, float]:
    """Sum over the rows of the data-loss gradient, (weights, intercept), float64."""
    import numpy as np

    z = x @ w.astype(np.float32) + np.float32(b)
    dz = margin_grad(z, y, loss)
    return (x.T @ dz).astype(np.float64), float(dz.sum(dtype=np.float64))


def evaluate(shard: Shard, w: Any, b: float, loss: str) -> dict[str, float]:
    """Summed training loss and held-out correct predictions, for the weights given."""
    import numpy as np

    total = 0.0
    for x, y in shard.blocks():
        total += float(loss_values(x @ w.astype(np.float32) + np.float32(b), y, loss).sum())
    zh = shard.xh @ w.astype(np.float32) + np.float32(b)
    correct = int(np.count_nonzero((zh > 0) == (shard.yh > 0.5)))
    return {"loss": total, "n": shard.n, "correct": correct, "nh": shard.nh}


def step_rows(shard: Shard, step: int, steps: int) -> slice:
    """This shard's rows of global step ``step`` of ``steps`` per epoch."""
    lo = shard.n * step // steps
    return slice(lo, shard.n * (step + 1) // steps)


def sync_grad(shard: Shard, w: Any, b: float, loss: str, step: int, steps: int) -> Any:
    """This shard's part of one synchronous minibatch: its gradient sum and row count."""
    rows = step_rows(shard, step, steps)
    gw, gb = grad_sum(*shard.rows(rows.start, rows.stop), w, b, loss)
    return gw, gb, rows.stop - rows.start


def local_steps(
    shard: Shard, w: Any, b: float, loss: str, lr: float, alpha: float,
    first: int, count: int, steps: int,
) -> tuple[Any, float]:  # fmt: skip
    """``count`` minibatch steps on this shard alone, from step ``first`` of ``steps`` per
    epoch; the weights it ends with."""
    import numpy as np

    w = np.array(w, dtype=np.float64)
    for step in range(first, first + count):
        rows = step_rows(shard, step % steps, steps)
        n = rows.stop - rows.start
        if n == 0:
            continue
        gw, gb = grad_sum(*shard.rows(rows.start, rows.stop), w, b, loss)
        w -= lr * (gw / n + alpha * w)
        b -= lr * gb / n
    return w, b


def partial_fit(shard: Shard, model: Any) -> Any:
    """scikit-learn's ``partial_fit`` over this shard's training blocks in order."""
    import numpy as np

    for x, y in shard.blocks():
        model.partial_fit(x, y, classes=np.array([0.0, 1.0]))
    return model


def predict(shard: Shard, w: Any, b: float) -> dict[str, float]:
    """Labels for every row of the shard (training and held-out): the count of positives,
    the seconds it took, and the bandwidth bound: the seconds one streaming read of the
    rows takes (a column sum: every byte read once, nothing written, as prediction)."""
    import numpy as np

    w32, b32 = np.asarray(w, dtype=np.float32), np.float32(b)
    start = time.perf_counter()
    positives = 0
    for x in itertools.chain((x for x, _ in shard.blocks()), [shard.xh]):
        for lo in range(0, len(x), 1 << 16):
            positives += int(np.count_nonzero(x[lo : lo + (1 << 16)] @ w32 + b32 > 0))
    predict_s = time.perf_counter() - start
    start = time.perf_counter()
    for x in itertools.chain((x for x, _ in shard.blocks()), [shard.xh]):
        for lo in range(0, len(x), 1 << 16):
            x[lo : lo + (1 << 16)].sum(axis=0)
    read_s = time.perf_counter() - start
    rows = shard.n + shard.nh
    return {"rows": rows, "positives": positives, "predict_s": predict_s, "read_s": read_s,
            "bytes": int(rows * shard.xh.shape[1] * 4)}  # fmt: skip

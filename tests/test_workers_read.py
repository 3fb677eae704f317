"""gridsearch and sgd read the user's table on the workers, never on the client: the
client process opens no data file and parses no rows while the data is loaded, and the
results equal those of the former client-side reading (kept here as the reference)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.registry import get_workload

CLIENT_PID = os.getpid()
OPENED: list[str] = []  # data files the client process opened while watched
WATCHED: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not WATCHED or os.getpid() != CLIENT_PID:
        return
    path = args[0]
    if isinstance(path, str | bytes | os.PathLike) and any(
        os.fsdecode(path).startswith(w) for w in WATCHED
    ):
        OPENED.append(os.fsdecode(path))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one acts only while WATCHED


@pytest.fixture
def no_reading_here(monkeypatch: pytest.MonkeyPatch):
    """While active, the client process may not open a file under the given folder nor
    parse a table; the workers (other processes) are not affected."""
    import pyarrow.parquet as pq

    def refuse(name: str):
        def refused(*args: Any, **kwargs: Any) -> None:
            raise AssertionError(f"{name} called in the client process")

        return refused

    def watch(folder: Path) -> None:
        WATCHED.append(str(folder))
        for module, name in ((pd, "read_csv"), (pd, "read_parquet"), (pq, "ParquetFile"),
                             (pq, "read_table"), (pq, "read_metadata")):  # fmt: skip
            monkeypatch.setattr(module, name, refuse(name))

    yield watch
    WATCHED.clear()
    assert not OPENED, f"the client opened {sorted(set(OPENED))}"


# -- sgd -------------------------------------------------------------------------------


def sgd_table(rows: int, seed: int) -> pd.DataFrame:
    """Features (an int column among floats) with missing values here and there, a text
    label with missing values."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 3))
    frame = pd.DataFrame({"a": x[:, 0], "n": rng.integers(-3, 4, rows), "b": x[:, 1],
                          "label": np.where(x @ [1.0, 0.5, -1.0] > 0, "yes", "no")})  # fmt: skip
    frame.loc[rng.random(rows) < 0.03, "a"] = np.nan
    frame.loc[rng.random(rows) < 0.03, "label"] = None
    return frame


def reference_shards(path: str, label: str, test_size: float, seed: int, n_workers: int):
    """The former client-side reading: the whole table read here, split, one shard each."""
    from scalecloud.workloads.tables import read_table

    frame = read_table(path, [label], "")
    features = [c for c in frame.columns if c != label]
    frame = frame[[*features, label]].dropna()
    _, y = np.unique(frame[label].to_numpy(), return_inverse=True)
    x, y = frame[features].to_numpy(dtype=np.float32), y.astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, round(test_size * len(x)))
    test, train = order[:n_test], np.sort(order[n_test:])
    count = max(1, min(n_workers, len(train)))
    return x, y, test, [(x[rows], y[rows]) for rows in np.array_split(train, count)]


@pytest.fixture(scope="module")
def sgd_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sgd")
    frame = sgd_table(1500, 5)
    frame.to_csv(root / "rows.csv", index=False)
    folder = root / "folder"
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[part].to_parquet(folder / f"part-{k}.parquet", row_group_size=200)
    return {"csv": root / "rows.csv", "parquet": folder}


def sgd_params(path: Path, *settings: str) -> dict[str, Any]:
    workload = get_workload("sgd")
    params = workload.resolve([f"data={path}", "label_column=label", "test_size=0.15",
                               "batch_size=100", "epochs=2", *settings])  # fmt: skip
    workload.check_ready(params)
    return dict(params, storage="memory")


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_sgd_shards_are_the_client_read_rows(client, sgd_files, kind, monkeypatch,
                                             no_reading_here):  # fmt: skip
    import scalecloud.workloads.data.rows as table_rows
    import scalecloud.workloads.sgd.data as sgd_data

    monkeypatch.setattr(table_rows, "BLOCK_BYTES", 9_000)  # several CSV blocks
    path = sgd_files[kind]
    params = sgd_params(path)
    x, y, test, expected = reference_shards(str(path), "label", 0.15, 3, 2)
    events: list[Any] = []
    no_reading_here(path.parent)
    data = sgd_data.on_workers(client, params, 3, events.append)
    shards = client.gather(data.futures)
    client.cancel(data.futures)
    assert int(re.search(r"in (\d+) blocks", events[0].message)[1]) >= 5
    assert len(shards) == len(expected) == 2
    for shard, (xs, ys) in zip(shards, expected, strict=True):
        assert shard.x.dtype == np.float32 and np.array_equal(shard.x, xs)
        assert shard.y.dtype == np.float32 and np.array_equal(shard.y, ys)
    # The held-out rows: the same rows, each kept by the worker whose range holds it.
    held = np.concatenate([np.column_stack([s.xh, s.yh]) for s in shards])
    reference = np.column_stack([x[test], y[test]])
    assert len(held) == len(test) > 100
    assert np.array_equal(held[np.lexsort(held.T)], reference[np.lexsort(reference.T)])
    assert 0 < len(shards[0].xh) < len(test)


def test_sgd_training_equals_training_on_the_client_read_rows(client, sgd_files):
    import scalecloud.workloads.sgd.data as sgd_data
    import scalecloud.workloads.sgd.shards as shards
    import scalecloud.workloads.sgd.train as train
    from scalecloud.workloads.kmeans import fast

    params = sgd_params(sgd_files["csv"], "strategy=sync")
    ours = sgd_data.on_workers(client, params, 4, lambda event: None)
    x, y, test, parts = reference_shards(str(sgd_files["csv"]), "label", 0.15, 4, 2)
    futures = []
    for (xs, ys), held in zip(parts, np.array_split(test, len(parts)), strict=True):
        scattered = client.scatter([xs, ys, x[held], y[held]], hash=False)
        futures.append(client.submit(shards.Shard.of_arrays, *scattered, pure=False))
    theirs = fast.DistributedData(futures=futures, workers=[""] * 2, n_features=x.shape[1])
    try:
        mine = train.train(client, ours, params, 4, lambda event: None)
        reference = train.train(client, theirs, params, 4, lambda event: None)
    finally:
        client.cancel([*ours.futures, *futures])
    for key in ("loss", "accuracy", "weights", "intercept", "n_train", "n_holdout"):
        assert mine[key] == reference[key], key
    assert 0.7 < mine["accuracy"] < 1.0


def test_sgd_refuses_what_only_the_rows_tell_and_the_rest_before_any_cluster(client, tmp_path):
    import scalecloud.workloads.sgd.data as sgd_data

    def table(name: str, lines: list[str]) -> Path:
        path = tmp_path / name
        path.write_text("a,label\n" + "\n".join(lines) + "\n")
        return path

    def load(path: Path, *settings: str) -> Any:
        return sgd_data.on_workers(client, sgd_params(path, *settings), 0, lambda event: None)

    three = table("three.csv", [f"{i}.5,{i % 3}" for i in range(1200)])
    with pytest.raises(ScalecloudError, match=r"needs 2 classes; 'label' of .* has 3 \(hint"):
        load(three)
    # Text in a feature after the first rows, which the check before the cluster reads.
    late = table("late.csv", [*(f"{i}.0,{i % 2}" for i in range(1100)), "x,1"])
    with pytest.raises(ScalecloudError, match=r"feature column 'a' of .*late.csv is not numeric"):
        load(late)
    two = table("two.csv", [f"{i}.0,{i % 2}" for i in range(1000)])  # 150 held out
    with pytest.raises(ScalecloudError, match=r"batch_size 2,000 is larger than the data \(850 "):
        load(two, "batch_size=2000")
    early = table("early.csv", ["x,1", "1.0,0"])
    with pytest.raises(ScalecloudError, match=r"feature column 'a' of .*early.csv is not numeric"):
        sgd_params(early)  # the check, before any cluster
    alone = tmp_path / "alone.csv"
    alone.write_text("label\n1\n0\n")
    with pytest.raises(ScalecloudError, match=r"alone.csv has no feature columns"):
        sgd_params(alone)


# -- gridsearch --------------------------------------------------------------------------


def gridsearch(client: Any, *settings: str, seed: int = 0) -> dict[str, Any]:
    workload = get_workload("gridsearch")
    params = workload.resolve(["cv=3", "alphas=1e-2,1e-4", *settings])
    workload.check_ready(params)
    return workload.load()(client, params, seed, lambda event: None).metrics


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV of reviews with missing texts and labels, and texts holding commas, quotes
    and line breaks."""
    from scalecloud.workloads.search.gridsearch import synthetic_corpus

    docs, labels = synthetic_corpus(240, 2, 3)
    frame = pd.DataFrame({"id": range(240), "body": docs, "stars": labels}).astype(object)
    frame.loc[::17, "body"] = None
    frame.loc[5::23, "stars"] = None
    frame.loc[2::9, "body"] = [f'{d}, "quoted"\nnext line' for d in frame.loc[2::9, "body"]]
    path = tmp_path_factory.mktemp("reviews") / "reviews.csv"
    frame.to_csv(path, index=False)
    return path


def test_gridsearch_on_a_csv_equals_scikit_learn_on_the_rows_read_here(client, reviews,
                                                                        no_reading_here):  # fmt: skip
    from scalecloud.workloads.search.gridsearch import WORKLOAD, build_search
    from sklearn.model_selection import GridSearchCV

    settings = [f"data={reviews}", "text_column=body", "label_column=stars"]
    params = WORKLOAD.resolve(["cv=3", "alphas=1e-2,1e-4", *settings])
    frame = pd.read_csv(reviews)[["body", "stars"]].dropna()
    pipeline, grid = build_search(params, 2)
    reference = GridSearchCV(pipeline, grid, cv=3).fit(frame["body"].astype(str).tolist(),
                                                       frame["stars"].tolist())  # fmt: skip
    get_workload("gridsearch").check_ready(params)  # reads the header, before the run
    no_reading_here(reviews.parent)
    metrics = get_workload("gridsearch").load()(client, params, 2, lambda event: None).metrics
    assert metrics["n_docs"] == len(frame) < 240
    assert metrics["best_score"] == reference.best_score_
    best = dict(reference.best_params_, vect__ngram_range=list(reference.best_params_[
        "vect__ngram_range"]))  # fmt: skip
    assert metrics["best_params"] == best
    ours = sorted(r["mean_score"] for r in metrics["cv_results"])
    assert ours == sorted(reference.cv_results_["mean_test_score"])
    assert len(set(ours)) > 2  # the candidates differ, so the comparison can fail


def test_gridsearch_generates_its_corpus_on_a_worker(client, no_reading_here, monkeypatch,
                                                     tmp_path):  # fmt: skip
    import scalecloud.workloads.search.gridsearch as gridsearch_module

    def refused(*args: Any) -> None:
        raise AssertionError("the corpus was generated in the client process")

    no_reading_here(tmp_path)
    monkeypatch.setattr(gridsearch_module, "synthetic_corpus", refused)  # not the workers'
    assert gridsearch(client, "n_docs=90")["n_docs"] == 90


def test_a_reading_error_on_a_worker_is_one_line(client, cli, tmp_path):
    bad = tmp_path / "one.csv"
    bad.write_text("body,stars\ngood film,1\n,0\nbad film,\n")
    with pytest.raises(
        ScalecloudError, match=r"one.csv has fewer than 2 usable rows \(hint"
    ) as info:
        gridsearch(client, f"data={bad}", "text_column=body", "label_column=stars")
    assert info.value.hint == "give it more data"
    result = cli("run", "gridsearch", "--set", f"data={bad}", "--set", "text_column=body",
                 "--set", "label_column=stars", "--workers", "1")  # fmt: skip
    # The run's progress lines, then the error in one line, without the worker's traceback.
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and errors[0].endswith(
        "one.csv has fewer than 2 usable rows Hint: give it more data"
    )
    assert "Traceback" not in result.err and "Compute Failed" not in result.err

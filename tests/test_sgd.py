"""The sgd workload on real workers: sequential is scikit-learn's partial_fit, sync with the
full batch is full-batch gradient descent, async and local reach sync's accuracy, bad
parameters are refused before any cluster, prediction covers every row."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.registry import get_workload
from scalecloud.workloads.sgd.shards import make_block
from test_cli_errors import assert_one_line_error

SMALL = ["n_blocks=4", "rows_per_block=2000", "n_features=10", "holdout_blocks=2"]


def fit(client: Any, *settings: str, seed: int = 0) -> dict[str, Any]:
    workload = get_workload("sgd")
    params = workload.resolve([*SMALL, *settings])
    workload.check_ready(params)
    return workload.load()(client, params, seed, lambda event: None).metrics


def blocks(seed: int = 0) -> list[tuple[Any, Any]]:
    return [make_block(2000, 10, seed, i) for i in range(4)]


def test_sequential_is_sklearn_partial_fit_over_the_blocks_in_order(client):
    from sklearn.linear_model import SGDClassifier

    metrics = fit(client, "strategy=sequential", "epochs=2", seed=3)
    model = SGDClassifier(loss="log_loss", alpha=1e-4, learning_rate="optimal", eta0=0.01,
                          random_state=3)  # fmt: skip
    for _ in range(2):
        for x, y in blocks(seed=3):
            model.partial_fit(x, y, classes=np.array([0.0, 1.0]))
    np.testing.assert_allclose(metrics["weights"], model.coef_[0], rtol=0, atol=1e-6)
    assert metrics["intercept"] == pytest.approx(model.intercept_[0], abs=1e-6)
    assert len(metrics["history"]) == 3  # epoch 0 (the initial weights) and two epochs


def test_sync_with_the_full_batch_is_full_batch_gradient_descent(client):
    metrics = fit(client, "strategy=sync", "batch_size=8000", "epochs=4", "lr=0.8")
    x = np.concatenate([b[0] for b in blocks()]).astype(np.float64)
    y = np.concatenate([b[1] for b in blocks()]).astype(np.float64)
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(4):  # one step per epoch: the whole batch
        dz = 1.0 / (1.0 + np.exp(-(x @ w + b))) - y
        w, b = w - 0.8 * (x.T @ dz / len(x) + 1e-4 * w), b - 0.8 * dz.mean()
    np.testing.assert_allclose(metrics["weights"], w, rtol=1e-5, atol=1e-6)
    assert metrics["intercept"] == pytest.approx(b, abs=1e-6)
    objective = np.logaddexp(0, -(2 * y - 1) * (x @ w + b)).mean() + 0.5e-4 * w @ w
    assert metrics["loss"] == pytest.approx(objective, rel=1e-5)


def test_async_and_local_reach_the_accuracy_of_sync(client):
    sync = fit(client, "strategy=sync", "batch_size=200", "epochs=3")
    local = fit(client, "strategy=local", "batch_size=200", "epochs=3", "local_steps=8")
    asynchronous = fit(client, "strategy=async", "batch_size=200", "epochs=3",
                       "max_staleness=2")  # fmt: skip
    for other in (local, asynchronous):
        assert abs(other["accuracy"] - sync["accuracy"]) <= 0.01, (other, sync)
        assert other["loss"] < 0.9 * np.log(2)  # well below the initial weights' loss
    assert 0 <= asynchronous["staleness_max"] <= 2
    assert asynchronous["updates"] >= 3 * 40  # every minibatch of every epoch applied
    assert local["rounds"] == 3 * 5  # 40 steps per epoch, averaged every 8


def test_metrics_history_artifacts_and_prediction(client, tmp_path: Path):
    metrics = fit(client, "strategy=sync", "batch_size=500", "epochs=2", "predict=true",
                  "loss=hinge")  # fmt: skip
    history = metrics["history"]
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert all(a["time_s"] <= b["time_s"] for a, b in itertools.pairwise(history))
    assert metrics["target_loss"] == pytest.approx(min(h["loss"] for h in history) * 1.01)
    assert metrics["time_to_target_s"] is not None
    prediction = metrics["prediction"]
    assert prediction["rows"] == 6 * 2000  # training and held-out rows
    assert 0 < prediction["positives"] < prediction["rows"]
    assert prediction["rows_per_s"] > 0 and prediction["bound_rows_per_s"] > 0
    workload = get_workload("sgd")
    names = workload.write_artifacts(metrics, tmp_path)
    assert names == ["epochs.csv", "sgd.png"]
    assert (tmp_path / "epochs.csv").read_text().startswith("epoch,time_s,loss,accuracy")
    assert (tmp_path / "sgd.png").stat().st_size > 1000
    assert workload.headline_of(metrics).startswith("sync: loss ")


def test_a_rerun_reproduces_the_recorded_metrics(client):
    first = fit(client, "strategy=local", "batch_size=400", "epochs=1")
    again = fit(client, "strategy=local", "batch_size=400", "epochs=1")
    for key in get_workload("sgd").reproduced:
        assert first[key] == again[key]


@pytest.mark.parametrize(
    "settings, message",
    [
        (["strategy=hogwild"], "invalid value 'hogwild' for strategy"),
        (["lr=0"], "the learning rate must be > 0"),
        (["lr=-1"], "the learning rate must be > 0"),
        (["batch_size=8001"], "batch_size 8,001 is larger than the data (8,000 rows"),
    ],
)
def test_bad_parameters_are_refused_before_any_cluster(settings, message):
    workload = get_workload("sgd")
    with pytest.raises(ScalecloudError, match=message.replace("(", r"\(")):
        workload.check_ready(workload.resolve([*SMALL, *settings]))


def test_the_cli_refuses_bad_parameters_in_one_line(cli):
    for setting, message in [("strategy=hogwild", "invalid value 'hogwild'"),
                             ("lr=0", "the learning rate must be > 0"),
                             ("batch_size=20000000", "is larger than the data")]:  # fmt: skip
        started = time.monotonic()
        result = cli("run", "sgd", "--set", setting, "--provider", "local")
        assert_one_line_error(result, message)
        assert time.monotonic() - started < 3
        assert not cli.home.exists()


def test_a_cli_run_is_recorded_and_predict_uses_its_weights(cli):
    small = [arg for s in SMALL for arg in ("--set", s)]
    trained = cli("run", "sgd", *small, "--set", "batch_size=1000", "--set", "epochs=2",
                  "--workers", "2", "--seed", "5", "--json", check=True).json()  # fmt: skip
    shown = cli("runs", "show", trained["run_id"], "--json", check=True).json()
    assert shown["workload"] == "sgd" and shown["status"] == "succeeded"
    assert {"sgd.png", "epochs.csv"} <= set(shown["artifacts"])
    assert len(shown["metrics"]["weights"]) == 10
    assert [row["epoch"] for row in shown["tables"]["epochs"]] == [0, 1, 2]
    predicted = cli("run", "predict", "--set", f"run={trained['run_id'][:6]}", "--workers", "2",
                    "--json", check=True).json()  # fmt: skip
    record = cli("runs", "show", predicted["run_id"], "--json", check=True).json()
    assert record["params"]["run"] == trained["run_id"]  # the prefix resolved before the run
    assert record["metrics"]["rows"] == 6 * 2000
    assert record["metrics"]["trained_run_id"] == trained["run_id"]
    listing = {w["name"]: w for w in cli("workloads", "--json", check=True).json()}
    assert "Dask Actor" in listing["sgd"]["notes"] and "deep" in listing["sgd"]["notes"]
    assert "predict" in listing


@pytest.mark.parametrize("strategy", ["sequential", "sync", "local"])
def test_regenerated_blocks_give_the_same_model_as_blocks_in_memory(client, strategy):
    # batch 300 of 8,000 rows: steps straddle the blocks' edges
    settings = [f"strategy={strategy}", "batch_size=300", "epochs=2", "predict=true"]
    memory = fit(client, *settings, "storage=memory")
    regenerated = fit(client, *settings, "storage=regenerate")
    assert memory["storage"] == "memory" and regenerated["storage"] == "regenerate"
    assert regenerated["weights"] == memory["weights"]
    assert regenerated["loss"] == memory["loss"]
    assert regenerated["prediction"]["positives"] == memory["prediction"]["positives"]
    assert regenerated["held_bytes"] < memory["held_bytes"]


def test_the_users_file_is_read_on_the_workers_and_split(client, tmp_path: Path):
    x, y = make_block(3000, 6, 1, 0)
    path = tmp_path / "rows.csv"
    lines = [
        "a,b,c,d,e,f,target",
        *(",".join(map(str, [*row, int(t)])) for row, t in zip(x, y, strict=True)),
    ]
    path.write_text("\n".join(lines) + "\n")
    own = [f"data={path}", "label_column=target", "test_size=0.2"]
    metrics = fit(client, *own, "strategy=sync", "batch_size=600", "epochs=3")
    assert metrics["n_train"] == 2400 and metrics["n_holdout"] == 600
    assert len(metrics["weights"]) == 6 and metrics["accuracy"] > 0.7
    workload = get_workload("sgd")
    with pytest.raises(ScalecloudError, match="column 'label' is not in"):
        workload.check_ready(workload.resolve([f"data={path}"]))
    with pytest.raises(ScalecloudError, match="batch_size 5,000 is larger than the data"):
        fit(client, *own, "batch_size=5000")

"""`submit nnsearch` end to end on a real local cluster: equal to scikit-learn, repeatable."""

from __future__ import annotations

from importlib.util import find_spec

import numpy as np
import pytest
from scalecloud.workloads.search import nnsearch
from test_cli_errors import assert_one_line_error, supervisors_of

KERAS_MISSING = [name for name in ("scikeras", "keras", "jax") if find_spec(name) is None]
needs_keras = pytest.mark.skipif(
    bool(KERAS_MISSING),
    reason=f"the keras extra is not installed ({', '.join(KERAS_MISSING)} missing): "
    'pip install "scalecloud[keras]"',
)
TIMINGS = {"fit_s", "fit_time_s"}


@pytest.fixture(scope="module")
def cluster(module_cli):
    module_cli("up", "--workers", "2", "--idle-timeout", "0", check=True)


def submit(cli, *settings: str, seed: int) -> dict:
    args = [a for s in settings for a in ("--set", s)]
    return cli("submit", "nnsearch", *args, "--seed", str(seed), "--json", check=True).json()


def assert_error_line(result, *fragments: str) -> None:
    """The data is read on the client once connected: the error is the last line."""
    assert result.code == 1 and "Traceback" not in result.err
    last = result.err.strip().splitlines()[-1]
    assert last.startswith("Error: ") and " Hint: " in last
    for fragment in fragments:
        assert fragment in last


def without_timings(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if k not in TIMINGS}
    out["cv_results"] = [
        {k: v for k, v in row.items() if k not in TIMINGS} for row in metrics["cv_results"]
    ]
    return out


def test_best_width_and_scores_equal_scikit_learn(module_cli, cluster):
    from sklearn.model_selection import GridSearchCV
    from threadpoolctl import threadpool_limits

    settings = ["epochs=15", "cv=3"]
    result = submit(module_cli, *settings, seed=3)
    metrics = result["metrics"]

    params = nnsearch.WORKLOAD.resolve(settings)
    x, y, _ = nnsearch.load_data(params)
    x_train, x_test, y_train, y_test = nnsearch.split(x, y, params, 3)
    estimator, grid = nnsearch.build_search(params, 3)
    # Dask's workers run BLAS on one thread; so does the reference, for equal rounding.
    with threadpool_limits(1), pytest.warns(Warning):  # ConvergenceWarning: 15 epochs, exactly
        reference = GridSearchCV(estimator, grid, cv=3).fit(x_train, y_train)
    res = reference.cv_results_

    assert metrics["best_width"] == nnsearch.width_of(reference.best_params_)
    assert metrics["best_score"] == reference.best_score_
    assert metrics["best_score_std"] == res["std_test_score"][reference.best_index_]
    assert metrics["test_accuracy"] == reference.score(x_test, y_test)
    ours = {row["width"]: (row["mean_score"], row["std_score"], row["rank"]) for row in metrics["cv_results"]}  # fmt: skip
    theirs = {
        nnsearch.width_of(p): (res["mean_test_score"][i], res["std_test_score"][i], res["rank_test_score"][i])
        for i, p in enumerate(res["params"])
    }  # fmt: skip
    assert ours == theirs
    assert set(ours) == {100, 200, 300}
    assert len({score for score, _, _ in ours.values()}) > 1  # so the comparison can fail
    assert (metrics["n_train"], metrics["n_test"], metrics["n_features"]) == (426, 143, 30)
    assert metrics["classes"] == ["malignant", "benign"]
    assert [row["rank"] for row in result["tables"]["candidates"]] == sorted(
        row["rank"] for row in metrics["cv_results"]
    )


def test_same_seed_same_results_and_another_seed_differs(module_cli, cluster):
    settings = ["epochs=5", "cv=2", "widths=8,16"]
    first = submit(module_cli, *settings, seed=11)["metrics"]
    second = submit(module_cli, *settings, seed=11)["metrics"]
    other = submit(module_cli, *settings, seed=12)["metrics"]
    assert without_timings(first) == without_timings(second)
    assert without_timings(first)["cv_results"] != without_timings(other)["cv_results"]


def test_the_summary_shows_width_scores_accuracy_and_time(module_cli, cluster):
    out = module_cli(
        "submit", "nnsearch", "--set", "epochs=3", "--set", "cv=2", "--set", "widths=4,8",
        "--seed", "1", check=True,
    ).out  # fmt: skip
    for label in ("best width", "cv score", "±", "held-out accuracy", "fit time", "candidates"):
        assert label in out


def test_nnsearch_on_a_csv_file_with_chosen_columns(module_cli, cluster, tmp_path):
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.iloc[:, :5].assign(
        diagnosis=np.where(bunch.target == 1, "benign", "malignant"), note="x"
    )
    csv = tmp_path / "cells.csv"
    frame.to_csv(csv, index=False)
    settings = [f"data={csv}", "label_column=diagnosis", "epochs=3", "cv=2", "widths=4,8"]
    metrics = submit(module_cli, *settings, "feature_columns=mean radius,mean texture", seed=2)[
        "metrics"
    ]
    assert metrics["n_features"] == 2 and metrics["classes"] == ["benign", "malignant"]
    assert metrics["n_train"] + metrics["n_test"] == len(frame)

    not_numeric = module_cli("submit", "nnsearch", *[a for s in settings for a in ("--set", s)])
    assert_error_line(not_numeric, "feature column 'note'", "feature_columns")
    frame.assign(diagnosis=np.arange(len(frame)) % 3).to_parquet(tmp_path / "three.parquet")
    three = module_cli(
        "submit", "nnsearch", "--set", f"data={tmp_path / 'three.parquet'}",
        "--set", "label_column=diagnosis", "--set", "feature_columns=mean radius",
    )  # fmt: skip
    assert_error_line(three, "needs 2 classes", "has 3")


def test_without_the_keras_extra_nothing_runs(cli, tmp_path):
    # Hide the extra even where it is installed: a scikeras that cannot be imported.
    shadow = tmp_path / "shadow" / "scikeras"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'scikeras'\", name='scikeras')\n"
    )
    cli.env["PYTHONPATH"] = str(shadow.parent)
    cli.env["KERAS_BACKEND"] = "jax"  # even with a backend named, the extra is missing
    hint = 'pip install "scalecloud[keras]"'
    # Checked before connecting: the error is the extra, not the missing cluster.
    submitted = cli("submit", "nnsearch", "--set", "backend=keras")
    assert_one_line_error(submitted, "backend=keras needs the keras extra", hint)
    assert submitted.code == 1
    ran = cli("run", "nnsearch", "--set", "backend=keras", "--name", "never")
    assert_one_line_error(ran, "scikeras is missing", hint)
    assert ran.code == 1 and ran.out == ""
    assert cli.records() == [] and supervisors_of(cli.home) == []


@pytest.mark.keras
@needs_keras
def test_the_keras_backend_runs_the_lectures_model(module_cli, cluster):
    metrics = submit(module_cli, "backend=keras", "epochs=5", "cv=2", "widths=16,32", seed=4)[
        "metrics"
    ]
    assert metrics["backend"] == "keras"
    assert metrics["best_width"] in (16, 32)
    assert 0.8 < metrics["best_score"] <= 1 and 0.8 < metrics["test_accuracy"] <= 1
    assert [row["width"] for row in metrics["cv_results"]] != []

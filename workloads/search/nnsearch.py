"""The seed's neural-network search: a one-hidden-layer network's width, chosen by dask-ml.

The lecture's "Hyperopt" example: Dense(width, relu) → Dense(1, sigmoid), binary
cross-entropy, RMSprop, 30 epochs, on scikit-learn's breast-cancer data; dask-ml's
GridSearchCV over the width with the training data scattered to the workers once, then
the best network scored on a held-out split. The default backend is scikit-learn's
MLPClassifier (nothing heavy to install); ``backend=keras`` runs the lecture's Keras model
through scikeras (the ``keras`` extra).
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.workloads.core import Param, Workload, WorkloadResult

KERAS_EXTRA = 'pip install "scalecloud[keras]"'
# Keras 3 backends that install from PyPI on a CPU machine, in order of preference.
KERAS_BACKENDS = ("jax", "tensorflow", "torch")

WORKLOAD = Workload(
    name="nnsearch",
    summary="dask-ml grid search over the hidden width of the lecture's one-hidden-layer "
    "network (breast-cancer data)",
    target="scalecloud.workloads.search.nnsearch:run",
    requires="scalecloud.workloads.search.nnsearch:check",
    reproduced=("best_width", "best_score", "test_accuracy"),
    headline="best score {best_score:.4f}",
    artifacts="scalecloud.workloads.search.plots:write",
    params=(
        Param("widths", "ints", (100, 200, 300), "hidden-layer widths searched", minimum=1),
        Param("epochs", "int", 30, "training epochs of every network", minimum=1),
        Param("batch_size", "int", 32, "minibatch size (Keras' default)", minimum=1),
        Param("cv", "int", 5, "cross-validation folds", minimum=2),
        Param("test_size", "float", 0.25, "held-out share of the rows (0 to 1)", minimum=0),
        Param("scale", "bool", True, "standardise the features first (the lecture does not)"),
        Param(
            "backend",
            "str",
            "sklearn",
            "sklearn (MLPClassifier) or keras (scikeras; the keras extra)",
            choices=("sklearn", "keras"),
        ),
        Param(
            "data",
            "data",
            None,
            "your own CSV or Parquet file or folder (a path or an s3://, gs:// or abfs:// "
            "URL) instead of breast cancer",
        ),
        Param(
            "feature_columns", "strs", None, "columns of --set data (default: all but the label)"
        ),
        Param("label_column", "str", "label", "label column of --set data (two classes)"),
    ),
    notes="sklearn backend: MLPClassifier(relu, logistic output, log-loss = binary "
    "cross-entropy) trained for exactly `epochs` epochs with minibatches of `batch_size`; it "
    "has no RMSprop, so it uses Adam (RMSprop's scaling plus momentum, same learning rate "
    "0.001), with no L2 penalty (alpha=0) like the Keras model. Features are standardised "
    "(StandardScaler, fitted inside each fold) unless scale=false. Folds: StratifiedKFold(cv); "
    "held-out split stratified, random_state=seed; the network uses random_state=seed, so a "
    "seed repeats a run exactly. keras backend: the lecture's model (RMSprop) via scikeras.",
)


TABLE_HINT = "--set feature_columns=a,b,... --set label_column=..."


def check(params: dict[str, Any]) -> None:
    """Everything the run needs, checked before any cluster is touched."""
    if not 0 < params["test_size"] < 1:
        raise ScalecloudError(
            f"test_size must be between 0 and 1, got {params['test_size']:g}",
            "e.g. --set test_size=0.25",
        )
    if params.get("data"):
        from scalecloud.workloads.tables import check_table

        features = list(params["feature_columns"] or ())
        check_table(params["data"], [*features, params["label_column"]], TABLE_HINT)
    if params["backend"] == "keras":
        keras_backend()


def keras_backend() -> str:
    """The Keras backend to use (``$KERAS_BACKEND`` or the first installed one), after
    checking that scikeras and Keras import with it; the missing extra is a one-line error."""
    from importlib.util import find_spec

    backend = os.environ.get("KERAS_BACKEND") or next(
        (name for name in KERAS_BACKENDS if find_spec(name) is not None), None
    )
    if backend is None:
        raise ScalecloudError(
            "backend=keras needs the keras extra (scikeras, keras and a backend: jax, "
            "tensorflow or torch; no backend is installed)",
            KERAS_EXTRA,
        )
    os.environ["KERAS_BACKEND"] = backend
    try:
        for module in ("scikeras.wrappers", "keras"):  # scikeras first: it names the extra
            importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name or str(exc)
        raise ScalecloudError(
            f"backend=keras needs the keras extra (scikeras, keras and a backend; "
            f"{missing} is missing)",
            KERAS_EXTRA,
        ) from None
    return backend


def simple_nn(hidden_neurons: int, meta: dict[str, Any]) -> Any:
    """The lecture's network, verbatim apart from Keras 3's Input layer."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(meta["n_features_in_"],)),
            keras.layers.Dense(hidden_neurons, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    return model


def load_data(params: dict[str, Any]) -> tuple[Any, Any, list[str]]:
    """Features (float), labels (0/1) and the two class names."""
    import numpy as np

    if not params.get("data"):
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer()
        return bunch.data, bunch.target, [str(name) for name in bunch.target_names]
    import pandas as pd
    from scalecloud.workloads.tables import read_table

    path, label = params["data"], params["label_column"]
    features = list(params["feature_columns"] or ())
    frame = read_table(path, [*features, label], TABLE_HINT)
    features = features or [c for c in frame.columns if c != label]
    if not features:
        raise ScalecloudError(f"{path} has no feature columns", "add columns besides the label")
    frame = frame[[*features, label]].dropna()
    for column in features:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise ScalecloudError(
                f"feature column {column!r} of {path} is not numeric",
                "choose numeric columns with --set feature_columns=a,b,...",
            )
    classes, y = np.unique(frame[label].to_numpy(), return_inverse=True)
    if len(classes) != 2:
        raise ScalecloudError(
            f"the network has one sigmoid output, so it needs 2 classes; {label!r} of {path} "
            f"has {len(classes)}",
            "choose a two-class label with --set label_column=...",
        )
    return frame[features].to_numpy(dtype=float), y, [str(c) for c in classes]


def split(x: Any, y: Any, params: dict[str, Any], seed: int) -> tuple[Any, Any, Any, Any]:
    """The held-out split: stratified, ``test_size`` of the rows, ``random_state=seed``."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=params["test_size"], random_state=seed, stratify=y
    )
    return x_train, x_test, y_train, y_test


def build_search(params: dict[str, Any], seed: int) -> tuple[Any, dict[str, list[Any]]]:
    """The network (a Pipeline, scaler first when ``scale``) and the grid over its width."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    widths = [int(w) for w in params["widths"]]
    net: Any
    if params["backend"] == "keras":
        from scikeras.wrappers import KerasClassifier

        net = KerasClassifier(
            model=simple_nn, model__hidden_neurons=widths[0], epochs=params["epochs"],
            batch_size=params["batch_size"], verbose=0, random_state=seed,
        )  # fmt: skip
        grid: dict[str, list[Any]] = {"net__model__hidden_neurons": widths}
    else:
        from sklearn.neural_network import MLPClassifier

        net = MLPClassifier(
            hidden_layer_sizes=(widths[0],), activation="relu", solver="adam", alpha=0.0,
            batch_size=params["batch_size"], learning_rate_init=0.001, max_iter=params["epochs"],
            n_iter_no_change=params["epochs"], random_state=seed,
        )  # fmt: skip
        grid = {"net__hidden_layer_sizes": [(w,) for w in widths]}
    steps = [("scale", StandardScaler())] if params["scale"] else []
    return Pipeline([*steps, ("net", net)]), grid


def width_of(candidate: dict[str, Any]) -> int:
    """The hidden width of one grid candidate, whichever the backend."""
    if "net__model__hidden_neurons" in candidate:
        return int(candidate["net__model__hidden_neurons"])
    return int(candidate["net__hidden_layer_sizes"][0])


def run(client: Any, params: dict[str, Any], seed: int, on_event: EventFn) -> WorkloadResult:
    import dask
    from dask_ml.model_selection import GridSearchCV

    x, y, classes = load_data(params)
    try:
        x_train, x_test, y_train, y_test = split(x, y, params, seed)
    except ValueError as exc:
        raise ScalecloudError(
            f"cannot hold out test_size={params['test_size']:g} of {len(y)} rows: {exc}",
            "give more rows, or change test_size",
        ) from exc
    if params["backend"] == "keras":
        from scalecloud.workloads.search.kerasenv import use_keras_backend

        use_keras_backend(client, keras_backend())
    estimator, grid = build_search(params, seed)
    n_workers = len(client.scheduler_info()["workers"])
    on_event(
        Event(
            "step",
            f"searching widths {', '.join(map(str, params['widths']))} × {params['cv']} folds on "
            f"{len(y_train)} rows ({params['backend']}, {params['epochs']} epochs); training "
            f"data scattered to {n_workers} workers",
        )
    )
    start = time.perf_counter()
    # Scattered once and broadcast: every fit task on a worker reads the same copy, as the
    # lecture's joblib scatter=[X_train, y_train] did. iid=False scores like scikit-learn.
    [x_f, y_f] = client.scatter([x_train, y_train], broadcast=True, hash=False)
    search = GridSearchCV(estimator, grid, cv=params["cv"], iid=False, scheduler=client)
    try:
        search.fit(dask.delayed(x_f), dask.delayed(y_f))
    except ValueError as exc:
        raise ScalecloudError(
            f"the search failed: {exc}", "check cv, test_size and the labels"
        ) from exc
    fit_s = time.perf_counter() - start
    test_accuracy = float(search.score(x_test, y_test))
    res = search.cv_results_
    rows = [
        {
            "rank": int(res["rank_test_score"][i]),
            "width": width_of(res["params"][i]),
            "mean_score": float(res["mean_test_score"][i]),
            "std_score": float(res["std_test_score"][i]),
            "fit_time_s": float(res["mean_fit_time"][i]),
        }
        for i in range(len(res["params"]))
    ]
    best = rows[int(search.best_index_)]
    ordered = sorted(rows, key=lambda r: (r["rank"], r["width"]))
    metrics = {
        "best_width": best["width"],
        "best_score": best["mean_score"],
        "best_score_std": best["std_score"],
        "test_accuracy": test_accuracy,
        "fit_s": round(fit_s, 4),
        "backend": params["backend"],
        "epochs": params["epochs"],
        "n_train": len(y_train),
        "n_test": len(y_test),
        "n_features": int(x.shape[1]),
        "classes": classes,
        "cv_results": ordered,
    }
    summary = [
        ("best width", str(best["width"])),
        ("cv score", f"{best['mean_score']:.4f} ± {best['std_score']:.4f} ({params['cv']} folds)"),
        ("held-out accuracy", f"{test_accuracy:.4f} on {len(y_test)} rows"),
        ("fit time", f"{fit_s:.2f} s"),
        ("backend", f"{params['backend']}, {params['epochs']} epochs"),
        ("rows", f"{len(y_train)} train, {len(y_test)} held out, {x.shape[1]} features"),
    ]
    return WorkloadResult(metrics=metrics, summary=summary, tables={"candidates": ordered})

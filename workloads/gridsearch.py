"""The seed's pipeline grid search: CountVectorizer → TfidfTransformer → SGDClassifier."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.provider import Event, EventFn
from scalecloud.workloads.core import Param, Workload, WorkloadResult

WORKLOAD = Workload(
    name="gridsearch",
    summary="dask-ml grid search over the lecture's text pipeline (CountVectorizer, "
    "TfidfTransformer, SGDClassifier)",
    target="scalecloud.workloads.gridsearch:run",
    params=(
        Param("n_docs", "int", 2000, "documents in the synthetic corpus", minimum=10),
        Param("n_classes", "int", 2, "classes in the synthetic corpus", minimum=2),
        Param("ngram_ranges", "ngrams", ((1, 1), (1, 2)), "vect__ngram_range values", minimum=1),
        Param("norms", "strs", ("l1", "l2"), "tfidf__norm values", choices=("l1", "l2")),
        Param("alphas", "floats", (1e-3, 1e-4, 1e-5), "clf__alpha values", minimum=0),
        Param("cv", "int", 5, "cross-validation folds", minimum=2),
        Param("top", "int", 5, "candidates shown in the results", minimum=1),
        Param("data", "path", None, "your own CSV or Parquet file instead of the synthetic corpus"),
        Param("text_column", "str", "text", "text column of --set data"),
        Param("label_column", "str", "label", "label column of --set data"),
    ),
    notes="The synthetic corpus is generated from the seed (nothing is downloaded); "
    "SGDClassifier uses random_state=seed.",
)

_SYLLABLES = [a + b for a in "bcdfgklmnprstvz" for b in "aeiou"]


def synthetic_corpus(n_docs: int, n_classes: int, seed: int) -> tuple[list[str], list[int]]:
    """A deterministic labelled corpus: shared Zipf-distributed background words, a topic
    vocabulary per class, topic phrases (bigrams), and 8% label noise."""
    import numpy as np

    rng = np.random.RandomState(seed)
    words = sorted({"".join(rng.choice(_SYLLABLES, rng.randint(2, 4))) for _ in range(3000)})
    words = list(rng.permutation(words))
    background, topical = words[:1500], words[1500:]
    per_class = len(topical) // n_classes
    zipf = 1.0 / np.arange(1, len(background) + 1)
    zipf /= zipf.sum()
    docs, labels = [], []
    for i in range(n_docs):
        label = i % n_classes
        topic = topical[label * per_class : (label + 1) * per_class]
        length = rng.randint(15, 60)
        n_topic = rng.binomial(length, 0.12)
        tokens = list(rng.choice(background, length - n_topic, p=zipf))
        for _ in range(n_topic // 2):
            start = rng.randint(0, len(topic) - 1)
            tokens += [topic[start], topic[start + 1]]  # phrases reward bigrams
        tokens += list(rng.choice(topical, n_topic % 2 + rng.binomial(4, 0.5)))
        rng.shuffle(tokens)
        docs.append(" ".join(tokens))
        labels.append(int(rng.randint(n_classes)) if rng.rand() < 0.08 else label)
    return docs, labels


def load_table(path: str, text_column: str, label_column: str) -> tuple[list[str], list[Any]]:
    """Texts and labels from a CSV or Parquet file, with clear errors."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise ScalecloudError(f"data file {path} does not exist", "pass a CSV or Parquet file")
    try:
        frame = pd.read_parquet(file) if file.suffix in (".parquet", ".pq") else pd.read_csv(file)
    except Exception as exc:
        raise ScalecloudError(
            f"could not read {path}: {exc}", "CSV with a header row, or Parquet"
        ) from exc
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        raise ScalecloudError(
            f"column {missing[0]!r} is not in {path}",
            f"columns are: {', '.join(map(str, frame.columns))}; "
            "choose with --set text_column=... --set label_column=...",
        )
    frame = frame[[text_column, label_column]].dropna()
    if len(frame) < 2:
        raise ScalecloudError(f"{path} has fewer than 2 usable rows", "give it more data")
    return frame[text_column].astype(str).tolist(), frame[label_column].tolist()


def build_search(params: dict[str, Any], seed: int) -> tuple[Any, dict[str, list[Any]]]:
    """The lecture's pipeline and grid, as plain scikit-learn objects."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline(
        [
            ("vect", CountVectorizer()),
            ("tfidf", TfidfTransformer()),
            ("clf", SGDClassifier(random_state=seed)),
        ]
    )
    grid = {
        "vect__ngram_range": [tuple(r) for r in params["ngram_ranges"]],
        "tfidf__norm": list(params["norms"]),
        "clf__alpha": list(params["alphas"]),
    }
    return pipeline, grid


def load_data(params: dict[str, Any], seed: int) -> tuple[list[str], list[Any]]:
    if params.get("data"):
        return load_table(params["data"], params["text_column"], params["label_column"])
    return synthetic_corpus(params["n_docs"], params["n_classes"], seed)


def run(client: Any, params: dict[str, Any], seed: int, on_event: EventFn) -> WorkloadResult:
    from dask_ml.model_selection import GridSearchCV

    docs, labels = load_data(params, seed)
    pipeline, grid = build_search(params, seed)
    n_candidates = (
        len(grid["vect__ngram_range"]) * len(grid["tfidf__norm"]) * len(grid["clf__alpha"])
    )
    on_event(
        Event(
            "step",
            f"searching {n_candidates} candidates × {params['cv']} folds on {len(docs)} documents",
        )
    )
    start = time.perf_counter()
    search = GridSearchCV(pipeline, grid, cv=params["cv"], scheduler=client)
    try:
        search.fit(docs, labels)
    except ValueError as exc:
        raise ScalecloudError(f"the grid search failed: {exc}", "check cv and the labels") from exc
    fit_s = time.perf_counter() - start

    results = search.cv_results_
    rows = []
    for i in range(len(results["params"])):
        rows.append(
            {
                "rank": int(results["rank_test_score"][i]),
                "ngram_range": "-".join(map(str, results["params"][i]["vect__ngram_range"])),
                "norm": results["params"][i]["tfidf__norm"],
                "alpha": float(results["params"][i]["clf__alpha"]),
                "mean_score": float(results["mean_test_score"][i]),
                "std_score": float(results["std_test_score"][i]),
                "fit_time_s": float(results["mean_fit_time"][i]),
            }
        )
    rows.sort(key=lambda r: (r["rank"], -r["mean_score"]))
    best = {k: list(v) if isinstance(v, tuple) else v for k, v in search.best_params_.items()}
    metrics = {
        "best_score": float(search.best_score_),
        "best_params": best,
        "n_candidates": n_candidates,
        "n_docs": len(docs),
        "fit_s": round(fit_s, 4),
        "cv_results": rows,
    }
    summary = [
        ("best score", f"{search.best_score_:.4f}"),
        ("best parameters", ", ".join(f"{k}={v}" for k, v in sorted(best.items()))),
        ("candidates", f"{n_candidates} × {params['cv']} folds"),
        ("documents", f"{len(docs):,}"),
        ("fit time", f"{fit_s:.2f} s"),
    ]
    return WorkloadResult(
        metrics=metrics, summary=summary, tables={"top candidates": rows[: params["top"]]}
    )

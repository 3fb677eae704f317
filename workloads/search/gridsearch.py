"""The seed's pipeline grid search: CountVectorizer → TfidfTransformer → SGDClassifier."""

from __future__ import annotations

import time
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.workloads.core import Param, Workload, WorkloadResult

WORKLOAD = Workload(
    name="gridsearch",
    summary="dask-ml grid search over the lecture's text pipeline (CountVectorizer, "
    "TfidfTransformer, SGDClassifier)",
    target="scalecloud.workloads.search.gridsearch:run",
    requires="scalecloud.workloads.search.gridsearch:check",
    reproduced=("best_score", "best_params"),
    headline="best score {best_score:.4f}",
    artifacts="scalecloud.workloads.search.plots:write",
    params=(
        Param("n_docs", "int", 2000, "documents in the synthetic corpus", minimum=10),
        Param("n_classes", "int", 2, "classes in the synthetic corpus", minimum=2),
        Param("ngram_ranges", "ngrams", ((1, 1), (1, 2)), "vect__ngram_range values", minimum=1),
        Param("norms", "strs", ("l1", "l2"), "tfidf__norm values", choices=("l1", "l2")),
        Param("alphas", "floats", (1e-3, 1e-4, 1e-5), "clf__alpha values", minimum=0),
        Param("cv", "int", 5, "cross-validation folds", minimum=2),
        Param("top", "int", 5, "candidates shown in the results", minimum=1),
        Param(
            "implementation",
            "str",
            "scalecloud",
            "scalecloud (tokenises once per n-gram range) or dask-ml (for comparison)",
            choices=("scalecloud", "dask-ml"),
        ),
        Param(
            "data",
            "data",
            None,
            "your own CSV or Parquet file or folder (a local path or an s3://, gs:// or "
            "abfs:// URL, read on the client) instead of the synthetic corpus",
        ),
        Param("text_column", "str", "text", "text column of --set data"),
        Param("label_column", "str", "label", "label column of --set data"),
    ),
    notes="The synthetic corpus is generated from the seed (nothing is downloaded); "
    "SGDClassifier uses random_state=seed; folds are scikit-learn's StratifiedKFold(cv). "
    "Scores equal scikit-learn's GridSearchCV; the best pipeline is not refitted.",
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


TABLE_HINT = "--set text_column=... --set label_column=..."


def check(params: dict[str, Any]) -> None:
    """What can be checked before any cluster is touched: the data file and its columns
    (header only), and enough documents for the folds."""
    if params.get("data"):
        from scalecloud.workloads.tables import check_table

        check_table(params["data"], [params["text_column"], params["label_column"]], TABLE_HINT)
    elif params["n_docs"] < params["cv"] * params["n_classes"]:
        raise ScalecloudError(
            f"{params['n_docs']} documents cannot be split into {params['cv']} folds with "
            f"every one of {params['n_classes']} classes in each",
            f"raise n_docs or lower cv, e.g. --set n_docs={params['cv'] * params['n_classes'] * 10}",
        )


def load_table(path: str, text_column: str, label_column: str) -> tuple[list[str], list[Any]]:
    """Texts and labels from a CSV or Parquet file, with clear errors."""
    from scalecloud.workloads.tables import read_table

    frame = read_table(path, [text_column, label_column], TABLE_HINT)
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
    docs, labels = load_data(params, seed)
    n_candidates = len(params["ngram_ranges"]) * len(params["norms"]) * len(params["alphas"])
    on_event(
        Event(
            "step",
            f"searching {n_candidates} candidates × {params['cv']} folds on {len(docs)} documents "
            f"({params['implementation']})",
        )
    )
    start = time.perf_counter()
    try:
        if params["implementation"] == "dask-ml":
            rows = search_dask_ml(client, docs, labels, params, seed)
        else:
            rows = search_scalecloud(client, docs, labels, params, seed)
    except ValueError as exc:
        raise ScalecloudError(f"the grid search failed: {exc}", "check cv and the labels") from exc
    fit_s = time.perf_counter() - start
    best_row = min(rows, key=lambda r: (r["rank"], rows.index(r)))
    best = {
        "clf__alpha": best_row["alpha"],
        "tfidf__norm": best_row["norm"],
        "vect__ngram_range": [int(n) for n in best_row["ngram_range"].split("-")],
    }
    ordered = sorted(rows, key=lambda r: (r["rank"], -r["mean_score"]))
    metrics = {
        "best_score": best_row["mean_score"],
        "best_params": best,
        "n_candidates": n_candidates,
        "n_docs": len(docs),
        "fit_s": round(fit_s, 4),
        "implementation": params["implementation"],
        "cv_results": ordered,
    }
    summary = [
        ("best score", f"{best_row['mean_score']:.4f}"),
        ("best parameters", ", ".join(f"{k}={v}" for k, v in sorted(best.items()))),
        ("candidates", f"{n_candidates} × {params['cv']} folds"),
        ("documents", f"{len(docs):,}"),
        ("fit time", f"{fit_s:.2f} s"),
        ("implementation", params["implementation"]),
    ]
    return WorkloadResult(
        metrics=metrics, summary=summary, tables={"top candidates": ordered[: params["top"]]}
    )


def _row(params: dict[str, Any], rank: int, mean: float, std: float, fit_time: float) -> dict:
    return {
        "rank": int(rank),
        "ngram_range": "-".join(map(str, params["vect__ngram_range"])),
        "norm": params["tfidf__norm"],
        "alpha": float(params["clf__alpha"]),
        "mean_score": float(mean),
        "std_score": float(std),
        "fit_time_s": float(fit_time),
    }


def search_scalecloud(
    client: Any, docs: list[str], labels: list[Any], params: dict[str, Any], seed: int
) -> list[dict[str, Any]]:
    from scalecloud.workloads.search import text as textsearch

    result = textsearch.search(
        client, docs, labels, [tuple(r) for r in params["ngram_ranges"]], list(params["norms"]),
        list(params["alphas"]), params["cv"], seed,
    )  # fmt: skip
    return [
        _row(r["params"], r["rank"], r["mean_score"], r["std_score"], r["fit_time_s"])
        for r in result.rows
    ]


def search_dask_ml(
    client: Any, docs: list[str], labels: list[Any], params: dict[str, Any], seed: int
) -> list[dict[str, Any]]:
    """dask-ml's GridSearchCV, which fits shared pipeline prefixes once; for comparison."""
    from dask_ml.model_selection import GridSearchCV

    pipeline, grid = build_search(params, seed)
    search = GridSearchCV(pipeline, grid, cv=params["cv"], scheduler=client).fit(docs, labels)
    res = search.cv_results_
    return [
        _row(
            res["params"][i],
            res["rank_test_score"][i],
            res["mean_test_score"][i],
            res["std_test_score"][i],
            res["mean_fit_time"][i],
        )
        for i in range(len(res["params"]))
    ]

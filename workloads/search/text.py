"""scalecloud's grid search over the lecture's text pipeline, exact and distributed.

CountVectorizer (with default settings) learns as vocabulary every term of the training
documents, sorted. So a fold's count matrix is the whole corpus' count matrix restricted
to the training rows and to the columns of terms that occur in them, and the test matrix
is the same columns of the test rows. scalecloud therefore tokenises the corpus once per
n-gram range instead of once per candidate and fold, then runs one task per (n-gram
range, norm, fold) that fits TfidfTransformer once and SGDClassifier for every alpha.
Scores equal scikit-learn's GridSearchCV on the same folds.

The corpus lives on the cluster: :func:`search_on_cluster` takes it as futures (the
workload reads the user's table, or generates its corpus, in a task on a worker) and makes
the folds there too, so the documents and labels never pass through the client; Dask moves
them from worker to worker. :func:`search` takes lists and scatters them first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


def count_matrix(docs: list[str], ngram_range: tuple[int, int]) -> Any:
    """Term counts of every document, columns in sorted-vocabulary order."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(ngram_range=tuple(ngram_range)).fit_transform(docs).tocsr()


def fold_scores(
    counts: Any, y: Any, train: Any, test: Any, norm: str, alphas: list[float], seed: int
) -> list[dict[str, float]]:
    """Accuracy on ``test`` of TfidfTransformer(norm) → SGDClassifier(alpha) for each alpha."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import SGDClassifier

    start = time.perf_counter()
    train_rows = counts[train]
    columns = np.flatnonzero(train_rows.getnnz(axis=0))
    x_train = train_rows[:, columns]
    x_test = counts[test][:, columns]
    tfidf = TfidfTransformer(norm=norm)
    t_train = tfidf.fit_transform(x_train)
    t_test = tfidf.transform(x_test)
    shared = (time.perf_counter() - start) / len(alphas)
    out = []
    for alpha in alphas:
        start = time.perf_counter()
        model = SGDClassifier(alpha=alpha, random_state=seed).fit(t_train, y[train])
        fitted = time.perf_counter()
        score = float(model.score(t_test, y[test]))
        out.append(
            {
                "score": score,
                "fit_time": fitted - start + shared,
                "score_time": time.perf_counter() - fitted,
            }
        )
    return out


@dataclass
class SearchResult:
    """Per-candidate results in scikit-learn's candidate order, and the best one."""

    rows: list[dict[str, Any]]
    best_params: dict[str, Any]
    best_score: float


def make_folds(y: Any, cv: int) -> list[tuple[Any, Any]]:
    """scikit-learn's folds for ``cv`` (StratifiedKFold for class labels), made where the
    labels are."""
    import numpy as np
    from sklearn.model_selection import check_cv

    return list(check_cv(cv, y, classifier=True).split(np.zeros(len(y)), y))


def fold_task(
    counts: Any, y: Any, folds: list[tuple[Any, Any]], i: int, norm: str, alphas: list[float],
    seed: int,
) -> list[dict[str, float]]:  # fmt: skip
    """:func:`fold_scores` on fold ``i`` of ``folds``."""
    train, test = folds[i]
    return fold_scores(counts, y, train, test, norm, alphas, seed)


def search(
    client: Any,
    docs: list[str],
    labels: list[Any],
    ngram_ranges: list[tuple[int, int]],
    norms: list[str],
    alphas: list[float],
    cv: int,
    seed: int,
) -> SearchResult:
    """The lecture's grid on the cluster for a corpus held here: scattered to the workers
    once, then :func:`search_on_cluster`."""
    import numpy as np

    [docs_f, y_f] = client.scatter([list(docs), np.asarray(labels)], broadcast=True, hash=False)
    return search_on_cluster(client, docs_f, y_f, ngram_ranges, norms, alphas, cv, seed)


def search_on_cluster(
    client: Any,
    docs: Any,
    y: Any,
    ngram_ranges: list[tuple[int, int]],
    norms: list[str],
    alphas: list[float],
    cv: int,
    seed: int,
) -> SearchResult:
    """The lecture's grid on a corpus already on the cluster (``docs``: a future of the
    list of documents, ``y``: a future of the labels' array); candidates ordered as
    ParameterGrid orders them. Only the scores come back to the client."""
    import numpy as np
    from scipy.stats import rankdata
    from sklearn.model_selection import ParameterGrid

    folds = client.submit(make_folds, y, cv, pure=False)
    counts = {
        tuple(r): client.submit(count_matrix, docs, tuple(r), pure=False) for r in ngram_ranges
    }
    tasks = {
        (tuple(r), norm, i): client.submit(
            fold_task, counts[tuple(r)], y, folds, i, norm, list(alphas), seed, pure=False
        )
        for r in ngram_ranges
        for norm in norms
        for i in range(cv)
    }
    scores = dict(zip(tasks, client.gather(list(tasks.values())), strict=True))
    grid = {
        "clf__alpha": list(alphas),
        "tfidf__norm": list(norms),
        "vect__ngram_range": list(ngram_ranges),
    }
    rows = []
    for params in ParameterGrid(grid):
        r, norm = tuple(params["vect__ngram_range"]), params["tfidf__norm"]
        a = list(alphas).index(params["clf__alpha"])
        per_fold = [scores[(r, norm, i)][a] for i in range(cv)]
        test_scores = np.array([f["score"] for f in per_fold])
        rows.append(
            {
                "params": params,
                "mean_score": float(test_scores.mean()),
                "std_score": float(test_scores.std()),
                "split_scores": test_scores.tolist(),
                "fit_time_s": float(np.mean([f["fit_time"] for f in per_fold])),
            }
        )
    ranks = rankdata([-row["mean_score"] for row in rows], method="min").astype(int)
    for row, rank in zip(rows, ranks, strict=True):
        row["rank"] = int(rank)
    best = int(np.flatnonzero(ranks == 1)[0])
    return SearchResult(rows, rows[best]["params"], rows[best]["mean_score"])

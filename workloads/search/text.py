"""scalecloud's grid search over the lecture's text pipeline, exact and distributed.

CountVectorizer (with default settings) learns as vocabulary every term of the training
documents, sorted. So a fold's count matrix is the whole corpus' count matrix restricted
to the training rows and to the columns of terms that occur in them, and the test matrix
is the same columns of the test rows. scalecloud therefore tokenises the corpus once per
n-gram range instead of once per candidate and fold, then runs one task per (n-gram
range, norm, fold) that fits TfidfTransformer once and SGDClassifier for every alpha.
Scores equal scikit-learn's GridSearchCV on the same folds.
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
    """The lecture's grid on the cluster; candidates ordered as ParameterGrid orders them."""
    import numpy as np
    from scipy.stats import rankdata
    from sklearn.model_selection import ParameterGrid, check_cv

    y = np.asarray(labels)
    folds = list(check_cv(cv, y, classifier=True).split(np.zeros(len(y)), y))
    [docs_f, y_f] = client.scatter([list(docs), y], broadcast=True, hash=False)
    counts = {
        tuple(r): client.submit(count_matrix, docs_f, tuple(r), pure=False) for r in ngram_ranges
    }
    tasks = {
        (tuple(r), norm, i): client.submit(
            fold_scores, counts[tuple(r)], y_f, train, test, norm, list(alphas), seed, pure=False
        )
        for r in ngram_ranges
        for norm in norms
        for i, (train, test) in enumerate(folds)
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
        per_fold = [scores[(r, norm, i)][a] for i in range(len(folds))]
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

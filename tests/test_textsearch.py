"""scalecloud's text grid search equals scikit-learn's GridSearchCV, split by split."""

from __future__ import annotations

import numpy as np
import pytest
from distributed import Client, LocalCluster
from scalecloud.workloads.search import gridsearch
from scalecloud.workloads.search import text as textsearch
from sklearn.model_selection import GridSearchCV


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
        ) as c,
        Client(c) as client,
    ):
        yield client


@pytest.mark.parametrize(("seed", "n_classes", "cv"), [(0, 2, 5), (4, 3, 3)])
def test_every_split_score_equals_scikit_learn(client, seed, n_classes, cv):
    settings = ["n_docs=400", f"n_classes={n_classes}", f"cv={cv}", "alphas=1e-2,1e-3,1e-4"]
    params = gridsearch.WORKLOAD.resolve(settings)
    docs, labels = gridsearch.synthetic_corpus(400, n_classes, seed)
    pipeline, grid = gridsearch.build_search(params, seed)
    reference = GridSearchCV(pipeline, grid, cv=cv).fit(docs, labels)

    result = textsearch.search(
        client, docs, labels, list(params["ngram_ranges"]), list(params["norms"]),
        list(params["alphas"]), cv, seed,
    )  # fmt: skip
    assert [row["params"] for row in result.rows] == reference.cv_results_["params"]
    for i in range(cv):
        ours = [row["split_scores"][i] for row in result.rows]
        assert np.array_equal(ours, reference.cv_results_[f"split{i}_test_score"])
    assert [row["rank"] for row in result.rows] == list(reference.cv_results_["rank_test_score"])
    assert result.best_params == reference.best_params_
    assert result.best_score == reference.best_score_
    # The scores differ between candidates, so the comparison above can fail.
    assert len({row["mean_score"] for row in result.rows}) > 3


def test_a_fold_restricts_the_vocabulary_to_its_training_rows():
    from sklearn.feature_extraction.text import CountVectorizer

    docs = ["apple banana", "banana cherry", "cherry durian", "elder fig"]
    train, test = np.array([0, 1]), np.array([2, 3])
    counts = textsearch.count_matrix(docs, (1, 1))
    columns = np.flatnonzero(counts[train].getnnz(axis=0))
    vect = CountVectorizer().fit([docs[i] for i in train])
    assert np.array_equal(
        counts[train][:, columns].toarray(), vect.transform([docs[0], docs[1]]).toarray()
    )
    assert np.array_equal(
        counts[test][:, columns].toarray(), vect.transform([docs[2], docs[3]]).toarray()
    )


def test_searching_twice_in_a_row_on_one_client(client):
    # Scattered inputs must get fresh keys: equal data hashed to equal keys was released
    # by the first search while the second one was using it ("lost dependencies").
    params = gridsearch.WORKLOAD.resolve(["n_docs=60", "cv=2", "alphas=1e-3"])
    docs, labels = gridsearch.synthetic_corpus(60, 2, 0)
    args = (list(params["ngram_ranges"]), list(params["norms"]), list(params["alphas"]), 2, 0)

    def scores(result):
        return [(row["params"], row["split_scores"], row["rank"]) for row in result.rows]

    first = scores(textsearch.search(client, docs, labels, *args))
    for _ in range(3):
        assert scores(textsearch.search(client, docs, labels, *args)) == first

"""The lecture's text-pipeline grid search, side by side on the same data and folds:
scalecloud, dask-ml GridSearchCV, scikit-learn GridSearchCV(n_jobs=-1), and
scikit-learn with joblib's Dask backend on the same cluster.

    python bench/gridsearch.py                      # 2,000 documents, 12 candidates × 5 folds
    python bench/gridsearch.py --n-docs 10000
    python bench/gridsearch.py --workers 1,2        # scalecloud's scaling with workers
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import local_cluster, machine, table, timed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-docs", type=int, default=2000)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--workers", default="2", help="comma-separated worker counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import joblib
    from dask_ml.model_selection import GridSearchCV as DaskGridSearchCV
    from scalecloud.workloads.search import gridsearch
    from scalecloud.workloads.search import text as textsearch
    from sklearn.model_selection import GridSearchCV

    params = gridsearch.WORKLOAD.resolve([f"n_docs={args.n_docs}", f"cv={args.cv}"])
    docs, labels = gridsearch.synthetic_corpus(args.n_docs, 2, args.seed)
    pipeline, grid = gridsearch.build_search(params, args.seed)
    counts = [int(w) for w in args.workers.split(",")]
    print(machine())
    print(
        f"data: {args.n_docs} documents; grid {len(grid['vect__ngram_range'])} n-gram ranges × "
        f"{len(grid['tfidf__norm'])} norms × {len(grid['clf__alpha'])} alphas × {args.cv} folds; "
        f"{args.repeats} repeats\n"
    )

    def sklearn_fit():
        return GridSearchCV(pipeline, grid, cv=args.cv, n_jobs=-1).fit(docs, labels)

    sklearn_fit()  # start joblib's worker processes once, as a warm peer
    sk_s, _, sk = timed(sklearn_fit, args.repeats)
    rows = [["scikit-learn GridSearchCV(n_jobs=-1)", "-", sk_s, sk.best_score_, sk_s / sk_s]]
    same = {}
    for workers in counts:
        with local_cluster(workers) as client:

            def scalecloud_fit():
                return textsearch.search(
                    client, docs, labels, list(params["ngram_ranges"]), list(params["norms"]),
                    list(params["alphas"]), args.cv, args.seed,
                )  # fmt: skip

            scalecloud_fit()
            sc_s, _, sc = timed(scalecloud_fit, args.repeats)
            rows.append(["scalecloud", workers, sc_s, sc.best_score, sk_s / sc_s])
            same[workers] = sc.best_params == sk.best_params_ and sc.best_score == sk.best_score_
            if workers != counts[-1]:
                continue

            def dask_ml_fit():
                return DaskGridSearchCV(pipeline, grid, cv=args.cv, scheduler=client).fit(
                    docs, labels
                )

            dm_s, _, dm = timed(dask_ml_fit, args.repeats)
            rows.append(["dask-ml GridSearchCV", workers, dm_s, dm.best_score_, sk_s / dm_s])

            def joblib_fit():
                with joblib.parallel_backend("dask"):
                    return GridSearchCV(pipeline, grid, cv=args.cv, n_jobs=-1).fit(docs, labels)

            jb_s, _, jb = timed(joblib_fit, args.repeats)
            rows.append(
                ["scikit-learn + joblib Dask backend", workers, jb_s, jb.best_score_, sk_s / jb_s]
            )

    print(
        table(
            rows,
            [
                "implementation",
                "workers",
                "fit s (median)",
                "best score",
                "speed-up vs scikit-learn",
            ],
        )
    )
    print()
    for workers, ok in same.items():
        print(
            f"scalecloud with {workers} workers: same best parameters and score as scikit-learn: {ok}"
        )
    best = next(r for r in rows if r[0] == "scalecloud" and r[1] == counts[-1])
    print(f"speed-up over scikit-learn GridSearchCV(n_jobs=-1): {best[4]:.1f}x (goal >= 3)")
    if len(counts) > 1:
        base = next(r for r in rows if r[0] == "scalecloud" and r[1] == counts[0])[2]
        for r in rows:
            if r[0] == "scalecloud":
                eff = base * counts[0] / (r[2] * r[1])
                print(f"  {r[1]} workers: {r[2]:.3f} s, parallel efficiency {eff:.0%}")


if __name__ == "__main__":
    main()

"""End to end on a real local cluster, by subprocess: up, status, submit, scale, down."""

from __future__ import annotations

import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import pytest
from scalecloud.infra.local.driver import session_processes
from scalecloud.workloads import kmeans
from scalecloud.workloads.search import gridsearch


@pytest.fixture(scope="module")
def cluster(module_cli):
    up = module_cli("up", "--workers", "2", "--idle-timeout", "0", check=True)
    status = module_cli("status", "--name", "default", "--json", check=True).json()
    return {"up": up, "status": status}


def test_up_prints_address_and_dashboard_on_loopback_only(cluster):
    status = cluster["status"]
    assert status["scheduler_address"] in cluster["up"].out
    assert status["dashboard_url"] in cluster["up"].out
    assert status["scheduler_address"].startswith("tcp://127.0.0.1:")
    assert status["dashboard_url"].startswith("http://127.0.0.1:")
    supervisor = psutil.Process(status["details"]["pid"])
    listening = [c.laddr.ip for c in supervisor.net_connections() if c.status == psutil.CONN_LISTEN]
    assert listening, "the supervisor listens on no socket"
    assert set(listening) == {"127.0.0.1"}


def test_up_on_a_running_cluster_changes_nothing(module_cli, cluster):
    again = module_cli("up", "--json", check=True).json()
    assert again["already_running"] is True
    assert again["scheduler_address"] == cluster["status"]["scheduler_address"]
    assert again["created"] == cluster["status"]["created"]
    assert module_cli("up", check=True).out.startswith("Cluster 'default' is already running")


def test_status_shows_workers_threads_memory_uptime(module_cli, cluster):
    status = module_cli("status", "--json", check=True).json()
    assert len(status) == 1
    info = status[0]
    assert (info["provider"], info["state"], info["worker_count"]) == ("local", "running", 2)
    assert info["threads"] == 2 and info["memory"] > 0 and info["uptime_s"] >= 0
    text = module_cli("status", check=True).out
    for word in ("running", "2 (fixed)", info["scheduler_address"], "uptime"):
        assert word in text


def test_dashboard_link_serves_the_dask_dashboard(module_cli, cluster):
    link = module_cli("dashboard", check=True).out.strip()
    assert link == cluster["status"]["dashboard_url"]
    with urllib.request.urlopen(link, timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("implementation", ["scalecloud", "dask-ml"])
def test_submit_kmeans_matches_scikit_learn(module_cli, cluster, implementation):
    from sklearn.cluster import KMeans

    settings = ["n_blocks=4", "rows_per_block=2000", "n_features=5", "n_centers=4", "n_clusters=4"]
    settings.append(f"implementation={implementation}")
    args = [a for s in settings for a in ("--set", s)]
    result = module_cli("submit", "kmeans", *args, "--seed", "3", "--json", check=True).json()
    metrics = result["metrics"]
    assert result["status"] == "succeeded" and result["seed"] == 3
    assert metrics["implementation"] == implementation

    params = kmeans.WORKLOAD.resolve(settings)
    centers = kmeans.blob_centers(4, 5, 3)
    x = np.concatenate(
        [kmeans.make_block(2000, centers, kmeans.block_seed(3, i)) for i in range(4)]
    )
    reference = KMeans(
        n_clusters=4, init=np.array(metrics["init_centers"]), n_init=1, tol=0, algorithm="lloyd"
    ).fit(x)
    assert metrics["n_rows"] == len(x) == 8000 and params["n_blocks"] == 4
    assert metrics["inertia"] == pytest.approx(reference.inertia_, rel=1e-6)
    assert sorted(metrics["cluster_sizes"]) == sorted(np.bincount(reference.labels_).tolist())
    assert metrics["data_bytes"] == x.nbytes and metrics["fit_s"] > 0


def test_submit_kmeans_shows_a_results_table(module_cli, cluster):
    result = module_cli(
        "submit", "kmeans", "--set", "n_blocks=2", "--set", "rows_per_block=1000", check=True
    )
    for label in ("inertia", "iterations", "cluster sizes", "fit time", "data", "seed"):
        assert label in result.out


@pytest.mark.parametrize("implementation", ["scalecloud", "dask-ml"])
def test_submit_gridsearch_matches_scikit_learn(module_cli, cluster, implementation):
    from sklearn.model_selection import GridSearchCV

    settings = ["n_docs=300", "alphas=1e-3,1e-4", "ngram_ranges=1-1,1-2", "cv=3"]
    settings.append(f"implementation={implementation}")
    args = [a for s in settings for a in ("--set", s)]
    result = module_cli("submit", "gridsearch", *args, "--seed", "7", "--json", check=True).json()
    metrics = result["metrics"]

    params = gridsearch.WORKLOAD.resolve(settings)
    docs, labels = gridsearch.synthetic_corpus(300, 2, 7)
    pipeline, grid = gridsearch.build_search(params, 7)
    reference = GridSearchCV(pipeline, grid, cv=3).fit(docs, labels)
    best = dict(
        reference.best_params_, vect__ngram_range=list(reference.best_params_["vect__ngram_range"])
    )
    assert metrics["best_params"] == best
    assert metrics["best_score"] == pytest.approx(reference.best_score_, abs=1e-12)
    assert metrics["n_candidates"] == 8 and len(metrics["cv_results"]) == 8
    assert result["tables"]["top candidates"][0]["rank"] == 1
    assert metrics["implementation"] == implementation
    means = sorted(r["mean_score"] for r in metrics["cv_results"])
    assert means == pytest.approx(sorted(reference.cv_results_["mean_test_score"]), abs=1e-12)


def test_submit_gridsearch_on_a_csv_file(module_cli, cluster, tmp_path):
    import pandas as pd

    docs, labels = gridsearch.synthetic_corpus(120, 2, 1)
    csv = tmp_path / "reviews.csv"
    pd.DataFrame({"body": docs, "stars": labels}).to_csv(csv, index=False)
    result = module_cli(
        "submit", "gridsearch", "--set", f"data={csv}", "--set", "text_column=body",
        "--set", "label_column=stars", "--set", "cv=2", "--set", "alphas=1e-3", "--json", check=True,
    ).json()  # fmt: skip
    assert result["metrics"]["n_docs"] == 120
    bad = module_cli("submit", "gridsearch", "--set", f"data={csv}")
    assert bad.code == 1 and "column 'text' is not in" in bad.err and "body, stars" in bad.err


def test_submit_script_connects_a_plain_client_and_keeps_its_exit_code(
    module_cli, cluster, tmp_path
):
    script = tmp_path / "experiment.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from dask.distributed import Client
            client = Client()
            print("ADDRESS", client.scheduler.address)
            print("TOTAL", client.submit(sum, range(101)).result())
            sys.exit(int(sys.argv[1]))
            """
        )
    )
    ok = module_cli("submit", str(script), "0")
    assert ok.code == 0, ok.err
    assert f"ADDRESS {cluster['status']['scheduler_address']}" in ok.out
    assert "TOTAL 5050" in ok.out
    failed = module_cli("submit", str(script), "7")
    assert failed.code == 7 and "TOTAL 5050" in failed.out


def test_the_lectures_kmeans_script_runs_unchanged(module_cli, cluster, tmp_path):
    source = (Path(__file__).parent.parent / "examples" / "seed_kmeans.py").read_text()
    assert "n_blocks = 500" in source
    # Only the size changes, so the suite stays fast; the code is the lecture's.
    small = tmp_path / "seed_kmeans.py"
    small.write_text(source.replace("n_blocks = 500", "n_blocks = 5"))
    result = module_cli("submit", str(small))
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert lines[-4] == "None"  # print(client.cluster): connected, not a cluster of its own
    assert float(lines[-3]) == pytest.approx(5 * 20000 * 20 * 8 / 1e9)
    assert 0 <= int(lines[-2]) < 8  # the first label, computed on the cluster
    assert lines[-1].startswith("seed_kmeans.py succeeded (exit code 0")


def test_scale_changes_workers_and_adaptive_range(module_cli, cluster):
    assert "3 workers (fixed)" in module_cli("scale", "3", check=True).out
    assert module_cli("status", "--name", "default", "--json").json()["worker_count"] == 3
    module_cli("scale", "--adapt", "1:2", check=True)
    status = module_cli("status", "--name", "default", "--json").json()
    assert status["adapt"] == [1, 2]
    module_cli("scale", "2", check=True)
    status = module_cli("status", "--name", "default", "--json").json()
    assert status["adapt"] is None and status["worker_count"] == 2


def test_down_stops_every_process_and_is_safe_to_repeat(cli):
    cli("up", "--name", "short", "--workers", "2", check=True)
    sid = cli("status", "--json", check=True).json()[0]["details"]["pid"]
    assert len(session_processes(sid)) >= 3  # the supervisor and two workers
    down = cli("down", check=True)
    assert "no process of it is left" in down.out
    assert "distributed" not in down.err and "Traceback" not in down.err
    assert session_processes(sid) == []
    assert cli.records() == []
    assert "No cluster is running" in cli("status", check=True).out
    assert cli("down", check=True).code == 0
    assert cli("down", "--name", "short", check=True).code == 0


def test_modules_in_the_working_directory_do_not_shadow_the_clusters(cli, tmp_path):
    # A project folder with its own dask.py and numpy.py: `scalecloud up` run there must not
    # import them (the supervisor once ran with the folder first on its sys.path).
    import json
    import subprocess
    import sys

    project = tmp_path / "project"
    project.mkdir()
    for name in ("dask", "distributed", "numpy"):
        (project / f"{name}.py").write_text("raise ImportError('the project module shadowed')\n")

    def scalecloud(*args: str) -> subprocess.CompletedProcess:
        script = Path(sys.executable).parent / "scalecloud"
        done = subprocess.run([str(script), *args], cwd=project, env=cli.env,
                              capture_output=True, text=True, timeout=240)  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        return done

    scalecloud("up", "--name", "shadow", "--workers", "1")
    status = cli("status", "--json", check=True).json()
    assert [(c["name"], c["state"], c["worker_count"]) for c in status] == [
        ("shadow", "running", 1)
    ]
    settings = ["n_blocks=2", "rows_per_block=500", "n_features=3", "n_centers=2", "n_clusters=2"]
    run = scalecloud("submit", "kmeans", *[a for s in settings for a in ("--set", s)], "--json")
    assert json.loads(run.stdout)["status"] == "succeeded"

"""Run records end to end: real local clusters, the CLI by subprocess, the real database."""

from __future__ import annotations

import re
import signal
import time

import pytest
from scalecloud.workloads.records.store import RunStore
from test_cli_errors import assert_one_line_error
from test_lifecycle import wait_for
from test_records import SIZES, png_size

KMEANS = ("n_blocks=3", "rows_per_block=1500", "n_features=4", "n_centers=3", "n_clusters=3")
GRID = ("n_docs=240", "cv=3", "alphas=0.001,0.0001", "norms=l1,l2")


def sets(settings) -> list[str]:
    return [arg for setting in settings for arg in ("--set", setting)]


@pytest.fixture(scope="module")
def cluster(module_cli):
    module_cli("up", "--workers", "2", "--idle-timeout", "0", check=True)
    return module_cli


def store_of(cli) -> RunStore:
    return RunStore(cli.home)


@pytest.fixture(scope="module")
def kmeans_run(cluster):
    result = cluster("submit", "kmeans", *sets(KMEANS), "--json", check=True).json()
    return store_of(cluster).get(result["run_id"])


@pytest.fixture(scope="module")
def grid_run(cluster):
    result = cluster("submit", "gridsearch", *sets(GRID), "--seed", "5", "--json", check=True)
    return store_of(cluster).get(result.json()["run_id"])


def test_a_kmeans_submit_is_recorded_completely(cluster, kmeans_run):
    record = kmeans_run
    assert record["status"] == "succeeded" and record["exit_code"] == 0
    assert record["seed_given"] is False and 0 <= record["seed"] < 2**31  # chosen, recorded
    assert record["params"]["n_blocks"] == 3 and record["params"]["max_iter"] == 300  # defaults
    assert record["cluster"]["provider"] == "local" and record["cluster"]["spec"]["workers"] == 2
    assert record["worker_counts"] and record["worker_counts"][0][1] == 2
    assert record["ended"] >= record["started"] and record["duration_s"] > 0
    versions = record["versions"]
    assert versions["client"]["dask"] and len(versions["cluster"]["workers"]) == 2
    assert versions["mismatches"] == []
    metrics = record["metrics"]
    assert metrics["inertia"] > 0 and metrics["n_iter"] >= 1 and metrics["fit_s"] > 0
    assert sum(metrics["cluster_sizes"]) == 4500
    assert record["git"] is None or len(record["git"]["commit"]) == 40
    folder = store_of(cluster).artifacts_dir(record["id"])
    for name in ("kmeans.png", "workers.png"):
        assert png_size(folder / name) == SIZES[name]
    assert (folder / "cluster_sizes.csv").read_text().startswith("cluster,rows")


def test_a_gridsearch_submit_records_the_search(cluster, grid_run):
    metrics = grid_run["metrics"]
    assert grid_run["seed"] == 5 and grid_run["seed_given"] is True
    assert set(metrics["best_params"]) == {"clf__alpha", "tfidf__norm", "vect__ngram_range"}
    assert len(metrics["cv_results"]) == 8 and 0 < metrics["best_score"] <= 1
    folder = store_of(cluster).artifacts_dir(grid_run["id"])
    assert png_size(folder / "gridsearch.png") == SIZES["gridsearch.png"]
    lines = (folder / "cv_results.csv").read_text().splitlines()
    assert lines[0].startswith("rank,ngram_range,norm,alpha,mean_score,std_score")
    assert len(lines) == 9


def test_runs_lists_filters_and_shows(cluster, kmeans_run, grid_run):
    listed = cluster("runs", "--json", check=True).json()
    ids = [r["id"] for r in listed]
    assert ids.index(grid_run["id"]) < ids.index(kmeans_run["id"])  # newest first
    only = cluster("runs", "--workload", "gridsearch", "--json", check=True).json()
    assert {r["workload"] for r in only} == {"gridsearch"}
    assert len(cluster("runs", "--limit", "1", "--json", check=True).json()) == 1
    assert kmeans_run["id"] in cluster("runs", check=True).out

    shown = cluster("runs", "show", kmeans_run["id"][:9], "--json", check=True).json()
    assert shown["id"] == kmeans_run["id"]
    assert shown["artifact_paths"]["kmeans.png"].endswith(f"{kmeans_run['id']}/kmeans.png")
    text = cluster("runs", "show", kmeans_run["id"], check=True).out
    for fragment in ("metrics.inertia", "params.n_blocks", "kmeans.png", "package versions"):
        assert fragment in text


def test_unknown_run_ids_are_one_line_errors(cluster):
    for args in (["show", "nosuchrun"], ["rerun", "nosuchrun"], ["rm", "nosuchrun"]):
        assert_one_line_error(
            cluster("runs", *args), "no run with id 'nosuchrun'", "scalecloud runs"
        )


def test_rerun_reproduces_kmeans_and_gridsearch(cluster, kmeans_run, grid_run):
    for old in (kmeans_run, grid_run):
        result = cluster("runs", "rerun", old["id"][:8], "--json", check=True).json()
        assert result["rerun_of"] == old["id"] and result["seed"] == old["seed"]
        assert result["reproduced"] and all(row["same"] for row in result["reproduced"]), result
        assert result["client_version_differences"] == []
        new = store_of(cluster).get(result["run_id"])
        assert new["rerun_of"] == old["id"] and new["params"] == old["params"]
    assert new["metrics"]["best_params"] == grid_run["metrics"]["best_params"]
    assert new["metrics"]["best_score"] == grid_run["metrics"]["best_score"]
    text = cluster("runs", "rerun", kmeans_run["id"], check=True).out
    assert "inertia: same" in text and "Package versions: the same" in text

    older = {k: v for k, v in kmeans_run.items() if k != "id"}  # as if made with old numpy
    older["versions"] = dict(
        older["versions"], client={**older["versions"]["client"], "numpy": "0.0.1"}
    )
    older_id = store_of(cluster).insert(older)
    result = cluster("runs", "rerun", older_id, check=True)
    assert f"numpy is {kmeans_run['versions']['client']['numpy']} here, was 0.0.1" in result.err
    assert "inertia: same" in result.out and "Package versions: the same" not in result.out


def test_compare_highlights_differences_and_export_writes_conda_env(cluster, kmeans_run, tmp_path):
    other = cluster("submit", "kmeans", *sets(KMEANS), "--set", "n_clusters=2", "--json")
    other_id = other.json()["run_id"]
    data = cluster("runs", "compare", kmeans_run["id"], other_id, "--json", check=True).json()
    rows = {r["field"]: r for r in data["rows"]}
    assert data["runs"] == [kmeans_run["id"], other_id]
    assert rows["params.n_clusters"] == {
        "field": "params.n_clusters", "values": [3, 2], "differs": True,
    }  # fmt: skip
    assert rows["params.n_blocks"]["differs"] is False
    assert rows["metrics.inertia"]["differs"] is True
    text = cluster("runs", "compare", kmeans_run["id"], other_id, check=True).out
    assert re.search(r"params\.n_clusters\s+│\s+≠", text), text
    assert_one_line_error(cluster("runs", "compare", other_id), "two or more runs")

    yaml = pytest.importorskip("yaml")
    out = tmp_path / "env.yml"
    cluster("runs", "export", kmeans_run["id"], "--format", "environment.yml", "-o", str(out))
    env = yaml.safe_load(out.read_text())
    client = kmeans_run["versions"]["client"]
    assert env["name"] == f"scalecloud-run-{kmeans_run['id']}"
    assert f"dask={client['dask']}" in env["dependencies"]
    assert f"scikit-learn={client['scikit-learn']}" in env["dependencies"]
    assert f"python={client['python']}" in env["dependencies"]
    assert cluster("runs", "export", kmeans_run["id"], check=True).out == out.read_text()
    assert_one_line_error(cluster("runs", "export", kmeans_run["id"], "--format", "x"), "format")


def test_failing_scripts_and_workloads_are_recorded(cluster, tmp_path):
    exits = tmp_path / "exits.py"
    exits.write_text("from dask.distributed import Client\nClient()\nraise SystemExit(3)\n")
    raises = tmp_path / "raises.py"
    raises.write_text("raise RuntimeError('broken on purpose')\n")
    assert cluster("submit", str(exits), "--seed", "7").code == 3
    assert cluster("submit", str(raises)).code == 1
    # A missing data file is refused before anything is recorded (issue 12; it used to be
    # recorded as failed after the run had started).
    bad = cluster("submit", "gridsearch", "--set", f"data={tmp_path / 'missing.csv'}")
    assert bad.code == 1 and "does not exist" in bad.err
    latest = store_of(cluster).list(limit=2)
    raised, exited = latest
    assert (exited["workload"], exited["status"], exited["exit_code"]) == ("exits.py", "failed", 3)
    assert exited["kind"] == "script" and exited["seed"] == 7
    assert len(exited["script"]["sha256"]) == 64 and exited["script"]["path"] == str(exits)
    assert raised["status"] == "failed" and raised["exit_code"] == 1
    assert raised["workload"] == "raises.py" and raised["ended"] is not None


def test_an_interrupted_submit_is_recorded(cluster, tmp_path):
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text("import time\nprint('SLEEPING', flush=True)\ntime.sleep(120)\n")
    before = {r["id"] for r in store_of(cluster).list()}
    proc = cluster.popen("submit", str(sleeper))

    def running():
        return [
            r for r in store_of(cluster).list(status="running", limit=5) if r["id"] not in before
        ]

    assert wait_for(running, timeout=60), proc.communicate()
    time.sleep(1.5)  # into the script
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    record = store_of(cluster).list(workload="sleeper.py", limit=1)[0]
    assert record["id"] not in before
    assert record["status"] == "interrupted" and "interrupted" in record["error"]
    assert record["ended"] is not None and record["exit_code"] == 130


def test_concurrent_submits_each_get_their_own_record(cluster):
    before = {r["id"] for r in store_of(cluster).list()}
    procs = [
        cluster.popen("submit", "kmeans", *sets(KMEANS), "--seed", str(seed), "--json")
        for seed in (11, 12, 13)
    ]
    results = [proc.communicate(timeout=180) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], results
    store = store_of(cluster)
    new = [r for r in store.list() if r["id"] not in before]
    assert sorted(r["seed"] for r in new) == [11, 12, 13]
    assert {r["status"] for r in new} == {"succeeded"}
    assert all(r["metrics"]["inertia"] > 0 for r in new)
    assert store.integrity() == "ok"


def test_no_secret_lands_in_records_or_artifacts(cluster, tmp_path):
    from conftest import Cli

    secrets = {
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET1",
        "AWS_ACCESS_KEY_ID": "AKIAZZZZSECRET2ZZZZZ",
        "PULUMI_CONFIG_PASSPHRASE": "correct-horse-SECRET3",
        "SCALECLOUD_TOKEN": "tok-SECRET4",
    }
    planted = Cli(cluster.home)
    planted.env.update(secrets)
    (cluster.home / "passphrase").write_text("file-passphrase-SECRET5\n")
    script = tmp_path / "noisy.py"
    script.write_text("import os\nprint(sorted(os.environ))\n")
    noisy = planted("submit", str(script), "--", "--api-key=arg-SECRET6", "--token", "arg-SECRET7")
    assert noisy.code == 0 and "AWS_SECRET_ACCESS_KEY" in noisy.out, noisy.err  # it saw them
    planted("submit", "kmeans", *sets(KMEANS), check=True)
    record = store_of(cluster).list(workload="noisy.py", limit=1)[0]
    assert record["script"]["args"] == ["--api-key=***", "--token", "***"]

    files = [p for p in (cluster.home / "runs").rglob("*") if p.is_file()]
    assert any(p.name == "runs.db" for p in files) and any(p.suffix == ".png" for p in files)
    for path in files:
        data = path.read_bytes()
        for n in range(1, 8):
            assert f"SECRET{n}".encode() not in data, f"secret {n} in {path}"
        assert not re.search(rb"AKIA[0-9A-Z]{16}", data), path
        assert b"AWS_SECRET_ACCESS_KEY" not in data and b"PULUMI_CONFIG" not in data, path


def test_run_records_a_failing_script_and_its_cluster(cli, tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("from dask.distributed import Client\nClient()\nraise SystemExit(4)\n")
    assert cli("run", str(script), "--name", "recorded", "--workers", "1").code == 4
    (record,) = store_of(cli).list()
    assert record["status"] == "failed" and record["exit_code"] == 4
    assert record["cluster"]["name"] == "recorded" and record["cluster"]["spec"]["workers"] == 1
    assert cli.records() == []  # torn down as before


def test_rerun_on_a_fresh_cluster_and_rm(cli):
    first = cli("run", "kmeans", *sets(KMEANS), "--seed", "2", "--workers", "1", "--json")
    old_id = first.json()["run_id"]
    again = cli("runs", "rerun", old_id, "--provider", "local", "--json", check=True).json()
    assert all(row["same"] for row in again["reproduced"]) and again["reproduced"]
    assert cli.records() == []  # the fresh cluster is gone
    store = store_of(cli)
    assert store.get(again["run_id"])["cluster"]["name"].startswith("rerun-")
    assert cli("runs", "rm", old_id, check=True).out.strip() == f"Removed run {old_id}"
    assert store.get(old_id) is None and not store.artifacts_dir(old_id).exists()
    assert [r["id"] for r in store.list()] == [again["run_id"]]


def test_every_runs_command_has_help_with_an_example(cli):
    for command in ([], ["show"], ["compare"], ["rerun"], ["export"], ["rm"]):
        result = cli("runs", *command, "--help")
        assert result.code == 0 and "Example" in result.out
        assert "scalecloud runs" in result.out
    assert "--strict-versions" in cli("submit", "--help").out
    assert "--strict-versions" in cli("run", "--help").out


def test_a_run_whose_process_died_shows_as_lost(cluster):
    import socket
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    record = {
        "workload": "kmeans", "status": "running", "started": time.time(), "seed": 1,
        "cluster": {"name": "default", "provider": "local"}, "pid": dead.pid,
        "host": socket.gethostname(), "worker_counts": [],
    }  # fmt: skip
    run_id = store_of(cluster).insert(record)
    listed = {r["id"]: r for r in cluster("runs", "--json", check=True).json()}
    assert listed[run_id]["status"] == "lost"
    assert "lost" in cluster("runs", "show", run_id, check=True).out

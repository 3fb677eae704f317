"""The Recorder around a run (started, completed, or completed from the exception that
ended the run), and the views that ask a record's workload how to present it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.provider import ClusterInfo
from scalecloud.infra.spec import ClusterSpec
from scalecloud.workloads import registry
from scalecloud.workloads.core import Workload, WorkloadResult
from scalecloud.workloads.records import artifacts
from scalecloud.workloads.records import views as runviews
from scalecloud.workloads.records.recorder import Recorder
from scalecloud.workloads.records.store import RunStore
from scalecloud.workloads.request import PreparedRun, RunOutcome
from test_records import a_record

CLUSTER = ClusterInfo("unit", "local", "running", "tcp://127.0.0.1:1", None, ClusterSpec(), 0.0)
KMEANS_RUN = PreparedRun("kmeans", 7, {"n_blocks": 2}, workload=registry.WORKLOADS["kmeans"])


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path)


def recorded(store: RunStore, recorder: Recorder) -> dict[str, Any]:
    record = store.get(recorder.id)
    assert record is not None
    return record


# --- the Recorder as a context manager ------------------------------------------------


def test_the_record_is_written_running_on_start_and_interrupted_by_ctrl_c(store) -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        Recorder.start(KMEANS_RUN, CLUSTER, store=store) as recorder,
    ):
        assert recorded(store, recorder)["status"] == "running"
        assert recorder.finished is False
        raise KeyboardInterrupt
    record = recorded(store, recorder)
    assert (record["status"], record["exit_code"]) == ("interrupted", 130)
    assert record["error"] == "interrupted (Ctrl-C or SIGTERM)"
    assert record["ended"] >= record["started"] and recorder.finished


def test_an_exception_fails_the_record_and_propagates(store) -> None:
    with (
        pytest.raises(ValueError, match="bad rows"),
        Recorder.start(KMEANS_RUN, CLUSTER, store=store) as recorder,
    ):
        raise ValueError("bad rows")
    record = recorded(store, recorder)
    assert (record["status"], record["exit_code"]) == ("failed", 1)
    assert record["error"] == "ValueError: bad rows"


def test_a_scalecloud_error_fails_the_record_with_its_message_and_exit_code(store) -> None:
    with (
        pytest.raises(ScalecloudError),
        Recorder.start(KMEANS_RUN, CLUSTER, store=store) as recorder,
    ):
        raise ScalecloudError("no workers", "scale up", exit_code=3)
    record = recorded(store, recorder)
    assert (record["status"], record["exit_code"], record["error"]) == ("failed", 3, "no workers")


def test_a_record_finished_inside_the_block_is_left_as_it_is(store) -> None:
    with (
        pytest.raises(ScalecloudError),
        Recorder.start(KMEANS_RUN, CLUSTER, store=store) as recorder,
    ):
        recorder.finish("refused", 1, "versions differ (--strict-versions)")
        raise ScalecloudError("versions differ")
    record = recorded(store, recorder)
    assert record["status"] == "refused" and record["error"].endswith("(--strict-versions)")


def test_complete_records_the_outcome_and_the_workloads_artifacts(store) -> None:
    metrics = {"inertia": 12.5, "n_iter": 3, "cluster_sizes": [5, 3, 2]}
    outcome = RunOutcome(
        "kmeans", 7, KMEANS_RUN.params, "succeeded", 0, 1.5,
        WorkloadResult(metrics), worker_counts=[(0.0, 2)],
    )  # fmt: skip
    with Recorder.start(KMEANS_RUN, CLUSTER, store=store) as recorder:
        recorder.complete(outcome)
    record = recorded(store, recorder)
    assert outcome.run_id == recorder.id
    assert (record["status"], record["exit_code"], record["error"]) == ("succeeded", 0, None)
    assert record["metrics"] == metrics and record["run_s"] == 1.5
    assert set(record["artifacts"]) == {
        "workers.csv", "workers.png", "cluster_sizes.csv", "kmeans.png",
    }  # fmt: skip
    assert (store.artifacts_dir(recorder.id) / "kmeans.png").is_file()
    assert runviews.key_metric(record) == "inertia 12.5"


def test_complete_with_a_failed_outcome_keeps_its_exit_code(store, tmp_path) -> None:
    script = tmp_path / "job.py"
    script.write_text("raise SystemExit(2)\n")
    run = PreparedRun("job.py", 1, {"script": str(script)}, script=script)
    with Recorder.start(run, CLUSTER, store=store) as recorder:
        recorder.complete(RunOutcome("job.py", 1, run.params, "failed", 2, 0.1))
    record = recorded(store, recorder)
    assert (record["status"], record["exit_code"], record["error"]) == ("failed", 2, "exit code 2")
    assert record["kind"] == "script" and runviews.key_metric(record) == "exit code 2"


# --- views that ask the workload ------------------------------------------------------


def toy_artifacts(metrics: dict[str, Any], folder: Path) -> list[str]:
    artifacts.write_csv(folder / "losses.csv", [{"loss": v} for v in metrics["losses"]])
    return ["losses.csv"]


@pytest.fixture
def toy(monkeypatch) -> Workload:
    """A workload known only to this test, with its own presentation."""
    workload = Workload(
        name="toy", summary="a test workload", params=(), target="test_recorder:toy_run",
        reproduced=("loss", "steps"), headline="loss {loss:.2f} after {steps} steps",
        artifacts="test_recorder:toy_artifacts",
    )  # fmt: skip
    monkeypatch.setitem(registry.WORKLOADS, "toy", workload)
    return workload


def test_views_present_a_run_the_way_its_workload_says(toy, tmp_path) -> None:
    old = a_record(workload="toy", kind="workload", exit_code=0,
                   metrics={"loss": 0.5, "steps": 10, "inertia": 1.0, "losses": [0.9, 0.5]})  # fmt: skip
    new = a_record(workload="toy", kind="workload", exit_code=0,
                   metrics={"loss": 0.25, "steps": 10, "inertia": 1.0})  # fmt: skip
    assert runviews.key_metric(old) == "loss 0.50 after 10 steps"
    rows = runviews.reproduction(old, new)
    assert [(r["metric"], r["same"]) for r in rows] == [("loss", False), ("steps", True)]
    names = artifacts.write_artifacts(old, tmp_path / "toy")
    assert names == ["losses.csv"]
    assert (tmp_path / "toy" / "losses.csv").read_text().splitlines() == ["loss", "0.9", "0.5"]
    # Without a metric the headline needs, the exit code.
    assert runviews.key_metric(a_record(workload="toy", exit_code=0, metrics={})) == "exit code 0"
    assert runviews.key_metric(a_record(workload="toy", metrics={"loss": 1.0})) == "-"


def test_key_metric_of_the_built_in_workloads_and_of_scripts() -> None:
    kmeans = a_record(exit_code=0, metrics={"inertia": 1234567.891, "n_iter": 4})
    assert runviews.key_metric(kmeans) == f"inertia {1234567.891:.6g}" == "inertia 1.23457e+06"
    grid = a_record(workload="gridsearch", exit_code=0, metrics={"best_score": 0.91234})
    assert runviews.key_metric(grid) == "best score 0.9123"
    nn = a_record(workload="nnsearch", exit_code=0, metrics={"best_score": 0.975})
    assert runviews.key_metric(nn) == "best score 0.9750"
    script = a_record(workload="train.py", kind="script", exit_code=0, metrics=None)
    assert runviews.key_metric(script) == "exit code 0"
    assert runviews.key_metric(a_record(status="running", exit_code=None)) == "-"
    failed = a_record(exit_code=1, metrics=None, status="failed")
    assert runviews.key_metric(failed) == "exit code 1"


def test_reproduction_uses_the_workloads_metrics_and_nothing_for_unknown_ones() -> None:
    old = a_record(metrics={"inertia": 10.0, "n_iter": 3, "cluster_sizes": [2, 1], "fit_s": 1.0})
    new = a_record(metrics={"inertia": 10.0, "n_iter": 3, "cluster_sizes": [2, 1], "fit_s": 2.0})
    rows = runviews.reproduction(old, new)
    assert [r["metric"] for r in rows] == ["inertia", "n_iter", "cluster_sizes"]
    assert all(r["same"] for r in rows)
    gone = a_record(workload="retired", metrics={"inertia": 1.0})
    assert runviews.reproduction(gone, gone) == []
    script = a_record(workload="job.py", kind="script", exit_code=0, metrics=None)
    assert runviews.reproduction(script, dict(script, exit_code=2)) == [
        {"metric": "exit_code", "before": 0, "after": 2, "same": False}
    ]


def test_status_of_a_running_record_whose_process_is_gone_is_lost() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()
    assert runviews.status_of(a_record(status="running", host=here, pid=dead.pid)) == "lost"
    assert runviews.status_of(a_record(status="running", host=here, pid=os.getpid())) == "running"
    elsewhere = a_record(status="running", host=f"not-{here}", pid=dead.pid)
    assert runviews.status_of(elsewhere) == "running"
    assert runviews.status_of(a_record(status="failed", host=here, pid=dead.pid)) == "failed"


def test_compare_leaves_out_tables_and_matrices_but_keeps_plain_lists() -> None:
    metrics = {
        "inertia": 1.0, "centers": [[0.0, 1.0], [1.0, 0.0]], "cv_results": [{"rank": 1}],
        "inertia_history": [3.0, 1.0], "cluster_sizes": [4, 6], "best_params": {"alpha": 0.1},
    }  # fmt: skip
    rows = {r["field"]: r for r in runviews.compare_rows([a_record(metrics=metrics)] * 2)}
    assert "metrics.centers" not in rows and "metrics.cv_results" not in rows
    assert rows["metrics.inertia_history"]["values"] == [[3.0, 1.0]] * 2
    assert rows["metrics.cluster_sizes"]["differs"] is False
    assert rows["metrics.best_params.alpha"]["values"] == [0.1, 0.1]

"""Bad input: one line with a hint, a non-zero exit, and nothing created or left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from scalecloud.infra.local.driver import session_processes


def supervisors_of(home) -> list[int]:
    """Supervisor processes started for this state directory, alive or not yet reaped."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "scalecloud.infra.local.supervisor" in cmd and str(home) in cmd:
            found.append(proc.pid)
    return found


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("Error: ") and " Hint: " in lines[0]
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0]


BAD_INPUTS = [
    (["up", "--provider", "gcpx"], ["unknown provider 'gcpx'", "local"]),
    (["up", "--name", "Bad_Name"], ["invalid cluster name 'Bad_Name'"]),
    (["up", "--memory-per-worker", "lots"], ["invalid --memory-per-worker 'lots'"]),
    (["up", "--memory-per-worker", "-2GiB"], ["--memory-per-worker"]),
    (["up", "--adapt", "4:1"], ["invalid adaptive range '4:1'"]),
    (["up", "--idle-timeout", "soon"], ["invalid --idle-timeout 'soon'"]),
    (["up", "--workers", "-1"], ["--workers must be >= 0"]),
    (["up", "--port", "70000"], ["--port must be 0-65535"]),
    (["submit", "nope"], ["unknown workload 'nope'", "kmeans, gridsearch"]),
    (["submit", "kmeans", "--set", "n_blocks=abc"], ["invalid value 'abc' for n_blocks"]),
    (["submit", "kmeans", "--set", "n_blocks=-5"], ["n_blocks must be >= 1, got -5"]),
    (["submit", "kmeans", "--set", "rows_per_block=0"], ["rows_per_block must be >= 1"]),
    (["submit", "kmeans", "--set", "colour=blue"], ["unknown parameter 'colour'", "n_blocks"]),
    (["submit", "gridsearch", "--set", "norms=l3"], ["invalid value 'l3' for norms"]),
    (["submit", "nnsearch", "--set", "backend=torch"], ["invalid value 'torch' for backend"]),
    (["submit", "nnsearch", "--set", "widths=0"], ["widths must be >= 1"]),
    (["run", "nnsearch", "--set", "test_size=2"], ["test_size must be between 0 and 1"]),
    (["submit", "missing_script.py"], ["script missing_script.py does not exist"]),
    (["submit", "kmeans"], ["no cluster is running", "scalecloud up"]),
    (["run", "kmeans", "--set", "n_blocks=0"], ["n_blocks must be >= 1"]),
    (["run", "kmeans", "--provider", "nowhere"], ["unknown provider 'nowhere'"]),
    (["scale", "3", "--adapt", "1:2"], ["either a worker count or --adapt"]),
    (["scale", "3"], ["no cluster is running"]),
    (["dashboard"], ["no cluster is running"]),
    (["status", "--name", "ghost"], ["no cluster named 'ghost'"]),
]


@pytest.mark.parametrize(
    ("args", "fragments"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS]
)
def test_bad_input_is_one_line_and_creates_nothing(cli, args, fragments):
    result = cli(*args, timeout=60)
    assert_one_line_error(result, *fragments)
    assert result.code == 1
    assert cli.records() == []
    assert supervisors_of(cli.home) == []


USAGE_ERRORS = [
    (["submit", "kmeans", "--bogus"], "No such option: --bogus"),
    (["up", "--workers", "abc"], "Invalid value for '--workers'"),
    (["frob"], "No such command 'frob'"),
]


@pytest.mark.parametrize(
    ("args", "message"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS]
)
def test_usage_errors_show_usage_and_exit_2(cli, args, message):
    result = cli(*args, timeout=60)
    assert result.code == 2
    assert f"Error: {message}" in result.err and "-h' for help" in result.err
    assert "Traceback" not in result.err and "unexpected" not in result.err
    assert cli.records() == []


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "submit", "nope")
    assert result.code == 1
    assert "Traceback" in result.err and "ScalecloudError" in result.err
    assert "unknown workload 'nope'" in result.err


def test_a_port_already_taken_is_refused_before_anything_starts(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("up", "--port", str(port))
        dash = cli("up", "--dashboard-port", str(port))
    assert_one_line_error(result, f"port {port} on 127.0.0.1 is already in use", "--port")
    assert_one_line_error(dash, f"port {port}", "--dashboard-port")
    assert cli.records() == []
    assert supervisors_of(cli.home) == []


def test_a_dead_cluster_is_reported_and_cleaned_up(cli):
    cli("up", "--name", "doomed", "--workers", "1", check=True)
    sid = cli("status", "--name", "doomed", "--json", check=True).json()["details"]["pid"]
    for pid in session_processes(sid):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.1)

    status = cli("status", "--name", "doomed", "--json", check=True).json()
    assert status["state"] == "dead"
    assert "scalecloud down --name doomed" in cli("status", check=True).out
    submit = cli("submit", "kmeans", "--set", "n_blocks=1")
    assert_one_line_error(submit, "cluster 'doomed' is dead", "scalecloud down --name doomed")

    cli("down", check=True)
    assert cli.records() == []
    assert session_processes(sid) == []


def test_help_is_fast_and_imports_nothing_heavy():
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scalecloud.cli", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0 and "submit" in proc.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if "|" in line
    }
    heavy = {"dask", "distributed", "dask_ml", "sklearn", "numpy", "pandas", "pulumi", "psutil"}
    assert imported & heavy == set()
    assert "typer" in imported  # the probe works: it sees what was imported
    assert elapsed < 3.0


def test_every_command_has_help_with_an_example(cli):
    for command in (
        "up", "status", "scale", "down", "dashboard", "submit", "run", "workloads", "env", "image",
        "plan",
    ):  # fmt: skip
        result = cli(command, "--help")
        assert result.code == 0
        assert "Example" in result.out and f"scalecloud {command}" in result.out


def test_workloads_lists_parameters_and_defaults(cli):
    listing = {w["name"]: w for w in cli("workloads", "--json", check=True).json()}
    assert set(listing) == {"kmeans", "gridsearch", "nnsearch", "sgd", "predict"}
    kmeans = {p["name"]: p for p in listing["kmeans"]["params"]}
    assert kmeans["n_blocks"]["default"] == "100" and kmeans["rows_per_block"]["default"] == "20000"
    assert kmeans["n_centers"]["default"] == "12" and kmeans["n_features"]["default"] == "20"
    grid = {p["name"]: p for p in listing["gridsearch"]["params"]}
    assert grid["cv"]["default"] == "5" and grid["norms"]["default"] == "l1,l2"
    nn = {p["name"]: p for p in listing["nnsearch"]["params"]}
    assert nn["widths"]["default"] == "100,200,300" and nn["epochs"]["default"] == "30"
    assert "Adam" in listing["nnsearch"]["notes"] and "RMSprop" in listing["nnsearch"]["notes"]
    text = cli("workloads", check=True).out
    assert "n_blocks" in text and "scalecloud submit path/to/script.py" in text

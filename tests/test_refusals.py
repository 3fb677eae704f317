"""Bad input is refused before anything is created or recorded, in one line, fast; Ctrl-C and
SIGTERM end submit and run with their exit codes, a completed record and nothing left."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from scalecloud.infra.local.driver import session_processes
from scalecloud.workloads.records.store import RunStore
from test_cli_errors import assert_one_line_error
from test_lifecycle import record_pid, wait_for


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text("body,stars\n" + "good film,1\nbad film,0\n" * 20)
    return path


def refusals(table: Path) -> list[tuple[list[str], str]]:
    return [
        (["gridsearch", "--set", "data=missing.csv"], "missing.csv does not exist"),
        (["gridsearch", "--set", f"data={table}"], "column 'text' is not in"),
        (["gridsearch", "--set", f"data={table}", "--set", "text_column=body"],
         "column 'label' is not in"),
        (["gridsearch", "--set", "n_docs=10", "--set", "n_classes=3"],
         "10 documents cannot be split into 5 folds"),
        (["nnsearch", "--set", f"data={table}", "--set", "label_column=grade"],
         "column 'grade' is not in"),
        (["kmeans", "--set", "n_blocks=1", "--set", "rows_per_block=10"],
         "12 clusters need at least as many rows"),
        (["kmeans", "--set", "rows_per_block=20000000"], "a block must fit in a worker"),
        (["missing_script.py"], "script missing_script.py does not exist"),
    ]  # fmt: skip


@pytest.mark.parametrize("provider", ["local", "gcp"])
def test_run_refuses_bad_input_before_anything_exists(cli, table, provider):
    for args, message in refusals(table):
        started = time.monotonic()
        result = cli("run", *args, "--provider", provider)
        elapsed = time.monotonic() - started
        assert_one_line_error(result, message)
        # typically 0.4-1 s, the CLI's start; a cluster would take longer, and write state
        assert elapsed < 5.0, f"{args}: {elapsed:.2f} s"
        assert not cli.home.exists(), f"{args} wrote state"


def test_submit_refuses_bad_input_before_recording(cli, table):
    cli("up", "--name", "r1", "--workers", "1", check=True)
    for args, message in refusals(table):
        assert_one_line_error(cli("submit", *args), message)
    assert RunStore(cli.home).list() == []


def test_a_table_that_has_the_columns_passes_the_check(cli, table):
    result = cli("run", "gridsearch", "--set", f"data={table}", "--set", "text_column=body",
                 "--set", "label_column=stars", "--set", "cv=2", "--workers", "1", "--json")  # fmt: skip
    assert result.code == 0, result.err
    assert result.json()["metrics"]["n_docs"] == 40


def interrupt(cli, args: list[str], sig: int, name: str) -> tuple[int, str, int]:
    """Start ``scalecloud *args``, send ``sig`` once its workload runs; (code, stderr, sid)."""
    proc = cli.popen(*args)
    sid = wait_for(lambda: record_pid(cli, name), timeout=60, interval=0.1)
    assert sid, proc.communicate()
    assert wait_for(lambda: RunStore(cli.home).list(status="running"), timeout=60, interval=0.1)
    time.sleep(1.0)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err, sid


SLEEPER = "import time\nfrom dask.distributed import Client\nClient()\ntime.sleep(120)\n"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_run_ended_by_a_signal(cli, tmp_path, sig, code):
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    got, err, sid = interrupt(cli, ["run", str(script), "--name", "sig", "--workers", "1"],
                              sig, "sig")  # fmt: skip
    assert got == code, err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: terminated (SIGTERM)" if code == 143 else "Error: interrupted"]
    assert "Traceback" not in err and "never retrieved" not in err, err
    (record,) = RunStore(cli.home).list()
    assert (record["status"], record["exit_code"]) == ("interrupted", code)
    assert wait_for(lambda: session_processes(sid) == [], timeout=30)
    assert cli.records() == []


def test_submit_ended_by_sigterm(cli, tmp_path):
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    cli("up", "--name", "term", "--workers", "1", check=True)
    got, err, _ = interrupt(cli, ["submit", str(script), "--name", "term"], signal.SIGTERM,
                            "term")  # fmt: skip
    assert got == 143, err
    assert "terminated" in err and "Traceback" not in err and "never retrieved" not in err
    (record,) = RunStore(cli.home).list()
    assert (record["status"], record["exit_code"]) == ("interrupted", 143)
    assert cli("status", "--name", "term", "--json", check=True).json()["state"] == "running"

"""Adaptive scaling, idle timeout, and `run` with guaranteed teardown, on real processes."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time

import psutil
from scalecloud.infra.local.driver import session_processes

BURST = textwrap.dedent(
    """
    import time
    from dask.distributed import Client

    def work(i):
        time.sleep(1.0)
        return i

    client = Client()
    futures = client.map(work, range(40))
    most = 0
    while not all(f.done() for f in futures):
        most = max(most, len(client.scheduler_info()["workers"]))
        time.sleep(0.2)
    print("SUM", sum(client.gather(futures)))
    print("MAX_WORKERS", most)
    """
)


def wait_for(predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def record_pid(cli, name: str) -> int | None:
    path = cli.home / "clusters" / f"{name}.json"
    try:
        return json.loads(path.read_text())["pid"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_adaptive_cluster_grows_with_work_and_falls_back(cli, tmp_path):
    cli("up", "--name", "elastic", "--adapt", "1:4", check=True)
    status = cli("status", "--json", check=True).json()[0]
    assert status["adapt"] == [1, 4] and status["worker_count"] == 1

    script = tmp_path / "burst.py"
    script.write_text(BURST)
    result = cli("submit", str(script), check=True)
    assert "SUM 780" in result.out
    most = int(result.out.split("MAX_WORKERS")[1].split()[0])
    assert most > 1, f"the cluster never grew: {result.out}"

    def back_to_one():
        return cli("status", "--json").json()[0]["worker_count"] == 1

    assert wait_for(back_to_one, timeout=60), "the cluster did not fall back to its minimum"


def test_idle_timeout_stops_the_cluster_and_cleans_its_state(cli):
    cli("up", "--name", "sleepy", "--workers", "1", "--idle-timeout", "2s", check=True)
    sid = record_pid(cli, "sleepy")
    assert sid and session_processes(sid)
    assert wait_for(lambda: cli.records() == [] and not session_processes(sid), timeout=60)
    assert "No cluster is running" in cli("status", check=True).out


def test_run_starts_submits_and_tears_down(cli):
    result = cli(
        "run", "kmeans", "--set", "n_blocks=2", "--set", "rows_per_block=1000", "--seed", "1",
        "--name", "oneshot", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = result.json()
    assert data["status"] == "succeeded" and data["cluster"] == "oneshot"
    assert data["metrics"]["n_rows"] == 2000
    assert cli.records() == []


def test_run_tears_down_after_a_failing_script(cli, tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("from dask.distributed import Client\nClient()\nraise SystemExit(4)\n")
    result = cli("run", str(script), "--name", "failing", "--workers", "1")
    assert result.code == 4
    assert cli.records() == []


def test_run_interrupted_with_ctrl_c_leaves_no_process(cli):
    proc = cli.popen(
        "run", "kmeans", "--set", "n_blocks=400", "--name", "interrupted", "--workers", "2"
    )
    sid = wait_for(lambda: record_pid(cli, "interrupted"), timeout=60, interval=0.1)
    assert sid, "the cluster never came up"
    time.sleep(2.0)  # into the workload
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert session_processes(sid) == []
    assert cli.records() == []


def test_a_killed_run_does_not_leave_its_cluster_behind(cli, tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(
        "import time\nfrom dask.distributed import Client\nClient()\ntime.sleep(60)\n"
    )
    proc = cli.popen("run", str(script), "--name", "orphan", "--workers", "1")
    sid = wait_for(lambda: record_pid(cli, "orphan"), timeout=60, interval=0.1)
    assert sid
    wait_for(lambda: psutil.Process(proc.pid).children(), timeout=30, interval=0.1)
    for child in psutil.Process(proc.pid).children(recursive=True):
        if os.getsid(child.pid) != sid:  # the script, not the cluster
            child.kill()
    proc.kill()  # SIGKILL: no teardown code of the CLI runs
    proc.communicate()
    assert wait_for(lambda: not session_processes(sid) and cli.records() == [], timeout=60)

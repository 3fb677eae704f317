"""The state directory under stress, with real CLI processes: a damaged cluster record or
runs.db, a full disk, and 20 commands at once on 4 clusters."""

from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from scalecloud.infra.local.driver import session_processes
from scalecloud.workloads.records.store import RunStore
from test_cli_errors import assert_one_line_error
from test_lifecycle import record_pid

TINY = ["--set", "n_blocks=2", "--set", "rows_per_block=500", "--set", "n_features=3",
        "--set", "n_centers=2", "--set", "n_clusters=2"]  # fmt: skip


def test_a_damaged_cluster_record_is_named_and_the_others_still_work(cli):
    cli("up", "--name", "good", "--workers", "1", check=True)
    cli("up", "--name", "bad", "--workers", "1", check=True)
    bad_pid = record_pid(cli, "bad")
    path = cli.home / "clusters" / "bad.json"
    path.write_text('{"name": "bad", "provid')  # damaged from outside
    assert_one_line_error(cli("status", "--name", "bad"), f"the cluster record {path} is damaged",
                          "mv")  # fmt: skip
    listed = cli("status", "--json")
    assert listed.code == 0 and [c["name"] for c in listed.json()] == ["good"]
    assert f"{path} is damaged" in listed.err
    assert (
        cli("submit", "kmeans", *TINY, "--name", "good", "--json", check=True).json()["status"]
        == "succeeded"
    )
    down = cli("down", "--all")
    assert down.code == 1 and f"{path} is damaged" in down.err
    assert cli.records() == ["bad.json"]  # the good one is down, the damaged one is left
    path.rename(path.with_suffix(".broken"))
    for pid in session_processes(bad_pid):
        subprocess.run(["kill", "-9", str(pid)], check=False)


def test_a_damaged_runs_db_is_named_and_clusters_still_work(cli):
    cli("up", "--name", "c1", "--workers", "1", check=True)
    db = cli.home / "runs" / "runs.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    assert_one_line_error(cli("runs"), f"the run records in {db} could not be used", "mv")
    assert_one_line_error(cli("submit", "kmeans", *TINY), str(db))
    assert cli("status", "--name", "c1", "--json", check=True).json()["state"] == "running"
    assert db.read_bytes() == b"this is not a database" * 100  # left as it was


def limited(limit: int):
    """A CLI process whose files cannot grow past ``limit`` bytes (a full disk for it)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_out_of_space_is_a_clear_error_and_corrupts_nothing(cli):
    cli("up", "--name", "full", "--workers", "1", check=True)
    first = cli("submit", "kmeans", *TINY, "--name", "full", "--json", check=True).json()
    store = RunStore(cli.home)
    db = store.db_path
    record = cli.home / "clusters" / "full.json"
    before = record.read_text()
    proc = subprocess.run(
        [sys.executable, "-m", "scalecloud.cli", "submit", "kmeans", *TINY, "--name", "full"],
        env=cli.env, capture_output=True, text=True, timeout=120,
        preexec_fn=limited(db.stat().st_size // 2),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(type("R", (), {"code": 1, "err": proc.stderr})(), str(db), "free space")
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [r["id"] for r in store.list()] == [first["run_id"]]
    assert store.list()[0]["status"] == "succeeded"
    # A cluster record that cannot be written: the old one stays whole.
    proc = subprocess.run(
        [sys.executable, "-m", "scalecloud.cli", "up", "--name", "full2", "--workers", "1"],
        env=cli.env, capture_output=True, text=True, timeout=120, preexec_fn=limited(64),
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert record.read_text() == before
    assert sorted(cli.records()) == ["full.json"]


def test_twenty_commands_at_once_leave_the_state_consistent(cli):
    names = ["n1", "n2", "n3", "n4"]
    commands = [["up", "--name", n, "--workers", "1"] for n in names]
    commands += [["status", "--name", n] for n in names]
    commands += [["submit", "kmeans", *TINY, "--name", n] for n in names for _ in range(2)]
    commands += [["status"], ["runs"]]
    commands += [["down", "--name", n] for n in names[:2]]
    assert len(commands) == 20
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda args: cli(*args, timeout=300), commands))
    for args, result in zip(commands, results, strict=True):
        assert "Traceback" not in result.err, (args, result.err)
        if result.code:
            assert_one_line_error(result)
    store = RunStore(cli.home)
    assert store.integrity() == "ok"
    assert all(r["status"] != "running" for r in store.list()), [r["status"] for r in store.list()]
    for name in names:  # every record that is left is a live cluster, every live one has one
        path = cli.home / "clusters" / f"{name}.json"
        if path.exists():
            data = json.loads(path.read_text())
            assert cli("status", "--name", name, "--json", check=True).json()["state"] == "running"
            assert session_processes(data["pid"])
    cli("down", "--all", check=True)
    assert cli.records() == []

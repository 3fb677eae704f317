"""Unit tests for infra/state.py: the state directory, atomic JSON files and the lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path

import pytest
from scalecloud.infra import state
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.state import StateStore, read_json, state_home, write_json_atomic

N_PROCESSES = 8
N_INCREMENTS = 25


# Module-level so that "spawn" children can import them by name.
def increment_counter(home: str, times: int) -> None:
    store = StateStore(Path(home))
    for _ in range(times):
        with store.lock():
            record = store.get("counter") or {"count": 0}
            record["count"] += 1
            store.put("counter", record)


def write_own_record(home: str, index: int) -> None:
    store = StateStore(Path(home))
    name = f"worker-{index}"
    for round_ in range(10):
        store.put(name, {"index": index, "round": round_, "pad": "x" * 2000})


def run_processes(target, args_list: list[tuple]) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    for proc in procs:
        if proc.is_alive():  # pragma: no cover - only on a hang
            proc.kill()
            proc.join()
    assert [p.exitcode for p in procs] == [0] * len(procs)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- state_home -----------------------------------------------------------------------


def test_state_home_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "not" / "there"
    monkeypatch.setenv("SCALECLOUD_HOME", str(home))
    assert state_home() == home
    assert not home.exists()
    assert not (tmp_path / "not").exists()


def test_state_home_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SCALECLOUD_HOME", "~/sc-home")
    assert state_home() == tmp_path / "sc-home"
    assert not (tmp_path / "sc-home").exists()


def test_state_home_default_without_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SCALECLOUD_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    home = state_home()
    assert home.name == "scalecloud"
    assert home != tmp_path
    assert not home.exists()


def test_empty_env_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCALECLOUD_HOME", "")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert state_home().name == "scalecloud"


def test_store_uses_state_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SCALECLOUD_HOME", str(home))
    store = StateStore()
    assert store.home == home
    assert store.clusters_dir == home / "clusters"
    assert store.record_path("exp-1") == home / "clusters" / "exp-1.json"
    assert store.log_path("exp-1") == home / "clusters" / "exp-1.log"
    # reading creates nothing
    assert store.names() == []
    assert store.records() == []
    assert store.get("exp-1") is None
    assert not home.exists()


# --- write_json_atomic / read_json ----------------------------------------------------


def test_write_json_atomic_creates_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "record.json"
    write_json_atomic(path, {"x": 1, "y": [1, 2]})
    assert json.loads(path.read_text()) == {"x": 1, "y": [1, 2]}
    assert leftovers(path.parent) == []
    assert sorted(p.name for p in path.parent.iterdir()) == ["record.json"]


def test_write_json_atomic_replaces(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_json_atomic(path, {"v": 1})
    inode_before = path.stat().st_ino
    write_json_atomic(path, {"v": 2})
    assert read_json(path) == {"v": 2}
    # a new file was renamed over the old one, not the old one rewritten in place
    assert path.stat().st_ino != inode_before
    assert leftovers(tmp_path) == []


def test_write_json_atomic_failure_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_json_atomic(path, {"v": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"v": object()})
    assert read_json(path) == {"v": 1}
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


def test_readers_never_see_a_torn_file(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    payloads = [{"n": i, "pad": str(i) * 50_000} for i in range(2)]
    write_json_atomic(path, payloads[0])
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            write_json_atomic(path, payloads[i % 2])
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = set()
        for _ in range(300):
            data = read_json(path)
            assert data is not None, "a reader saw a half-written file"
            assert data in payloads
            seen.add(data["n"])
    finally:
        stop.set()
        thread.join()
    assert leftovers(tmp_path) == []


def test_read_json_missing(tmp_path: Path) -> None:
    assert read_json(tmp_path / "missing.json") is None
    assert read_json(tmp_path / "no" / "dir.json") is None


@pytest.mark.parametrize(
    "content", [b"", b'{"a": 1', b"{not json}", b'{"a": 1}\n{"b": 2}', b"\xff\xfe\x00garbage"]
)
def test_read_json_torn(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "torn.json"
    path.write_bytes(content)
    assert read_json(path) is None


def test_read_json_valid(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text('{"name": "exp-1", "workers": [1, 2]}')
    assert read_json(path) == {"name": "exp-1", "workers": [1, 2]}


# --- StateStore -----------------------------------------------------------------------


def test_store_put_get_names_remove(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "home")
    assert store.names() == []
    store.put("beta", {"name": "beta", "workers": 2})
    store.put("alpha", {"name": "alpha", "workers": 1})
    assert store.names() == ["alpha", "beta"]
    assert store.get("alpha") == {"name": "alpha", "workers": 1}
    assert store.get("gamma") is None
    assert [r["name"] for r in store.records()] == ["alpha", "beta"]

    store.put("alpha", {"name": "alpha", "workers": 5})
    assert store.get("alpha") == {"name": "alpha", "workers": 5}
    assert store.names() == ["alpha", "beta"]

    store.log_path("alpha").write_text("log line\n")
    store.remove("alpha")
    assert store.names() == ["beta"]
    assert store.get("alpha") is None
    assert not store.log_path("alpha").exists()
    store.remove("alpha")  # removing twice is fine
    store.remove("never-existed")
    assert store.names() == ["beta"]
    assert leftovers(store.clusters_dir) == []


def test_store_records_skip_torn(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.put("good", {"name": "good"})
    store.record_path("bad").write_text("{")
    (store.clusters_dir / "notes.txt").write_text("not a record")
    assert store.names() == ["bad", "good"]
    assert store.records() == [{"name": "good"}]


def test_store_ignores_temp_files(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.put("a", {"name": "a"})
    (store.clusters_dir / ".a.json.abc.tmp").write_text("{")
    assert store.names() == ["a"]


def test_lock_creates_home_and_is_released(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    store = StateStore(home)
    with store.lock():
        assert home.is_dir()
        assert (home / "state.lock").exists()
    with store.lock():  # released after the first block
        pass


def test_lock_timeout_raises_scalecloud_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filelock import FileLock

    monkeypatch.setattr(state, "LOCK_TIMEOUT_S", 0.2)
    store = StateStore(tmp_path)
    # a second, independent lock object on the same file stands in for another process
    holder = FileLock(str(tmp_path / "state.lock"), is_singleton=False)
    with holder, pytest.raises(ScalecloudError) as info, store.lock():
        pytest.fail("the lock was acquired while another holder had it")
    assert "locked" in info.value.message
    assert str(tmp_path) in info.value.message
    assert info.value.hint


# --- concurrency ----------------------------------------------------------------------


def test_concurrent_increments_under_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_processes(increment_counter, [(str(home), N_INCREMENTS)] * N_PROCESSES)
    store = StateStore(home)
    assert store.get("counter") == {"count": N_PROCESSES * N_INCREMENTS}
    for path in store.clusters_dir.glob("*.json"):
        json.loads(path.read_text())  # every record parses
    assert leftovers(store.clusters_dir) == []


def test_concurrent_writers_of_own_records(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_processes(write_own_record, [(str(home), i) for i in range(N_PROCESSES)])
    store = StateStore(home)
    assert store.names() == sorted(f"worker-{i}" for i in range(N_PROCESSES))
    records = store.records()
    assert len(records) == N_PROCESSES
    for i in range(N_PROCESSES):
        record = json.loads(store.record_path(f"worker-{i}").read_text())
        assert record == {"index": i, "round": 9, "pad": "x" * 2000}
    assert leftovers(store.clusters_dir) == []
    assert sorted(os.listdir(store.clusters_dir)) == [
        f"worker-{i}.json" for i in range(N_PROCESSES)
    ]

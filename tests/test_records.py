"""Run records without the CLI: the SQLite store and its migrations, ids, redaction, plots,
the views derived from records, and the version check on a real in-process cluster."""

from __future__ import annotations

import json
import sqlite3
import struct
import threading
import time
from pathlib import Path

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.kmeans import plots as kmeans_plots
from scalecloud.workloads.records import artifacts
from scalecloud.workloads.records import recorder as recording
from scalecloud.workloads.records import store as records
from scalecloud.workloads.records import views as runviews
from scalecloud.workloads.search import plots as search_plots
from scalecloud.workloads.search.gridsearch import WORKLOAD as GRID

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Every plot's size in pixels, by file name: each workload's own and the workers'.
SIZES = {**artifacts.SIZES, **kmeans_plots.SIZES, **search_plots.SIZES}


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def a_record(**fields) -> dict:
    record = {
        "workload": "kmeans", "status": "succeeded", "started": time.time(), "seed": 1,
        "cluster": {"name": "default", "provider": "local"}, "params": {},
    }  # fmt: skip
    record.update(fields)
    return record


# --- the store ------------------------------------------------------------------------


def test_ids_are_short_sortable_and_unique() -> None:
    ids = [records.new_run_id(1_700_000_000 + i / 1000) for i in range(200)]
    assert all(len(i) == 12 and i.isalnum() for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 200
    same_ms = {records.new_run_id(1_700_000_000.0) for _ in range(200)}
    assert len(same_ms) == 200


def test_store_inserts_updates_lists_and_finds_by_prefix(tmp_path: Path) -> None:
    store = records.RunStore(tmp_path)
    assert store.list() == [] and not store.db_path.exists()  # reading creates nothing
    first = store.insert(a_record(started=1000.0, id="aaaa00000001"))
    second = store.insert(a_record(started=2000.0, workload="gridsearch", id="aaab00000002"))
    record = store.get(first)
    record["status"] = "failed"
    store.update(record)
    assert [r["id"] for r in store.list()] == [second, first]  # newest first
    assert [r["id"] for r in store.list(status="failed")] == [first]
    assert [r["id"] for r in store.list(workload="gridsearch")] == [second]
    assert store.find("aaab")["id"] == second
    with pytest.raises(ScalecloudError, match="ambiguous"):
        store.find("aaa")
    with pytest.raises(ScalecloudError, match="no run with id 'zzz'") as info:
        store.find("zzz")
    assert "scalecloud runs" in info.value.hint
    store.remove(first)
    assert store.get(first) is None and store.integrity() == "ok"
    mode = sqlite3.connect(store.db_path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_an_older_schema_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    store = records.RunStore(tmp_path)
    store.home.mkdir(parents=True)
    old = sqlite3.connect(store.db_path)
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    records.MIGRATIONS[0](old)  # the version-1 schema, as an old scalecloud wrote it
    old.execute("INSERT INTO schema_version VALUES (1)")
    data = a_record(id="old000000001", started=5.0, duration_s=2.5, error="boom")
    data["cluster"] = {"name": "exp", "provider": "local"}
    old.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("old000000001", "kmeans", "failed", 5.0, 7.5, 1, json.dumps(data)),
    )
    old.commit()
    old.close()

    assert store.get("old000000001")["error"] == "boom"
    db = sqlite3.connect(store.db_path)
    assert records.schema_version(db) == records.SCHEMA_VERSION == 2
    row = db.execute("SELECT provider, cluster, error, duration_s FROM runs").fetchone()
    assert row == ("local", "exp", "boom", 2.5)
    store.insert(a_record())  # the migrated table takes new rows
    assert len(store.list()) == 2


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = records.RunStore(tmp_path)
    store.insert(a_record())
    with sqlite3.connect(store.db_path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(ScalecloudError, match="newer scalecloud"):
        store.list()


def test_concurrent_writers_each_get_their_row(tmp_path: Path) -> None:
    store = records.RunStore(tmp_path)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                record = a_record(seed=n * 100 + i)
                records.RunStore(tmp_path).insert(record)
                record["status"] = "failed"
                records.RunStore(tmp_path).update(record)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = store.list()
    assert len(rows) == 60 and len({r["id"] for r in rows}) == 60
    assert {r["status"] for r in rows} == {"failed"}
    assert store.integrity() == "ok"


# --- redaction ------------------------------------------------------------------------


def test_redact_hides_credential_like_values() -> None:
    clean = recording.redact(
        {
            "password": "hunter2",
            "params": {"api_key": "abc", "n_tokens_seen": 3, "data": "/tmp/x.csv"},
            "note": "key AKIAABCDEFGHIJKLMNOP and postgres://me:pa55@db/x, token=ghp_abc",
            "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        }
    )
    text = json.dumps(clean)
    for secret in ("hunter2", '"abc"', "AKIAABCDEFGHIJKLMNOP", "pa55", "ghp_abc", "MIIE"):
        assert secret not in text
    assert clean["params"]["n_tokens_seen"] == 3 and clean["params"]["data"] == "/tmp/x.csv"
    assert recording.redact_args(["--token", "s3cret", "--epochs=3", "--password=x", "in.csv"]) == [
        "--token", "***", "--epochs=3", "--password=***", "in.csv",
    ]  # fmt: skip


# --- plots and artifacts --------------------------------------------------------------


def test_artifacts_are_csv_tables_and_pngs_of_the_expected_size(tmp_path: Path) -> None:
    record = a_record(
        metrics={
            "inertia": 12.5, "cluster_sizes": [5, 3, 2], "inertia_history": [40.0, 20.0, 12.5],
            "pass_s": [0.1, 0.1, 0.1],
        },
        worker_counts=[[0.0, 1], [1.5, 3], [4.0, 2]], duration_s=6.0,
    )  # fmt: skip
    names = artifacts.write_artifacts(record, tmp_path / "k")
    assert set(names) >= {"kmeans.png", "workers.png", "cluster_sizes.csv", "inertia_history.csv"}
    assert png_size(tmp_path / "k" / "kmeans.png") == SIZES["kmeans.png"]
    assert png_size(tmp_path / "k" / "workers.png") == SIZES["workers.png"]
    rows = (tmp_path / "k" / "inertia_history.csv").read_text().splitlines()
    assert rows[0] == "iteration,inertia,pass_s" and rows[-1] == "3,12.5,0.1"

    cv = [
        {"rank": 1, "ngram_range": "1-2", "norm": "l2", "alpha": 1e-4, "mean_score": 0.9,
         "std_score": 0.02, "fit_time_s": 0.1},
        {"rank": 2, "ngram_range": "1-1", "norm": "l2", "alpha": 1e-4, "mean_score": 0.8,
         "std_score": 0.05, "fit_time_s": 0.1},
    ]  # fmt: skip
    record = a_record(workload="gridsearch", metrics={"best_score": 0.9, "cv_results": cv})
    names = artifacts.write_artifacts(record, tmp_path / "g")
    assert "gridsearch.png" in names and "cv_results.csv" in names
    assert png_size(tmp_path / "g" / "gridsearch.png") == SIZES["gridsearch.png"]
    assert "matplotlib" not in json.dumps(names)

    # Any search's candidates plot, whatever its parameters (nnsearch: the hidden width).
    cv = [
        {"rank": 2, "width": 100, "mean_score": 0.97, "std_score": 0.01, "fit_time_s": 0.1},
        {"rank": 1, "width": 200, "mean_score": 0.98, "std_score": 0.01, "fit_time_s": 0.2},
    ]
    record = a_record(workload="nnsearch", metrics={"best_score": 0.98, "cv_results": cv})
    names = artifacts.write_artifacts(record, tmp_path / "n")
    assert "gridsearch.png" in names and "cv_results.csv" in names
    assert png_size(tmp_path / "n" / "gridsearch.png") == SIZES["gridsearch.png"]
    assert [search_plots._label(r) for r in sorted(cv, key=search_plots._order)] == [
        "width=100",
        "width=200",
    ]


# --- views ----------------------------------------------------------------------------


def test_rerun_request_restores_tuples_and_checks_values() -> None:
    params = GRID.resolve(["ngram_ranges=1-1,1-3", "alphas=0.000123456789", "cv=3"])
    stored = json.loads(json.dumps(recording.jsonable(params)))
    record = {"id": "x", "workload": "gridsearch", "kind": "workload", "seed": 9, "params": stored}
    prepared = runviews.prepare_rerun(record)
    assert prepared.params == params and prepared.seed == 9
    record["params"]["cv"] = 1
    with pytest.raises(ScalecloudError, match="cv must be >= 2"):
        runviews.prepare_rerun(record)


def test_compare_rows_mark_differences() -> None:
    a = a_record(id="a", params={"n_blocks": 2, "tol": 1e-4}, metrics={"inertia": 10.0})
    b = a_record(id="b", params={"n_blocks": 3, "tol": 1e-4}, metrics={"inertia": 11.0})
    a["versions"] = {"client": {"dask": "1", "numpy": "2"}}
    b["versions"] = {"client": {"dask": "1", "numpy": "3"}}
    rows = {r["field"]: r for r in runviews.compare_rows([a, b])}
    assert rows["params.n_blocks"] == {
        "field": "params.n_blocks",
        "values": [2, 3],
        "differs": True,
    }
    assert rows["params.tol"]["differs"] is False
    assert rows["metrics.inertia"]["differs"] is True
    assert "versions.numpy" in rows and "versions.dask" not in rows


def test_environment_yml_pins_recorded_versions() -> None:
    yaml = pytest.importorskip("yaml")
    record = a_record(id="abc", started=0.0, scalecloud="0.1.0")
    record["versions"] = {
        "client": {"python": "3.11.7", "dask": "2026.8.0", "msgpack": "1.2.4", "lz4": None},
        "cluster": {"workers": {"w1": {"dask": "2026.1.0"}}},
    }
    env = yaml.safe_load(runviews.environment_yml(record))
    assert env["name"] == "scalecloud-run-abc" and env["channels"] == ["conda-forge"]
    assert env["dependencies"] == [
        "python=3.11.7", "dask=2026.8.0", "msgpack-python=1.2.4", "pip",
    ]  # fmt: skip
    assert "the workers had 2026.1.0" in runviews.environment_yml(record)


# --- the version check before a run ---------------------------------------------------


@pytest.mark.timeout(120)
def test_a_version_mismatch_warns_or_with_strict_refuses(tmp_path, monkeypatch) -> None:
    from distributed import LocalCluster
    from scalecloud.infra import versions
    from scalecloud.infra.provider import ClusterInfo
    from scalecloud.infra.spec import ClusterSpec
    from scalecloud.workloads.runner import WorkloadRequest, execute, prepare

    monkeypatch.setenv("SCALECLOUD_HOME", str(tmp_path))
    real = versions.client_versions
    monkeypatch.setattr(versions, "client_versions", lambda p=(): {**real(p), "numpy": "0.0.1"})
    tiny = ("n_blocks=2", "rows_per_block=500", "n_features=3", "n_centers=2", "n_clusters=2")
    prepared = prepare(WorkloadRequest("kmeans", tiny, seed=4))
    events = []
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        info = ClusterInfo(
            "inproc", "local", "running", cluster.scheduler_address, None, ClusterSpec(), 0.0
        )
        with pytest.raises(ScalecloudError) as refused:
            execute(prepared, info, events.append, strict_versions=True)
        assert "numpy: client 0.0.1" in refused.value.message
        assert "scalecloud image" in refused.value.hint
        outcome = execute(prepared, info, events.append)

    store = records.RunStore(tmp_path)
    done, refused_record = store.list()
    assert refused_record["status"] == "refused" and "--strict-versions" in refused_record["error"]
    assert refused_record["metrics"] is None
    assert [m["package"] for m in refused_record["versions"]["mismatches"]] == ["numpy"]
    assert done["id"] == outcome.run_id and done["status"] == "succeeded"
    assert done["versions"]["mismatches"][0]["matters"] is True
    assert done["metrics"]["inertia"] > 0
    warnings = [e.message for e in events if e.kind == "warning"]
    assert len(warnings) == 1 and "numpy" in warnings[0] and "scalecloud image" in warnings[0]

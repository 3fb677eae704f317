"""The user's own data: kmeans reads Parquet files and folders, CSV, .npy and Zarr (local,
and from a real S3 API server) on the workers and fits exactly what scikit-learn fits on
the same rows; gridsearch and sgd read Parquet folders and URLs on the workers too; every
bad input is refused in one line before anything exists."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.workloads.records.store import RunStore
from scalecloud.workloads.registry import get_workload
from sklearn.cluster import KMeans
from test_cli_errors import assert_one_line_error

ROWS, FEATURES = 3000, 4
# moto keeps its buckets per process: a name no other test module uses
BUCKET = "scalecloud-userdata-test"
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip


def rows() -> Any:
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=ROWS, centers=5, n_features=FEATURES, random_state=3)[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same rows as a Parquet file (uneven row groups), a Parquet folder (with a text
    column and a _SUCCESS file to leave out), a CSV, a .npy and a Zarr array; and bad data."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zarr

    root = tmp_path_factory.mktemp("data")
    x = rows()
    frame = pd.DataFrame(x, columns=list("abcd"))
    pq.write_table(pa.Table.from_pandas(frame), root / "rows.parquet", row_group_size=700)
    folder = root / "folder"
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(ROWS), 3)):
        piece = frame.iloc[part].assign(name="row")
        pq.write_table(pa.Table.from_pandas(piece), folder / f"part-{k}.parquet",
                       row_group_size=400)  # fmt: skip
    (folder / "_SUCCESS").write_text("")
    frame.to_csv(root / "rows.csv", index=False)
    np.save(root / "rows.npy", x)
    array = zarr.create_array(root / "rows.zarr", shape=x.shape, chunks=(500, FEATURES),
                              dtype="f8")  # fmt: skip
    array[:] = x
    # Bad data: nulls Parquet counts, NaN only reading finds, text among numbers.
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "b": [1.0, 2.0, 3.0]}), root / "nulls.parquet")
    np.save(root / "nan.npy", np.where(np.arange(ROWS * 2).reshape(ROWS, 2) == 77, np.nan, 1.0))
    (root / "text.csv").write_text("a,b\n" + "1.0,x\n" * 20)
    return {"root": root, "parquet": root / "rows.parquet", "folder": folder,
            "csv": root / "rows.csv", "npy": root / "rows.npy", "zarr": root / "rows.zarr"}  # fmt: skip


def kmeans(client: Any, *settings: str, seed: int = 0) -> dict[str, Any]:
    workload = get_workload("kmeans")
    params = workload.resolve(["n_clusters=5", *settings])
    workload.check_ready(params)
    return workload.load()(client, params, seed, lambda event: None).metrics


def assert_same_fit(metrics: dict[str, Any], x: Any) -> None:
    """scikit-learn's Lloyd from the same initial centers on the rows in memory: rows
    lost, duplicated or mixed between columns change the inertia and the cluster sizes."""
    sk = KMeans(len(metrics["init_centers"]), init=np.array(metrics["init_centers"]), n_init=1,
                tol=1e-4, max_iter=300).fit(x)  # fmt: skip
    assert metrics["n_rows"] == len(x) and metrics["n_features"] == x.shape[1]
    assert metrics["inertia"] == pytest.approx(sk.inertia_, rel=1e-9)
    assert metrics["n_iter"] == sk.n_iter_
    assert metrics["cluster_sizes"] == np.bincount(sk.labels_, minlength=5).tolist()


@pytest.mark.parametrize("kind", ["parquet", "folder", "csv", "npy", "zarr"])
def test_each_format_fits_as_the_rows_in_memory(client, files, kind, monkeypatch):
    import scalecloud.workloads.data.arrays as arrays
    import scalecloud.workloads.data.tabular as tabular

    # Small blocks, so that the rows are spread over several blocks and both workers.
    monkeypatch.setattr(tabular, "BLOCK_BYTES", 20_000)
    monkeypatch.setattr(arrays, "BLOCK_BYTES", 20_000)
    storage = ["storage=regenerate"] if kind == "csv" else []  # read again in every pass
    metrics = kmeans(client, f"data={files[kind]}", *storage)
    assert metrics["data_blocks"] > 2
    assert_same_fit(metrics, rows())


def test_chosen_columns_in_their_order(client, files):
    x = rows()
    assert_same_fit(kmeans(client, f"data={files['folder']}", "columns=c,a"), x[:, [2, 0]])
    assert_same_fit(kmeans(client, f"data={files['npy']}", "columns=3,1"), x[:, [3, 1]])


def test_nan_values_fail_the_run_when_a_block_is_read(client, files):
    with pytest.raises(ScalecloudError, match=r"block 0 of .*nan.npy .* holds 1 NaN") as info:
        kmeans(client, f"data={files['root'] / 'nan.npy'}")
    assert info.value.hint  # the hint survives the trip from the worker


# -- end to end: a real S3 API server, the CLI, refusals -------------------------------


@pytest.fixture(scope="module")
def s3(files):
    """moto's S3 server on 127.0.0.1 holding the Parquet folder and a gridsearch table."""
    import pandas as pd
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint)
    fs.mkdir(BUCKET)
    fs.put(str(files["folder"]), f"{BUCKET}/folder", recursive=True)
    docs = pd.DataFrame({"body": ["good film", "bad film"] * 20, "stars": [1, 0] * 20})
    for k, part in enumerate((docs.iloc[:25], docs.iloc[25:])):
        part.to_parquet(files["root"] / f"docs-{k}.parquet")
        fs.put(str(files["root"] / f"docs-{k}.parquet"), f"{BUCKET}/docs/docs-{k}.parquet")
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def cluster(module_cli, s3):
    """One local cluster whose workers see the S3 endpoint and keys (inherited env)."""
    module_cli.env.update(FAKE_KEYS, AWS_ENDPOINT_URL=s3)
    module_cli("up", "--name", "data", "--workers", "2", check=True)
    return module_cli


def submit(cli: Any, *args: str) -> dict[str, Any]:
    result = cli("submit", *args, "--seed", "0", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_kmeans_reads_a_parquet_folder_from_s3(cluster, files):
    record = submit(cluster, "kmeans", "--set", f"data=s3://{BUCKET}/folder",
                    "--set", "n_clusters=5")  # fmt: skip
    assert record["params"]["data"] == f"s3://{BUCKET}/folder"  # what a rerun reads again
    assert_same_fit(record["metrics"], rows())
    local = submit(cluster, "kmeans", "--set", f"data={files['folder']}", "--set", "n_clusters=5")
    assert local["metrics"]["inertia"] == record["metrics"]["inertia"]


def test_gridsearch_reads_parquet_folders_local_and_on_s3(cluster, files):
    common = ["--set", "text_column=body", "--set", "label_column=stars", "--set", "cv=2"]
    docs = files["root"] / "docs"
    docs.mkdir(exist_ok=True)
    for k in range(2):
        (files["root"] / f"docs-{k}.parquet").rename(docs / f"docs-{k}.parquet")
    local = submit(cluster, "gridsearch", "--set", f"data={docs}", *common)
    remote = submit(cluster, "gridsearch", "--set", f"data=s3://{BUCKET}/docs", *common)
    assert local["metrics"]["n_docs"] == remote["metrics"]["n_docs"] == 40
    assert local["metrics"]["best_params"] == remote["metrics"]["best_params"]
    assert local["metrics"]["best_score"] == remote["metrics"]["best_score"]


def test_sgd_reads_a_parquet_folder_as_the_same_rows_in_one_file_and_on_s3(cluster, files, s3):
    import pandas as pd
    import s3fs

    x = rows()
    frame = pd.DataFrame(x[:, :3], columns=["a", "b", "c"]).assign(label=(x[:, 3] > 0) * 1)
    folder = files["root"] / "sgd"
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(ROWS), 4)):
        frame.iloc[part].to_parquet(folder / f"part-{k:02}.parquet")
    frame.to_csv(files["root"] / "sgd.csv", index=False)
    common = ["--set", "label_column=label", "--set", "batch_size=500", "--set", "epochs=2"]
    one = submit(cluster, "sgd", "--set", f"data={files['root'] / 'sgd.csv'}", *common)
    many = submit(cluster, "sgd", "--set", f"data={folder}", *common)
    assert many["metrics"]["n_train"] == one["metrics"]["n_train"] == ROWS - 300
    assert many["metrics"]["loss"] == pytest.approx(one["metrics"]["loss"], rel=1e-6)
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=s3)
    fs.put(str(folder), f"{BUCKET}/sgd", recursive=True)
    remote = submit(cluster, "sgd", "--set", f"data=s3://{BUCKET}/sgd", *common)
    for key in ("n_train", "loss", "weights", "accuracy"):  # the workers read the same rows
        assert remote["metrics"][key] == many["metrics"][key], key


def test_a_rerun_reads_the_same_data_and_a_cloud_rerun_is_refused(cluster, files):
    first = submit(cluster, "kmeans", "--set", f"data={files['npy']}", "--set", "n_clusters=5")
    again = cluster("runs", "rerun", first["run_id"], "--json")
    assert again.code == 0, again.err
    assert again.json()["reproduced"] and all(r["same"] for r in again.json()["reproduced"])
    refused = cluster("runs", "rerun", first["run_id"], "--provider", "gcp")
    assert_one_line_error(refused, "which the workers of gcp cluster")
    assert cluster.records() == ["data.json"]  # no cluster was started for the rerun


def test_data_is_recorded_as_a_url_or_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    workload = get_workload("kmeans")
    assert workload.resolve(["data=rows.parquet"])["data"] == str(tmp_path / "rows.parquet")
    assert workload.resolve(["data=s3://bucket/rows/"])["data"] == "s3://bucket/rows/"
    assert workload.resolve(["columns=b,a"])["columns"] == ("b", "a")


def refusals(files: dict[str, Path]) -> list[tuple[list[str], str]]:
    root = files["root"]
    return [
        ([f"data={root / 'missing.parquet'}"], "missing.parquet does not exist"),
        ([f"data={files['folder']}", "columns=a,zz"], "column 'zz' is not in"),
        ([f"data={files['folder']}", "columns=a,name"], "column 'name' of"),
        ([f"data={root / 'nulls.parquet'}", "n_clusters=2"], "has 1 missing values"),
        ([f"data={root / 'text.csv'}", "columns=a,b"], "column 'b' of"),
        ([f"data={files['npy']}", "columns=a"], "are indices"),
        ([f"data={files['parquet']}", "n_clusters=5000"], "5000 clusters need at least"),
        ([f"data={files['root']}"], "cannot tell the format"),
        ([f"data={files['npy']}", "implementation=dask-ml"], "scalecloud implementation only"),
    ]


def assert_refused(cli: Any, args: list[str], message: str,
                   env: dict[str, str | None] | None = None) -> None:  # fmt: skip
    """``submit kmeans --set ARGS`` fails in one line; ``env`` changes (None: removes)
    the CLI's environment for this call only."""
    saved = dict(cli.env)
    for key, value in (env or {}).items():
        if value is None:
            cli.env.pop(key, None)
        else:
            cli.env[key] = value
    try:
        settings = [part for a in args for part in ("--set", a)]
        assert_one_line_error(cli("submit", "kmeans", *settings), message)
    finally:
        cli.env.clear()
        cli.env.update(saved)


def test_bad_data_is_refused_before_a_run_is_recorded(cluster, files, tmp_path):
    before = len(RunStore(cluster.home).list())
    for args, message in refusals(files):
        assert_refused(cluster, args, message)
    # Without credentials (none in the environment, no files, no metadata service).
    assert_refused(cluster, [f"data=s3://{BUCKET}/folder"], "no credentials",
                   {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                    "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                    "AWS_CONFIG_FILE": str(tmp_path / "none")})  # fmt: skip
    # Without s3fs: a package of that name that fails to import, first on the path.
    shadow = tmp_path / "shadow" / "s3fs"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 's3fs'\")\n")
    assert_refused(cluster, [f"data=s3://{BUCKET}/folder"], 'pip install "scalecloud[aws]"',
                   {"PYTHONPATH": str(shadow.parent)})  # fmt: skip
    assert len(RunStore(cluster.home).list()) == before


def test_bad_data_is_refused_before_a_cluster_exists(cli, files):
    for args, message in [*refusals(files)[:3],
                          ([f"data={files['parquet']}"], "which the workers of gcp cluster")]:  # fmt: skip
        provider = "gcp" if "gcp" in message else "local"
        settings = [part for a in args for part in ("--set", a)]
        result = cli("run", "kmeans", *settings, "--provider", provider)
        assert_one_line_error(result, message)
        assert not cli.home.exists(), f"{args} wrote state"


def test_a_local_path_is_refused_on_a_cloud_cluster_before_the_record(files, tmp_path,
                                                                      monkeypatch):  # fmt: skip
    from scalecloud.infra.registry import build_spec

    from scalecloud.lifecycle import ClusterSession
    from scalecloud.session import prepare

    monkeypatch.setenv("SCALECLOUD_HOME", str(tmp_path / "home"))
    prepared = prepare("kmeans", data=str(files["parquet"]), n_clusters=5)
    for provider, store in (("gcp", "gs://"), ("aws", "s3://"), ("minikube", "s3://")):
        session = ClusterSession.from_spec(build_spec(provider, "c1"))
        with pytest.raises(ScalecloudError, match="cannot read") as info:
            session.execute(prepared)
        assert f"scalecloud data push {files['parquet']} {store}" in str(info.value.hint)
    url = dataclasses.replace(prepared, params=dict(prepared.params, data=f"s3://{BUCKET}/x"))
    session.check_run(url)  # a URL is what a cloud cluster's workers can read
    assert not (tmp_path / "home").exists()

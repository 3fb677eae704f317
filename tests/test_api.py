"""The Python API on real local clusters: the Cluster context manager's teardown, connect(),
runs and records that agree with the CLI's, and errors that are ScalecloudError."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.local.driver import LocalProvider, session_processes
from scalecloud.infra.state import StateStore

import scalecloud


@pytest.fixture
def home(cli, monkeypatch) -> Path:
    """The API and the CLI fixture share one state directory."""
    monkeypatch.setenv("SCALECLOUD_HOME", str(cli.home))
    return cli.home


def supervisor_pid(cluster: scalecloud.Cluster) -> int:
    return int(cluster.info.details["pid"])


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_cluster_tears_down_after_an_exception(home, error):
    with pytest.raises(error), scalecloud.Cluster(name="api-exc", workers=1, progress=False) as c:
        pid = supervisor_pid(c)
        assert c.started and c.info.running and session_processes(pid)
        raise error
    assert StateStore().names() == []
    assert session_processes(pid) == []


def test_a_cluster_is_reused_by_name_and_kept_only_with_keep(home, cli):
    cli("up", "--name", "shared", "--workers", "1", check=True)
    pid = int(cli("status", "--name", "shared", "--json", check=True).json()["details"]["pid"])
    with scalecloud.Cluster(name="shared", workers=1, keep=True, progress=False) as cluster:
        assert not cluster.started and supervisor_pid(cluster) == pid  # reused, as it was
    assert StateStore().names() == ["shared"] and session_processes(pid)
    with scalecloud.Cluster(name="shared", workers=1, progress=False) as cluster:
        assert supervisor_pid(cluster) == pid
    assert StateStore().names() == [] and session_processes(pid) == []


def test_a_taken_name_is_refused_without_reuse_and_left_running(home, cli):
    cli("up", "--name", "taken", "--workers", "1", check=True)
    cluster = scalecloud.Cluster(name="taken", reuse=False, keep=False, progress=False)
    with pytest.raises(ScalecloudError, match="already exists"), cluster:
        pass
    assert scalecloud.Cluster.attach("taken", progress=False).info.running


def test_connect_gives_a_client_whose_port_forward_closes_with_it(home, cli, monkeypatch):
    cli("up", "--name", "conn", "--workers", "1", check=True)
    events: list[str] = []
    original = LocalProvider.connect

    @contextlib.contextmanager
    def forwarded(self, info):  # the local provider's connect, watched
        events.append("open")
        with original(self, info) as reachable:
            yield reachable
        events.append("closed")

    monkeypatch.setattr(LocalProvider, "connect", forwarded)
    client = scalecloud.connect("conn")
    assert client.submit(sum, [1, 2, 3]).result() == 6
    assert events == ["open"]
    client.close()
    assert events == ["open", "closed"]
    with pytest.raises(ScalecloudError, match="no cluster named 'missing'"):
        scalecloud.connect("missing")
    assert events == ["open", "closed"]


def test_a_run_agrees_with_the_cli_record(home, cli):
    with scalecloud.Cluster(name="api-run", workers=2, progress=False) as cluster:
        run = cluster.submit("kmeans", n_blocks=4, rows_per_block=2000, seed=3)
        assert run.status == "succeeded" and run.seed == 3
        assert run.params["n_blocks"] == 4 and run.params["rows_per_block"] == 2000
        shown = cli("runs", "show", run.id[:8], "--json", check=True).json()
        for key in ("id", "workload", "status", "params", "metrics", "seed", "artifacts"):
            assert shown[key] == run.record[key], key
        assert {n: str(p) for n, p in run.artifacts.items()} == shown["artifact_paths"]
        assert run.plots and all(p.suffix == ".png" and p.is_file() for p in run.plots)
        assert run.metrics["inertia"] == shown["metrics"]["inertia"] > 0
        # The other way: a CLI run read back through the API.
        result = cli("submit", "kmeans", "--set", "n_blocks=4", "--set", "rows_per_block=2000",
                     "--seed", "3", "--name", "api-run", "--json", check=True).json()  # fmt: skip
        again = scalecloud.Run.load(result["run_id"])
        assert again.metrics["inertia"] == pytest.approx(run.metrics["inertia"], rel=1e-12)
        listed = scalecloud.runs(workload="kmeans")
        assert [r.id for r in listed] == [again.id, run.id]
        frame = listed.to_frame()
        assert list(frame["status"]) == ["succeeded", "succeeded"]
        assert frame["metric.inertia"].iloc[0] == pytest.approx(run.metrics["inertia"])
        comparison = scalecloud.compare([run.id, again.id])
        assert comparison.runs == (run.id, again.id)
        assert not next(r for r in comparison.rows if r["field"] == "metrics.inertia")["differs"]
        rerun = run.rerun(name="api-run", progress=False)
        assert rerun.record["rerun_of"] == run.id
        assert all(row["same"] for row in rerun.rerun_report["reproduced"])
        html = run._repr_html_()
        assert run.id in html and "inertia" in html and "data:image/png;base64," in html
        assert "running" in cluster._repr_html_() and "dashboard" in cluster._repr_html_()


def test_errors_are_scalecloud_errors_and_create_nothing(home, capsys):
    cases = [
        lambda: scalecloud.Cluster(workers=-1),
        lambda: scalecloud.Cluster(provider="nowhere"),
        lambda: scalecloud.Cluster(region="us-east1"),
        lambda: scalecloud.Cluster(adapt=(3, 1)),
        lambda: scalecloud.prepare("kmeans", n_blocks=0),
        lambda: scalecloud.prepare("kmeans", no_such_param=1),
        lambda: scalecloud.prepare("no-such-workload"),
        lambda: scalecloud.prepare(__file__, epochs=3),  # scripts take arguments, not params
        lambda: scalecloud.Run.load("zzzz"),
        lambda: scalecloud.connect(),
    ]
    for case in cases:
        with pytest.raises(ScalecloudError) as caught:
            case()
        assert caught.value.hint, caught.value.message
    assert not (home / "clusters").exists()
    assert capsys.readouterr().err == ""


def test_progress_false_prints_nothing_and_progress_true_prints_lines(home, capfd):
    with scalecloud.Cluster(name="quiet", workers=1, progress=False) as cluster:
        cluster.submit("kmeans", n_blocks=2, rows_per_block=500, seed=1)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    with scalecloud.Cluster(name="loud", workers=1) as cluster:
        cluster.submit("kmeans", n_blocks=2, rows_per_block=500, seed=1)
    err = capfd.readouterr().err
    assert "→ starting a local Dask cluster 'loud'" in err and "tearing down 'loud'" in err

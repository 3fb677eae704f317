"""Shared fixtures: an isolated state directory per test and a CLI runner by subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from scalecloud.infra.local.driver import session_processes


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


class Cli:
    """Runs ``scalecloud`` in a subprocess with its own SCALECLOUD_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SCALECLOUD_")}
        self.env.update(SCALECLOUD_HOME=str(home), COLUMNS="200", NO_COLOR="1")

    def __call__(self, *args: str, timeout: float = 240, check: bool = False) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "scalecloud.cli", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check:
            assert result.code == 0, (
                f"scalecloud {' '.join(args)} failed:\n{result.err}\n{result.out}"
            )
        return result

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "scalecloud.cli", *args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def records(self) -> list[str]:
        clusters = self.home / "clusters"
        return sorted(p.name for p in clusters.glob("*.json")) if clusters.is_dir() else []

    def sessions(self) -> list[int]:
        """Supervisor pids of every cluster record, for leak checks."""
        pids = []
        for name in self.records():
            pid = json.loads((self.home / "clusters" / name).read_text()).get("pid")
            if pid is not None:  # Kubernetes clusters have no local processes
                pids.append(pid)
        return pids

    def cleanup(self) -> None:
        sessions = self.sessions()
        self("down", "--all", timeout=120)
        for sid in sessions:
            for pid in session_processes(sid):
                os.kill(pid, 9)


def make_cli(path: Path) -> Iterator[Cli]:
    cli = Cli(path)
    yield cli
    cli.cleanup()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """A CLI with a fresh, empty state directory; every cluster is torn down after."""
    yield from make_cli(tmp_path / "home")


@pytest.fixture(scope="module")
def module_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One state directory shared by a module's tests (one cluster for many tests)."""
    yield from make_cli(tmp_path_factory.mktemp("home"))


# -- opt-in tests that need minikube or a cloud account ----------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A Dask client of two one-thread worker processes, in-process, for a test module."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                     dashboard_address=":0") as cluster,
        Client(cluster) as c,
    ):  # fmt: skip
        yield c


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-minikube", action="store_true",
        help="run the tests marked minikube (needs minikube and the Pulumi CLI)",
    )  # fmt: skip
    parser.addoption(
        "--run-cloud", action="append", default=[], metavar="PROVIDER",
        help="run the tests marked cloud for PROVIDER (gcp, aws, azure); creates billable "
        "resources and destroys them",
    )  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    clouds = set(config.getoption("--run-cloud"))
    for item in items:
        if item.get_closest_marker("minikube") and not config.getoption("--run-minikube"):
            item.add_marker(pytest.mark.skip(reason="needs minikube: run with --run-minikube"))
        marker = item.get_closest_marker("cloud")
        if marker is not None:
            provider = marker.args[0] if marker.args else item.callspec.params.get("provider")
            if provider not in clouds:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"creates {provider} resources: run with --run-cloud {provider}"
                    )
                )

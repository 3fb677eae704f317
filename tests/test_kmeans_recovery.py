"""KMeans survives a worker killed (SIGKILL) in any phase, with the result of an undisturbed
run, and fails with one clear error when every worker is gone for good."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import cloudpickle
import pytest
from distributed import Client, LocalCluster
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event
from scalecloud.workloads import kmeans

SEED = 5
PARAMS = {p.name: p.default for p in kmeans.WORKLOAD.params}
PARAMS.update(n_blocks=12, rows_per_block=2000, n_features=8, n_centers=12, n_clusters=5)
# The step or info message at whose start a worker is killed, per phase.
PHASES = {
    "generation": "generating",
    "initialisation": "initialising centers",
    "first pass": "fitting KMeans",
    "later passes": "iteration 2:",
}


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield client


class SlowBlocks(kmeans.BlockMaker):
    """The same blocks, slowly: generation lasts long enough to kill a worker inside it."""

    def __call__(self, index: int) -> Any:
        time.sleep(0.25)
        return super().__call__(index)

    def fill(self, index: int, x: Any, pieces: Any = ()) -> Any:
        time.sleep(0.25)  # what Partition calls: a block written into its arrays
        return super().fill(index, x, pieces)


cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Killer:
    """An on_event that kills one worker (SIGKILL) when a message starts with ``trigger``,
    after ``delay`` seconds, and records the events."""

    def __init__(self, pids: list[int], trigger: str, delay: float = 0.0) -> None:
        self.pids, self.trigger, self.delay = pids, trigger, delay
        self.events: list[tuple[float, Event]] = []
        self.killed_at: float | None = None

    def __call__(self, event: Event) -> None:
        self.events.append((time.monotonic(), event))
        if self.killed_at is None and event.message.startswith(self.trigger):
            self.killed_at = -1.0
            threading.Timer(self.delay, self.kill).start() if self.delay else self.kill()

    def kill(self) -> None:
        for pid in self.pids:
            os.kill(pid, signal.SIGKILL)
        self.killed_at = time.monotonic()

    def warnings(self) -> list[tuple[float, str]]:
        return [(t, e.message) for t, e in self.events if e.kind == "warning"]


def fit(client: Any, storage: str, on_event: Any = print) -> dict[str, Any]:
    return kmeans.run(client, dict(PARAMS, storage=storage), SEED, on_event).metrics


@pytest.fixture(scope="module")
def undisturbed(client):
    return {storage: fit(client, storage) for storage in ("memory", "regenerate")}


CASES = [
    ("generation", "memory"),
    ("initialisation", "memory"),
    ("first pass", "regenerate"),
    ("later passes", "memory"),
    ("later passes", "regenerate"),
]


@pytest.mark.parametrize(("phase", "storage"), CASES, ids=[f"{p}-{s}" for p, s in CASES])
def test_a_worker_killed_in_any_phase_gives_the_undisturbed_result(
    client, undisturbed, monkeypatch, phase, storage
):
    client.wait_for_workers(3, timeout=60)
    expected = undisturbed[storage]
    assert expected["n_iter"] > 3  # there are later passes to kill a worker in
    pids = client.run(os.getpid)
    victim = pids[sorted(pids)[1]]
    if phase == "generation":  # killed while the blocks are being generated
        monkeypatch.setattr(kmeans, "BlockMaker", SlowBlocks)
        killer = Killer([victim], PHASES[phase], delay=0.4)
    else:
        killer = Killer([victim], PHASES[phase])
    started = time.monotonic()
    got = fit(client, storage, killer)
    assert killer.killed_at and killer.killed_at > 0
    assert (got["n_iter"], got["cluster_sizes"]) == (expected["n_iter"], expected["cluster_sizes"])
    assert got["inertia"] == pytest.approx(expected["inertia"], rel=1e-9)
    assert got["converged"] == expected["converged"]
    # Told within 10 s that a worker was lost and that the run recovers.
    lost = [(t, m) for t, m in killer.warnings() if "lost 1 worker" in m and "recovering" in m]
    assert lost and lost[0][0] - killer.killed_at < 10, killer.warnings()
    assert time.monotonic() - started < 60


def test_a_worker_killed_during_a_pass_is_noticed_and_its_partition_redone(client):
    """The kill lands while the workers are busy in a call: the answers of the others are
    kept and the lost partition's share is run again where it was rebuilt."""
    from scalecloud.workloads.kmeans import fast as fastkmeans

    client.wait_for_workers(3, timeout=60)
    centers = kmeans.blob_centers(4, 3, 1)
    data = fastkmeans.scatter_partitions(client, kmeans.BlockMaker(500, centers, 1), 6)
    before = fastkmeans.on_partitions(client, data, _slow_first_block, 0.0)
    pids = client.run(os.getpid)
    victim = pids[data.workers[1]]
    threading.Timer(0.5, os.kill, (victim, signal.SIGKILL)).start()
    started = time.monotonic()
    after = fastkmeans.on_partitions(client, data, _slow_first_block, 2.0)
    assert after == before
    assert data.watch.lost and time.monotonic() - started < 30
    client.cancel(data.futures)


def _slow_first_block(part: Any, seconds: float) -> list[int]:
    time.sleep(seconds)
    return part.block_ids


def test_all_workers_killed_for_good_is_one_clear_error_within_the_deadline(monkeypatch):
    monkeypatch.setenv("SCALECLOUD_NO_WORKER_TIMEOUT", "5")
    with (
        LocalCluster(
            n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        # Workers without a nanny: nothing brings them back.
        command = [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                   "--no-nanny", "--nthreads", "1", "--no-dashboard"]  # fmt: skip
        workers = [
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(2)
        ]
        try:
            client.wait_for_workers(2, timeout=60)
            killer = Killer([w.pid for w in workers], PHASES["later passes"])
            with pytest.raises(ScalecloudError) as info:
                fit(client, "memory", killer)
            assert killer.killed_at and killer.killed_at > 0
            waited = time.monotonic() - killer.killed_at
        finally:
            for worker in workers:
                worker.kill()
                worker.wait()
    assert 5 <= waited < 15
    assert "all workers were lost" in info.value.message
    assert "scalecloud scale" in (info.value.hint or "")
    assert any("no worker left" in m for _, m in killer.warnings())

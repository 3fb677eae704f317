"""The detached process that owns one local Dask cluster; started by the local provider.

Run as ``python -m scalecloud.infra.local.supervisor --spec JSON --ready PATH``. It
starts a ``distributed.LocalCluster`` bound to 127.0.0.1, adds scalecloud's control
handlers to the scheduler (``scalecloud_info``, ``scalecloud_scale``,
``scalecloud_stop``), reports readiness through the ready file, and stays until it is
stopped, the scheduler closes itself after its idle timeout, or the owner process
(``--owner-pid``, used by ``scalecloud run``) is gone. On the way out it closes every
worker and removes its cluster record.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from scalecloud.infra.spec import ClusterSpec
from scalecloud.infra.state import StateStore, pid_alive, write_json_atomic

logger = logging.getLogger("scalecloud.supervisor")
WAIT_FOR_WORKERS_S = 120.0


class Supervisor:
    """Holds the LocalCluster and answers the control handlers."""

    def __init__(self, spec: ClusterSpec, owner_pid: int | None) -> None:
        self.spec = spec
        self.owner_pid = owner_pid
        self.cluster: Any = None
        self.adapt: tuple[int, int] | None = spec.adapt
        self.stop_reason: str | None = None
        self.stopping = asyncio.Event()

    async def start(self) -> None:
        from distributed import LocalCluster

        self.cluster = await LocalCluster(
            name=self.spec.name,
            n_workers=self.spec.initial_workers,
            threads_per_worker=self.spec.threads_per_worker,
            memory_limit=self.spec.memory_per_worker or default_memory(self.spec),
            processes=True,
            host="127.0.0.1",
            scheduler_port=self.spec.port,
            dashboard_address=f"127.0.0.1:{self.spec.dashboard_port}",
            scheduler_kwargs={"idle_timeout": self.spec.idle_timeout},
            silence_logs=logging.WARNING,
            asynchronous=True,
        )
        if self.adapt:
            self.cluster.adapt(minimum=self.adapt[0], maximum=self.adapt[1])
        self.cluster.scheduler.handlers.update(
            {
                "scalecloud_info": self.info,
                "scalecloud_scale": self.scale,
                "scalecloud_stop": self.stop,
            }
        )

    def info(self) -> dict[str, Any]:
        scheduler = self.cluster.scheduler
        workers = [
            {"address": ws.address, "nthreads": ws.nthreads, "memory_limit": ws.memory_limit}
            for ws in scheduler.workers.values()
        ]
        return {
            "pid": os.getpid(),
            "adapt": list(self.adapt) if self.adapt else None,
            "workers": workers,
            "idle_timeout": self.spec.idle_timeout,
            "idle_since": scheduler.idle_since,
            "tasks": len(scheduler.tasks),
        }

    async def scale(self, workers: int | None = None, adapt: list[int] | None = None) -> dict:
        if adapt:
            self.adapt = (int(adapt[0]), int(adapt[1]))
            self.cluster.adapt(minimum=self.adapt[0], maximum=self.adapt[1])
            target = None
        else:
            adaptive = getattr(self.cluster, "_adaptive", None)
            if adaptive is not None:
                adaptive.stop()
            self.adapt = None
            target = int(workers or 0)
            self.cluster.scale(target)
        deadline = time.monotonic() + WAIT_FOR_WORKERS_S
        scheduler = self.cluster.scheduler
        while target is not None and len(scheduler.workers) != target:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        return self.info()

    def stop(self, reason: str = "down") -> str:
        self.stop_reason = reason
        self.stopping.set()
        return "ok"

    async def watch(self) -> None:
        """Wait for a stop request, the scheduler's own idle close, or a gone owner."""
        from distributed.core import Status

        while not self.stopping.is_set():
            if self.cluster.scheduler.status in (Status.closing, Status.closed):
                self.stop_reason = "idle-timeout"
                break
            if self.owner_pid and not pid_alive(self.owner_pid):
                self.stop_reason = f"owner process {self.owner_pid} exited"
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=0.5)

    async def close(self) -> None:
        """Close the workers and the scheduler, then end any child process left."""
        from distributed.core import Status

        adaptive = getattr(self.cluster, "_adaptive", None)
        if adaptive is not None:
            adaptive.stop()
        try:
            if self.cluster.scheduler.status in (Status.closing, Status.closed):
                # The scheduler closed itself (idle timeout): the cluster cannot reach it
                # any more, so close the nannies one by one.
                for worker in list(self.cluster.workers.values()):
                    with suppress(Exception):
                        await asyncio.wait_for(worker.close(), timeout=10)
            else:
                await self.cluster.close(timeout=30)
        except Exception as exc:  # whatever failed, the children are ended below
            logger.warning("closing the cluster failed: %s: %s", type(exc).__name__, exc)
        _end_children()


def _end_children(timeout: float = 5.0) -> None:
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=timeout)
    for child in alive:
        with suppress(psutil.NoSuchProcess):
            child.kill()


def default_memory(spec: ClusterSpec) -> int:
    """Dask's per-thread share of the machine, but never more than the machine's memory
    split across the most workers planned (so --adapt 1:8 does not promise 8x)."""
    import psutil

    total = psutil.virtual_memory().total
    cores = os.cpu_count() or 1
    planned = max(spec.adapt[1] if spec.adapt else spec.workers, 1)
    return int(min(total * min(1.0, spec.threads_per_worker / cores), total / planned))


def _forget(spec: ClusterSpec) -> None:
    """Remove this cluster's record, but only if it is still ours."""
    store = StateStore()
    with store.lock():
        record = store.get(spec.name)
        if record and record.get("pid") == os.getpid():
            store.remove(spec.name)


async def serve(spec: ClusterSpec, ready: Path, owner_pid: int | None) -> int:
    supervisor = Supervisor(spec, owner_pid)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, supervisor.stop, f"signal {sig.name}")
    try:
        await supervisor.start()
    except Exception as exc:  # any failure to start is reported to the waiting CLI
        logger.exception("cluster failed to start")
        write_json_atomic(ready, {"error": f"{type(exc).__name__}: {exc}"})
        return 1
    cluster = supervisor.cluster
    write_json_atomic(
        ready,
        {
            "pid": os.getpid(),
            "scheduler_address": cluster.scheduler_address,
            "dashboard_url": cluster.dashboard_link or None,
        },
    )
    logger.info("cluster %s ready at %s", spec.name, cluster.scheduler_address)
    await supervisor.watch()
    logger.info("stopping cluster %s: %s", spec.name, supervisor.stop_reason)
    try:
        await supervisor.close()
    finally:
        _forget(spec)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, help="ClusterSpec as JSON")
    parser.add_argument("--ready", required=True, type=Path, help="file to report readiness to")
    parser.add_argument("--owner-pid", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    spec = ClusterSpec.from_dict(json.loads(args.spec))
    return asyncio.run(serve(spec, args.ready, args.owner_pid))


if __name__ == "__main__":
    sys.exit(main())

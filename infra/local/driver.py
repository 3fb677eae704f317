"""The local provider: a real Dask cluster of detached processes on this machine.

A supervisor process (``scalecloud.infra.local.supervisor``), started in a session of
its own so that it outlives the CLI, owns a ``LocalCluster`` bound to 127.0.0.1. The
cluster record keeps the supervisor's pid, which is also the id of the process
session that every worker belongs to: ``down`` ends that session and checks that no
process of it is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.infra.provider import ClusterInfo, ClusterState, WorkerInfo
from scalecloud.infra.spec import ClusterSpec
from scalecloud.infra.state import StateStore, owner_alive, read_json

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 45.0
RPC_TIMEOUT_S = 10.0


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def session_processes(sid: int) -> list[int]:
    """Pids of the live processes in session ``sid`` (the supervisor and its workers)."""
    import psutil

    pids = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getsid(proc.pid) == sid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                pids.append(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return pids


def _supervisor_alive(record: dict[str, Any]) -> bool:
    """Whether the record's supervisor is still that process (not a reused pid)."""
    return owner_alive({"pid": record.get("pid"), "started": record.get("pid_create_time", 0)})


def _end_session(sid: int, timeout: float) -> list[int]:
    """SIGTERM then SIGKILL every process of session ``sid``; returns the survivors."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        pids = session_processes(sid)
        if not pids:
            return []
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while session_processes(sid) and time.monotonic() < deadline:
            time.sleep(0.1)
    return session_processes(sid)


def call_scheduler(address: str, op: str, timeout: float = RPC_TIMEOUT_S, **kwargs: Any) -> Any:
    """Call one of the supervisor's control handlers on the scheduler."""
    from distributed.core import rpc

    async def _call() -> Any:
        async with rpc(address, timeout=timeout) as remote:
            return await asyncio.wait_for(getattr(remote, op)(**kwargs), timeout)

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread: the usual case
        return asyncio.run(_call())
    # This thread runs an event loop already (a Jupyter kernel): call from a thread of its own.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _call()).result()


class LocalProvider:
    """Detached local Dask clusters; see the module docstring."""

    name: ClassVar[str] = "local"

    def __init__(self, store: StateStore | None = None) -> None:
        self.store = store or StateStore()

    # -- the Provider protocol -------------------------------------------------------

    def up(self, spec: ClusterSpec, on_event: EventFn) -> ClusterInfo:
        existing = self.status(spec.name)
        if existing is not None and existing.state != ClusterState.DEAD:
            return existing
        self._check_ports(spec)
        with self._name_lock(spec.name):
            existing = self.status(spec.name)
            if existing is not None and existing.state != ClusterState.DEAD:
                return existing
            if existing is not None:
                on_event(Event("info", f"removing the dead cluster record of {spec.name!r}"))
                self.down(spec.name, on_event)
            return self._start(spec, on_event)

    def status(self, name: str) -> ClusterInfo | None:
        record = self.store.get(name)
        if record is None:
            return None
        state = ClusterState.RUNNING if _supervisor_alive(record) else ClusterState.DEAD
        live: dict[str, Any] = {}
        if state == ClusterState.RUNNING:
            try:
                live = call_scheduler(record["scheduler_address"], "scalecloud_info")
            except Exception:  # an unreachable scheduler is a state to show, not a crash
                state = ClusterState.UNRESPONSIVE
        return self._info(record, state, live)

    def scale(self, name: str, workers: int | None, adapt: tuple[int, int] | None) -> None:
        info = self.status(name)
        if info is None or not info.running:
            raise ScalecloudError(
                f"cluster {name!r} is not running", f"start it with: scalecloud up --name {name}"
            )
        live = call_scheduler(
            info.scheduler_address,
            "scalecloud_scale",
            timeout=180.0,
            workers=workers,
            adapt=list(adapt) if adapt else None,
        )
        if workers is not None and len(live["workers"]) != workers:
            raise ScalecloudError(
                f"cluster {name!r} has {len(live['workers'])} workers, not the {workers} asked for",
                f"see the supervisor log: {self.store.log_path(name)}",
            )

    def down(self, name: str, on_event: EventFn) -> None:
        record = self.store.get(name)
        if record is None:
            return
        sid = int(record["pid"])
        if _supervisor_alive(record):
            on_event(Event("step", f"stopping the scheduler and workers of {name!r}"))
            # An unreachable scheduler is fine: the session is ended by signals below.
            with suppress(Exception):
                call_scheduler(record["scheduler_address"], "scalecloud_stop", timeout=5.0)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while session_processes(sid) and time.monotonic() < deadline:
                time.sleep(0.1)
        survivors = (
            _end_session(sid, timeout=5.0)
            if _supervisor_alive(record) or session_processes(sid)
            else []
        )
        if survivors:
            raise ScalecloudError(
                f"processes {survivors} of cluster {name!r} would not stop",
                f"end them by hand: kill -9 {' '.join(map(str, survivors))}",
            )
        with self.store.lock():
            current = self.store.get(name)
            if current is None or current.get("pid") == record.get("pid"):
                self.store.remove(name)
        on_event(Event("info", f"no process of {name!r} is left"))

    @contextmanager
    def connect(self, info: ClusterInfo) -> Iterator[ClusterInfo]:
        """The scheduler listens on 127.0.0.1 already: nothing to open."""
        yield info

    # -- helpers --------------------------------------------------------------------

    @contextmanager
    def _name_lock(self, name: str):  # type: ignore[no-untyped-def]
        from filelock import FileLock

        locks = self.store.home / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(str(locks / f"{name}.lock"), timeout=STOP_TIMEOUT_S * 4):
            yield

    def _check_ports(self, spec: ClusterSpec) -> None:
        for flag, port in (("--port", spec.port), ("--dashboard-port", spec.dashboard_port)):
            if port and not port_free(port):
                raise ScalecloudError(
                    f"port {port} on 127.0.0.1 is already in use",
                    f"choose another with {flag} PORT, or leave it out to pick a free one",
                )
        if spec.port and spec.port == spec.dashboard_port:
            raise ScalecloudError(
                f"--port and --dashboard-port are both {spec.port}", "give them different values"
            )

    def _start(self, spec: ClusterSpec, on_event: EventFn) -> ClusterInfo:
        import psutil

        on_event(Event("step", f"starting a local Dask cluster {spec.name!r}"))
        self.store.clusters_dir.mkdir(parents=True, exist_ok=True)
        ready = self.store.clusters_dir / f".{spec.name}.ready"
        ready.unlink(missing_ok=True)
        log_path = self.store.log_path(spec.name)
        # -P: the working directory is not put first on the supervisor's sys.path (nor
        # its workers'), so a project's own dask.py or numpy.py cannot shadow them.
        command = [
            sys.executable, "-P", "-m", "scalecloud.infra.local.supervisor",
            "--spec", json.dumps(spec.to_dict()), "--ready", str(ready),
        ]  # fmt: skip
        owner = spec.extra.get("owner_pid")
        if owner:
            command += ["--owner-pid", str(owner)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["SCALECLOUD_HOME"] = str(self.store.home)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, close_fds=True, env=env,
            )  # fmt: skip
        created = time.time()
        try:
            report = self._wait_ready(proc, ready, log_path)
        except BaseException:
            _end_session(proc.pid, timeout=5.0)
            proc.wait(timeout=10)
            self.store.remove(spec.name)
            raise
        finally:
            ready.unlink(missing_ok=True)
        record = {
            "name": spec.name,
            "provider": self.name,
            "pid": proc.pid,
            "pid_create_time": psutil.Process(proc.pid).create_time(),
            "scheduler_address": report["scheduler_address"],
            "dashboard_url": report.get("dashboard_url"),
            "created": created,
            "spec": spec.to_dict(),
            "log": str(log_path),
        }
        with self.store.lock():
            self.store.put(spec.name, record)
        on_event(Event("info", f"scheduler at {report['scheduler_address']}"))
        info = self.status(spec.name)
        assert info is not None
        return info

    @staticmethod
    def _wait_ready(proc: subprocess.Popen, ready: Path, log_path: Path) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            report = read_json(ready)
            if report is not None:
                if "error" in report:
                    hint = "check the ports and the memory asked for"
                    if report["error"].startswith(("ModuleNotFoundError", "ImportError")):
                        hint = f"check this Python environment ({sys.executable})"
                    raise ScalecloudError(
                        f"the local cluster failed to start: {report['error']}",
                        f"{hint}; run with --debug for details",
                    )
                return report
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [
                    "(no output)"
                ]
                raise ScalecloudError(
                    f"the local cluster exited during start-up (code {proc.returncode}): {tail[0]}",
                    f"see its log {log_path}; check the memory asked for and that "
                    f"{log_path.parent} has free space",
                )
            time.sleep(0.1)
        raise ScalecloudError(
            f"the local cluster did not start within {START_TIMEOUT_S:.0f}s",
            "the machine may be overloaded; try fewer workers",
        )

    def _info(
        self, record: dict[str, Any], state: ClusterState, live: dict[str, Any]
    ) -> ClusterInfo:
        spec = ClusterSpec.from_dict(record["spec"])
        workers = tuple(
            WorkerInfo(w["address"], int(w["nthreads"]), int(w["memory_limit"] or 0))
            for w in sorted(live.get("workers", []), key=lambda w: w["address"])
        )
        adapt = live.get("adapt", list(spec.adapt) if spec.adapt else None) if live else spec.adapt
        return ClusterInfo(
            name=record["name"],
            provider=self.name,
            state=state,
            scheduler_address=record["scheduler_address"],
            dashboard_url=record.get("dashboard_url"),
            spec=spec,
            created=float(record["created"]),
            workers=workers,
            adapt=tuple(adapt) if adapt else None,  # type: ignore[arg-type]
            idle_timeout=spec.idle_timeout,
            hourly_cost=0.0,
            details={
                "pid": record["pid"],
                "log": record.get("log"),
                "idle_since": live.get("idle_since"),
            },
            rows=(("supervisor", f"pid {record['pid']}, log {record.get('log')}"),),
            same_environment=True,
        )

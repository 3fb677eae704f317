"""Run a workload on a cluster: validate the request, connect, execute, report.

Validation (``prepare``) happens before anything connects or runs, so bad input never
leaves anything behind. The library never prints: progress flows through ``on_event``.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.infra.provider import ClusterInfo
from scalecloud.workloads.records.recorder import Recorder
from scalecloud.workloads.registry import get_workload

# The request types live in request.py; importable from here too.
from scalecloud.workloads.request import PreparedRun, RunOutcome, WorkloadRequest

CONNECT_TIMEOUT_S = 15


def looks_like_script(target: str) -> bool:
    return target.endswith(".py") or os.sep in target or Path(target).is_file()


def prepare(request: WorkloadRequest) -> PreparedRun:
    """Check the request completely before anything runs."""
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    if request.seed is not None and not 0 <= request.seed < 2**32:
        raise ScalecloudError(f"--seed must be 0 to 2**32-1, got {request.seed}", "e.g. --seed 42")
    if looks_like_script(request.target):
        path = Path(request.target).expanduser()
        if not path.is_file():
            raise ScalecloudError(
                f"script {request.target} does not exist",
                "give the path of a Python file, or a workload name (see: scalecloud workloads)",
            )
        if request.settings or request.values:
            raise ScalecloudError(
                "--set applies to built-in workloads, not to scripts",
                f"pass arguments to the script after it: scalecloud submit {request.target} ARG ...",
            )
        ship = ship_paths(request.ship)
        params: dict[str, Any] = {"script": str(path.resolve())}
        if ship:
            params["ship"] = [str(p) for p in ship]
        return PreparedRun(
            path.name,
            seed,
            params,
            script=path.resolve(),
            args=request.args,
            seed_given=request.seed is not None,
            ship=ship,
        )
    if request.ship:
        raise ScalecloudError(
            "--ship applies to scripts, not to built-in workloads",
            "built-in workloads send their own code to the workers; leave --ship out",
        )
    workload = get_workload(request.target)
    if request.args:
        raise ScalecloudError(
            f"unexpected arguments {' '.join(request.args)!r} for workload {workload.name}",
            "set parameters with --set key=value",
        )
    params = workload.resolve(request.settings)
    for key, value in request.values:
        params[key] = workload.param(key).accept(value)
    workload.check_ready(params)
    return PreparedRun(
        workload.name, seed, params, workload=workload, seed_given=request.seed is not None
    )


def ship_paths(given: tuple[str, ...] | list[str]) -> tuple[Path, ...]:
    """The ``--ship`` paths, resolved; an error for one that does not exist."""
    found = []
    for text in given:
        path = Path(text).expanduser()
        if not path.exists():
            raise ScalecloudError(
                f"--ship {text}: no such file or folder",
                "give a module (helpers.py) or a package folder (mypkg/) to send to the workers",
            )
        found.append(path.resolve())
    return tuple(dict.fromkeys(found))


def local_data(run: PreparedRun) -> list[tuple[str, str]]:
    """(parameter, path) of each local path among the data a run's workers read
    themselves (``Param.on_workers``): a cluster whose workers do not share this machine's
    files cannot run it."""
    from scalecloud.workloads.data.locations import is_url

    if run.workload is None:
        return []
    return [
        (p.name, str(run.params[p.name]))
        for p in run.workload.params
        if p.on_workers and run.params.get(p.name) and not is_url(str(run.params[p.name]))
    ]


def quiet_dask_logs() -> None:
    """Keep Dask's connection chatter off the user's terminal.

    A lost scheduler makes the client log each failed reconnect at ERROR with its
    traceback; scalecloud reports that loss itself, in one line, so the client's logger is
    silenced below CRITICAL. ``SCALECLOUD_DEBUG=1`` (``--debug``) leaves every logger alone.
    """
    if os.environ.get("SCALECLOUD_DEBUG") == "1":
        return
    for name in ("distributed", "distributed.comm", "distributed.core"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)


def execute(
    run: PreparedRun, cluster: ClusterInfo, on_event: EventFn, *, record: bool = True,
    strict_versions: bool = False, rerun_of: str | None = None,
) -> RunOutcome:  # fmt: skip
    """Run a prepared workload or script on ``cluster``; returns how it ended.

    With ``record`` a run record is written before anything runs and completed however
    the run ends (the :class:`Recorder` around it). A version mismatch between the client
    and the cluster is a warning event, or with ``strict_versions`` an error before
    anything runs. A failure inside the workload raises; KeyboardInterrupt propagates
    after the script (if any) is stopped.
    """
    if not cluster.running:
        raise ScalecloudError(
            f"cluster {cluster.name!r} is {cluster.state}",
            f"clean it up with: scalecloud down --name {cluster.name}; then scalecloud up",
        )
    recording: AbstractContextManager[Recorder | None] = (
        Recorder.start(run, cluster, rerun_of) if record else nullcontext()
    )
    with recording as recorder:
        if recorder is not None:
            shown = f"run {recorder.id} recorded (see: scalecloud runs show {recorder.id})"
            on_event(Event("info", shown))
        if run.script is not None:
            outcome = _run_script(run, cluster, on_event, recorder, strict_versions)
        else:
            outcome = _run_builtin(run, cluster, on_event, recorder, strict_versions)
        if recorder is not None:
            recorder.complete(outcome, on_event)
    return outcome


def _connect(cluster: ClusterInfo, on_event: EventFn) -> Any:
    from distributed import Client

    quiet_dask_logs()
    on_event(Event("step", f"connecting to {cluster.scheduler_address}"))
    try:
        return Client(cluster.scheduler_address, timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise ScalecloudError(
            f"could not reach the scheduler of {cluster.name!r} at {cluster.scheduler_address}",
            f"check it with: scalecloud status --name {cluster.name}",
        ) from exc


VERSION_HINT = (
    "build a worker image with the client's versions (scalecloud image), or install the "
    "client's versions on the cluster"
)


def check_versions(
    client: Any, on_event: EventFn, recorder: Recorder | None, strict: bool
) -> list[Any]:
    """Compare the client's package versions with the scheduler's and workers'
    (distributed's ``get_versions``): record them, warn about a difference in a package
    that matters, and with ``strict`` refuse to run (the record says so)."""
    from scalecloud.infra.versions import cluster_versions, mismatches

    try:
        table = cluster_versions(client)
    except Exception as exc:  # an old or busy scheduler: say so, run anyway unless strict
        if recorder is not None:
            recorder.set_versions(None, [], f"{type(exc).__name__}: {exc}")
        if strict:
            raise ScalecloudError(
                f"could not read the cluster's package versions: {exc}", VERSION_HINT
            ) from exc
        on_event(Event("warning", f"could not read the cluster's package versions: {exc}"))
        return []
    found = mismatches(table)
    if recorder is not None:
        recorder.set_versions(table, found)
    important = [m for m in found if m.matters]
    if important and strict:
        message = "package versions differ between the client and the cluster: " + "; ".join(
            m.describe() for m in important
        )
        if recorder is not None:
            recorder.finish("refused", 1, f"{message} (--strict-versions)")
        raise ScalecloudError(message, VERSION_HINT)
    for mismatch in important:
        on_event(Event("warning", f"version mismatch, {mismatch.describe()}; fix: {VERSION_HINT}"))
    return found


def _run_builtin(
    run: PreparedRun,
    cluster: ClusterInfo,
    on_event: EventFn,
    recorder: Recorder | None,
    strict: bool,
) -> RunOutcome:
    from scalecloud.workloads import shipping
    from scalecloud.workloads.progress import ProgressMonitor

    assert run.workload is not None
    start = time.perf_counter()
    with _connect(cluster, on_event) as client:
        check_versions(client, on_event, recorder, strict)
        if shipping.needs_shipping(cluster.same_environment):
            on_event(Event("step", "sending scalecloud's workload code to the workers"))
            shipping.ship_code(client)
        # With no worker left past the deadline the monitor closes the client, which ends
        # whatever the workload waits for; the run then fails with the monitor's reason.
        monitor = ProgressMonitor(
            client, on_event, end_run=client.close, initial_deadline=_first_worker(cluster)
        )
        try:
            with monitor:
                result = run.workload.load()(client, run.params, run.seed, on_event)
        except Exception as exc:
            if monitor.gave_up is not None:
                raise monitor.gave_up from exc
            raise
    return RunOutcome(
        run.name, run.seed, run.params, "succeeded", 0, time.perf_counter() - start,
        result, monitor.worker_counts,
    )  # fmt: skip


def _run_script(
    run: PreparedRun,
    cluster: ClusterInfo,
    on_event: EventFn,
    recorder: Recorder | None,
    strict: bool,
) -> RunOutcome:
    from scalecloud.workloads import shipping
    from scalecloud.workloads.progress import ProgressMonitor

    assert run.script is not None
    env = dict(os.environ)
    env.update(
        DASK_SCHEDULER_ADDRESS=cluster.scheduler_address,
        SCALECLOUD_CLUSTER=cluster.name,
        SCALECLOUD_SEED=str(run.seed),
    )
    if run.ship:  # what the workers import, the script imports too
        shipped = [str(path.parent) for path in run.ship]
        env["PYTHONPATH"] = os.pathsep.join([*shipped, *filter(None, [env.get("PYTHONPATH")])])
    with _connect(cluster, on_event) as client:
        check_versions(client, on_event, recorder, strict)
        copy = shipping.needs_shipping(cluster.same_environment)
        shown = shipping.ship_user_code(client, run.script, run.ship, copy)
        what = f"{run.script.parent}" + (" and the --ship paths" if run.ship else "")
        on_event(Event("step", f"{what}: importable on the workers ({shown})"))
        on_event(Event("step", f"running {run.script.name} on {cluster.scheduler_address}"))
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(run.script), *run.args], env=env)
        monitor = ProgressMonitor(
            client, on_event, end_run=proc.terminate, initial_deadline=_first_worker(cluster)
        )
        try:
            with monitor:
                code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        if monitor.gave_up is not None:
            raise monitor.gave_up
    status = "succeeded" if code == 0 else "failed"
    return RunOutcome(
        run.name, run.seed, run.params, status, code, time.perf_counter() - start,
        worker_counts=monitor.worker_counts,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End a script: SIGTERM, then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _first_worker(cluster: ClusterInfo) -> float:
    """How long a run may wait for a first worker: an adaptive cluster may add nodes."""
    from scalecloud.workloads.progress import FIRST_WORKER_TIMEOUT_S

    return FIRST_WORKER_TIMEOUT_S if cluster.adapt else 0.0

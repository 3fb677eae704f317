"""The rehearsal: a cloud cluster's Dask pods run as local processes (issue 11).

Neither containers nor Kubernetes run here, so the test takes what they would run and
runs it without them:

- The DaskCluster is the one the gcp program declares under the mock runtime (the official
  Dask image, the workloads' packages pinned). The operator's own builders
  (``dask_kubernetes.operator.controller``) turn it into the scheduler's and the workers'
  pod specs, so each container gets the env the operator injects (``DASK_WORKER_NAME``,
  ``DASK_SCHEDULER_ADDRESS``).
- Each container's exact ``args`` and ``env`` run as a process, ``$(VAR)`` expanded as
  Kubernetes does, behind the official image's entry script (``prepare.sh``: a
  pip install of ``EXTRA_PIP_PACKAGES``, then exec), in a fresh virtual environment built
  from ``scalecloud image``'s pinned requirements, without scalecloud, and with an env
  holding only what the pod has (no PYTHONPATH, another working directory).
- Two substitutions stand for the pod network, and only these: the scheduler gets free
  ports on this machine (``--port``, ``--dashboard-address`` appended, where a pod has
  8786 and 8787 to itself), and the Service's address in ``DASK_SCHEDULER_ADDRESS``
  (``tcp://NAME-scheduler.NAMESPACE.svc.cluster.local:8786``) becomes
  ``tcp://127.0.0.1:PORT``: that name cannot resolve here, and /etc/hosts needs root.
- The scheduler is held to its liveness probe: ``/health`` on the ``http-dashboard``
  port must answer before the kubelet's third failed check (initialDelaySeconds, then
  every periodSeconds) would restart it.
- Then a kmeans run and a user script that imports a module beside it inside tasks
  go through scalecloud's own runner, as ``submit`` runs them on a cloud (code shipped).

The environment is built once per requirements and kept in
``~/.cache/scalecloud-rehearsal/<hash>`` (about a minute cold from a PyPI mirror).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

NAME = "rehearsal"
PREPARE_SH = (  # the official image's entry script, as far as these pods use it
    'if [ -n "$EXTRA_PIP_PACKAGES" ]; then '
    "python -m pip install --quiet $EXTRA_PIP_PACKAGES || exit 1; fi; "
    'exec "$@"'
)


@pytest.fixture(scope="session")
def image_env() -> Path:
    """A virtual environment of ``scalecloud image``'s requirements (the image's packages),
    cached by their hash; scalecloud is not in it."""
    from scalecloud.infra.image import recipe

    requirements = recipe().requirements()
    key = hashlib.sha256(f"{sys.version}\n{requirements}".encode()).hexdigest()[:16]
    target = Path.home() / ".cache" / "scalecloud-rehearsal" / key
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):  # one build at a time; the others then reuse it
        if not (target / "ready").exists():
            build_env(target, requirements)
    return target


def build_env(target: Path, requirements: str) -> None:
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    (target / "requirements.txt").write_text(requirements)
    pip = subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r",
         str(target / "requirements.txt")],
        capture_output=True, text=True,
    )  # fmt: skip
    if pip.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        offline = ("NewConnectionError", "Network is unreachable", "Name or service not known")
        if any(marker in pip.stderr for marker in offline):
            pytest.skip(
                f"no package index reachable to build the image's packages: {pip.stderr[-300:]}"
            )
        raise AssertionError(f"pip install of the image's requirements failed:\n{pip.stderr}")
    (target / "ready").write_text(requirements)


def daskcluster() -> dict[str, Any]:
    """The DaskCluster the gcp program declares (mock runtime), as the API receives it."""
    from scalecloud.infra.kube.plan import declare
    from scalecloud.infra.kube.spec import kube_spec
    from scalecloud.infra.registry import build_spec

    declared = declare(kube_spec(build_spec("gcp", NAME, workers=2)))
    return next(d.inputs for d in declared if d.type.endswith(":DaskCluster"))


def expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names replaced, ``$$`` an escaped ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, arg)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(container: dict[str, Any], venv: Path, folder: Path, extra: list[str] = (),
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:  # fmt: skip
    """A container as a process: its env only, its args expanded, behind prepare.sh."""
    folder.mkdir(parents=True)
    pod_env = {e["name"]: str(e["value"]) for e in container.get("env", [])}
    pod_env.update(env or {})
    args = [expand(a, pod_env) for a in [*container.get("command", []), *container["args"]]]
    pod_env.update(
        PATH=f"{venv / 'bin'}:/usr/bin:/bin", HOME=str(folder), PIP_DISABLE_PIP_VERSION_CHECK="1"
    )
    log = (folder / "log").open("wb")
    return subprocess.Popen(
        ["sh", "-c", PREPARE_SH, "prepare.sh", *args, *extra],
        cwd=folder, env=pod_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def tail(folder: Path) -> str:
    """The last lines a pod wrote."""
    lines = (folder / "log").read_text(errors="replace").splitlines()
    return "\n".join(lines[-8:])


def healthy(port: int, probe: dict[str, Any]) -> bool:
    try:
        url = f"http://127.0.0.1:{port}{probe['httpGet']['path']}"
        with urllib.request.urlopen(url, timeout=probe.get("timeoutSeconds", 1)) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def hold_to_liveness_probe(
    proc: subprocess.Popen[bytes], folder: Path, port: int, probe: dict[str, Any]
) -> float:
    """Seconds until ``/health`` answered; fails where the kubelet would have restarted
    the scheduler (its failureThreshold-th failed check) or where it exited."""
    started = time.monotonic()
    last_check = (
        probe.get("initialDelaySeconds", 0)
        + (probe.get("failureThreshold", 3) - 1) * probe.get("periodSeconds", 10)
        + probe.get("timeoutSeconds", 1)
    )
    while time.monotonic() - started < last_check:
        assert proc.poll() is None, f"the scheduler exited: {tail(folder)}"
        if healthy(port, probe):
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"the scheduler did not answer its liveness probe within {last_check} s")


HELPERS = "def square(x):\n    return x * x\n"
SCRIPT = textwrap.dedent(
    """
    from distributed import Client
    import helpers

    with Client() as client:  # DASK_SCHEDULER_ADDRESS, as submit sets it
        print("SQUARES", client.gather(client.map(helpers.square, range(5))))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_declared_pods_run_kmeans_and_a_users_script(image_env, tmp_path, monkeypatch, capfd):
    from dask_kubernetes.operator.controller.controller import (
        build_scheduler_deployment_spec,
        build_worker_deployment_spec,
    )
    from scalecloud.infra.provider import ClusterInfo, ClusterState
    from scalecloud.infra.registry import build_spec
    from scalecloud.workloads.runner import execute

    from scalecloud import prepare

    no_scalecloud = subprocess.run(
        [str(image_env / "bin" / "python"), "-c", "import scalecloud"],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, capture_output=True,
    )  # fmt: skip
    assert no_scalecloud.returncode != 0, "the image's environment must not hold scalecloud"

    manifest = daskcluster()
    namespace, spec = manifest["metadata"]["namespace"], manifest["spec"]
    scheduler_pod = build_scheduler_deployment_spec(NAME, spec["scheduler"]["spec"], {}, {})
    scheduler = scheduler_pod["spec"]["template"]["spec"]["containers"][0]
    service_port = {p["name"]: int(p["port"]) for p in spec["scheduler"]["service"]["ports"]}
    assert service_port == {"tcp-comm": 8786, "http-dashboard": 8787}
    comm, dashboard = free_port(), free_port()
    folders = [tmp_path / "scheduler", *(tmp_path / f"worker-{i}" for i in range(2))]
    procs = [
        start(scheduler, image_env, folders[0],
              ["--port", str(comm), "--dashboard-address", f":{dashboard}"])
    ]  # fmt: skip
    try:
        ready_after = hold_to_liveness_probe(
            procs[0], folders[0], dashboard, scheduler["livenessProbe"]
        )
        assert int(spec["worker"]["replicas"]) == len(folders) - 1
        service = f"tcp://{NAME}-scheduler.{namespace}.svc.cluster.local:8786"
        for i in range(int(spec["worker"]["replicas"])):
            pod = build_worker_deployment_spec(
                f"{NAME}-default", namespace, NAME, f"w{i}", spec["worker"]["spec"], {}, {}
            )
            worker = pod["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: e["value"] for e in worker["env"]}
            assert env["DASK_SCHEDULER_ADDRESS"] == service  # what the operator gives
            local = {"DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{comm}"}  # the Service here
            procs.append(start(worker, image_env, folders[1 + i], env=local))

        from distributed import Client

        with Client(f"tcp://127.0.0.1:{comm}", timeout=30) as client:
            deadline = time.monotonic() + 180
            while len(client.scheduler_info()["workers"]) < len(procs) - 1:
                for proc, folder in zip(procs, folders, strict=True):
                    assert proc.poll() is None, f"{folder.name} exited: {tail(folder)}"
                assert time.monotonic() < deadline, "the workers did not join in 180 s"
                time.sleep(0.5)
            names = sorted(w["name"] for w in client.scheduler_info()["workers"].values())
        assert names == [f"{NAME}-default-worker-w0", f"{NAME}-default-worker-w1"]

        monkeypatch.setenv("SCALECLOUD_HOME", str(tmp_path / "home"))
        monkeypatch.delenv("SCALECLOUD_SHIP_CODE", raising=False)
        info = ClusterInfo(
            NAME, "gcp", ClusterState.RUNNING, f"tcp://127.0.0.1:{comm}",
            f"http://127.0.0.1:{dashboard}/status", build_spec("gcp", NAME, workers=2),
            time.time(), same_environment=False,
        )  # fmt: skip
        events: list[Any] = []
        kmeans = execute(prepare("kmeans", n_blocks=4, seed=0), info, events.append)
        assert kmeans.status == "succeeded" and kmeans.result is not None
        assert kmeans.result.metrics["n_iter"] >= 1
        assert not [e for e in events if e.kind == "warning" and "version" in e.message]

        project = tmp_path / "project"
        project.mkdir()
        (project / "helpers.py").write_text(HELPERS)
        (project / "job.py").write_text(SCRIPT)
        capfd.readouterr()
        script = execute(prepare(str(project / "job.py"), seed=0), info, events.append)
        out, err = capfd.readouterr()
        assert script.status == "succeeded", err[-2000:]
        assert "SQUARES [0, 1, 4, 9, 16]" in out
        assert healthy(dashboard, scheduler["livenessProbe"])  # still alive at the end
        print(f"scheduler answered /health after {ready_after:.1f} s")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

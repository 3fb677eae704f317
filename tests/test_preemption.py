"""Preemption on Kubernetes is graceful: with --spot the scheduler runs on on-demand
capacity and the workers on spot (asserted on what each program declares under Pulumi's
mock runtime), and a stopped worker's preStop hook retires it, so that its data moves to
the others (the hook's exact command run against a real local cluster)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from scalecloud.infra.kube.dask import RETIRE_GRACE_S, dask_cluster_manifest, retire_command
from scalecloud.infra.kube.plan import declare
from scalecloud.infra.kube.prices import estimate
from scalecloud.infra.kube.spec import POOL_LABEL, kube_spec
from scalecloud.infra.registry import build_spec
from test_kube_programs import one

DASK = "kubernetes:kubernetes.dask.org/v1:DaskCluster"


def spec(provider: str, spot: bool):
    return kube_spec(build_spec(provider, "exp-1", adapt=(1, 4), spot=spot))


def pools(provider: str, declared) -> dict[str, dict]:
    """Node pools by name: ``{spot, labels}`` as each cloud declares them."""
    found = {}
    for d in declared:
        if d.type == "gcp:container/nodePool:NodePool":
            config = d.inputs["nodeConfig"]
            found[d.name] = {"spot": config["spot"], "labels": config.get("labels", {})}
        elif d.type == "aws:eks/nodeGroup:NodeGroup":
            found[d.name] = {"spot": d.inputs["capacityType"] == "SPOT",
                             "labels": d.inputs.get("labels", {})}  # fmt: skip
        elif d.type == "azure-native:containerservice:AgentPool":
            found[d.name] = {"spot": d.inputs.get("scaleSetPriority") == "Spot",
                             "labels": d.inputs.get("nodeLabels", {})}  # fmt: skip
        elif d.type == "azure-native:containerservice:ManagedCluster":
            for profile in d.inputs["agentPoolProfiles"]:
                found[profile["name"]] = {"spot": False, "labels": profile.get("nodeLabels", {})}
    return found


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_with_spot_the_scheduler_runs_on_demand_and_the_workers_on_spot(provider):
    declared = declare(spec(provider, spot=True))
    cluster = one(declared, DASK).inputs["spec"]
    scheduler_pool = cluster["scheduler"]["spec"]["nodeSelector"][POOL_LABEL]
    worker_pool = cluster["worker"]["spec"]["nodeSelector"][POOL_LABEL]
    by_label = {p["labels"].get(POOL_LABEL): p for p in pools(provider, declared).values()}
    assert by_label[scheduler_pool]["spot"] is False  # a pool that is never reclaimed
    assert by_label[worker_pool]["spot"] is True
    # The spot taint (Azure) is tolerated by the workers only.
    assert all("scalesetpriority" not in t["key"]
               for t in cluster["scheduler"]["spec"].get("tolerations", []))  # fmt: skip
    # The scheduler's node is in the estimate (Azure: its system pool, there anyway).
    lines = [line["item"] for line in estimate(spec(provider, spot=True))["lines"]]
    assert provider == "azure" or any("(on-demand)" in item for item in lines)


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure", "minikube"])
def test_without_spot_nothing_is_pinned_and_no_pool_is_added(provider):
    declared = declare(spec(provider, spot=False))
    cluster = one(declared, DASK).inputs["spec"]
    assert "nodeSelector" not in cluster["scheduler"]["spec"]
    assert "nodeSelector" not in cluster["worker"]["spec"]
    assert not [name for name in pools(provider, declared) if name.endswith("-scheduler")]


@pytest.mark.parametrize("provider", ["gcp", "minikube"])
def test_workers_have_a_retiring_prestop_hook_and_a_grace_period(provider):
    worker = one(declare(spec(provider, spot=False)), DASK).inputs["spec"]["worker"]["spec"]
    assert worker["terminationGracePeriodSeconds"] == RETIRE_GRACE_S
    hook = worker["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert hook == retire_command() and "retire_workers" in hook[-1]
    deadline = int(hook[-1].split("timeout ")[1].split()[0])
    assert deadline < RETIRE_GRACE_S  # the hook ends before the kubelet's SIGKILL


def test_the_prestop_hook_moves_the_workers_data_to_the_others():
    """The hook's exact command, with the env the operator gives a worker, on a real
    scheduler with two named ``dask worker`` processes: the retired worker's results are
    moved to the other, not lost."""
    from distributed import Client, LocalCluster

    manifest = dask_cluster_manifest(spec("gcp", spot=False))
    hook = manifest["spec"]["worker"]["spec"]["containers"][0]["lifecycle"]["preStop"]
    command = hook["exec"]["command"]
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    with (
        LocalCluster(n_workers=0, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        workers = [
            subprocess.Popen(
                [
                    os.path.join(bin_dir, "dask"),
                    "worker",
                    cluster.scheduler_address,
                    "--name",
                    name,
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name in ("exp-1-default-worker-a", "exp-1-default-worker-b")
        ]
        try:
            client.wait_for_workers(2, timeout=60)
            by_name = {w["name"]: a for a, w in client.scheduler_info()["workers"].items()}
            doomed = by_name["exp-1-default-worker-a"]
            # Scattered data cannot be recomputed: it survives only if it was moved.
            futures = client.scatter([i * i for i in range(20)], workers=[doomed])
            hook_env = dict(env, DASK_SCHEDULER_ADDRESS=cluster.scheduler_address,
                            DASK_WORKER_NAME="exp-1-default-worker-a")  # fmt: skip
            done = subprocess.run(command, env=hook_env, capture_output=True, text=True,
                                  timeout=60)  # fmt: skip
            assert done.returncode == 0, done.stderr
            left = client.scheduler_info()["workers"]
            assert doomed not in left and len(left) == 1
            survivor = next(iter(left))
            assert all(client.who_has(f)[f.key] == (survivor,) for f in futures)  # moved
            assert client.gather(futures) == [i * i for i in range(20)]
            assert workers[0].wait(timeout=30) is not None  # the retired worker exited
        finally:
            for proc in workers:
                proc.kill()
                proc.wait()


def test_the_containers_commands_exist_in_this_distributed():
    """The DaskCluster's scheduler and worker argv, run as they are (the image's PATH holds
    distributed's console scripts): both start. `dask-scheduler` and `dask-worker` are gone
    from distributed 2026.6 on."""
    cluster = dask_cluster_manifest(spec("gcp", spot=False))["spec"]
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    for part in ("scheduler", "worker"):
        args = cluster[part]["spec"]["containers"][0]["args"]
        assert args[:2] == ["dask", part]
        found = subprocess.run([*args[:2], "--help"], env=env, capture_output=True, text=True,
                               timeout=60)  # fmt: skip
        assert found.returncode == 0, found.stderr
        assert "--nthreads" in found.stdout if part == "worker" else "--host" in found.stdout

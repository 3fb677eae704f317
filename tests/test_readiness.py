"""``up`` waits for Dask, not only for Pulumi (issue 11, point 5): the pods' state as
Kubernetes reports it is read for readiness and for what holds them back, a pod that
cannot start fails ``up`` at once with its reason and last log lines, and no wait lacks
a deadline."""

from __future__ import annotations

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.readiness import (
    PodProblem,
    Readiness,
    pod_problems,
    readiness,
    wait_for_dask,
)
from test_kube_driver import fake, spec  # noqa: F401 (a fixture)


def pod(name, phase="Running", ready=True, conditions=(), statuses=()):
    """A pod as ``kubectl get pod -o json`` shows it (the fields read)."""
    conds = [{"type": "Ready", "status": "True" if ready else "False"}, *conditions]
    return {"metadata": {"name": name},
            "status": {"phase": phase, "conditions": conds, "containerStatuses": list(statuses)}}  # fmt: skip


def waiting(reason, message="", restarts=0, name="worker"):
    return {"name": name, "restartCount": restarts, "ready": False,
            "state": {"waiting": {"reason": reason, "message": message}}}  # fmt: skip


UNSCHEDULABLE = {
    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
    "message": "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available",
}  # fmt: skip


def test_the_reasons_a_pod_is_held_back_are_named():
    pods = [
        pod("s-scheduler", ready=True),
        pod("w-1", phase="Pending", ready=False, conditions=[UNSCHEDULABLE]),
        pod("w-2", phase="Pending", ready=False, statuses=[waiting(
            "ImagePullBackOff", 'Back-off pulling image "ghcr.io/dask/dask:2099.1.0-py3.11"')]),
        pod("w-3", ready=False, statuses=[waiting("CrashLoopBackOff", "back-off 40s", 1)]),
        pod("w-4", ready=False, statuses=[waiting("CrashLoopBackOff", "back-off 5m", 4)]),
        pod("w-5", phase="Pending", ready=False, statuses=[waiting("ContainerCreating")]),
    ]  # fmt: skip
    found = {p.pod: p for p in pod_problems(pods)}
    assert set(found) == {"w-1", "w-2", "w-3", "w-4"}  # creating a container is no problem
    assert found["w-1"].reason == "Unschedulable" and "Insufficient cpu" in str(found["w-1"])
    assert not found["w-1"].fatal  # the node autoscaler may add a node
    assert found["w-2"].fatal and "2099.1.0" in str(found["w-2"])
    assert not found["w-3"].fatal and found["w-4"].fatal  # restarting, then failing
    now = readiness([pods[0]], pods[1:])
    assert (now.scheduler_ready, now.workers_ready, now.workers) == (True, 0, 5)
    assert now.summary() == "scheduler ready, workers ready 0/5"


def test_waiting_reports_changes_and_succeeds_once_a_client_reaches_the_scheduler():
    states = [
        Readiness(problems=[PodProblem("s", "", "Unschedulable", "0/1 nodes", False)]),
        Readiness(scheduler_ready=True, workers=1),
        Readiness(scheduler_ready=True, workers_ready=1, workers=1),
        Readiness(scheduler_ready=True, workers_ready=1, workers=1),
    ]
    reached = iter([False, True])  # the port-forward answers on the second try
    events = []
    took = wait_for_dask("c1", lambda: states.pop(0), lambda: next(reached), lambda p: [],
                         events.append, poll=0.01)  # fmt: skip
    assert took >= 0 and states == []
    said = [e.message for e in events]
    assert said[0].startswith("waiting for Dask: scheduler not ready") and "0/1 nodes" in said[0]
    assert len(said) == len(set(said)) == 3  # each state once, not once per poll


def test_a_pod_that_cannot_start_fails_at_once_with_its_last_log_lines():
    crash = PodProblem("c1-scheduler-x", "scheduler", "CrashLoopBackOff", "back-off", True)
    with pytest.raises(ScalecloudError, match="CrashLoopBackOff") as caught:
        wait_for_dask(
            "c1", lambda: Readiness(problems=[crash]), lambda: True,
            lambda p: ["dask-scheduler: not found"] if p is crash else [], lambda e: None,
        )  # fmt: skip
    assert "last log lines: dask-scheduler: not found" in caught.value.message
    assert "scalecloud down --name c1" in caught.value.hint


def test_every_wait_has_a_deadline_and_says_what_it_last_saw():
    stuck = Readiness(problems=[PodProblem("w", "", "Unschedulable", "0/1 nodes", False)])
    with pytest.raises(ScalecloudError, match=r"not ready after 0 s: .*0/1 nodes"):
        wait_for_dask("c1", lambda: stuck, lambda: True, lambda p: [], lambda e: None,
                      timeout=0.05, poll=0.01)  # fmt: skip

    def api_down():
        raise OSError("connection refused")

    with pytest.raises(ScalecloudError, match=r"unreachable .connection refused"):
        wait_for_dask("c1", api_down, lambda: True, lambda p: [], lambda e: None,
                      timeout=0.05, poll=0.01)  # fmt: skip


def test_up_waits_for_dask_and_says_what_installing_at_start_cost(fake):  # noqa: F811
    provider, cli = fake
    cli_fake = cli
    cli_fake.readiness = [
        Readiness(scheduler_ready=False, workers=1),
        Readiness(scheduler_ready=True, workers_ready=1, workers=1),
    ]
    events = []
    import scalecloud.infra.kube.readiness as module

    module_poll, module.POLL_S = module.POLL_S, 0.01
    try:
        info = provider.up(spec(), events.append)
    finally:
        module.POLL_S = module_poll
    assert info.state == "running" and cli_fake.reached == ["t1"]
    from scalecloud.infra.image import official_image

    assert cli_fake.images == [official_image()]  # its tag was checked before anything
    said = [e.message for e in events]
    assert any("waiting for Dask: scheduler not ready" in m for m in said)
    assert any(m.startswith("Dask is ready after") for m in said)
    warning = [e.message for e in events if e.kind == "warning"]
    assert any("pip-install" in m and "up --image" in m for m in warning)


def test_up_fails_with_the_reason_when_the_image_cannot_be_pulled(fake):  # noqa: F811
    provider, cli = fake
    pull = PodProblem("t1-worker-x", "worker", "ImagePullBackOff", "manifest unknown", True)
    cli.readiness = [Readiness(scheduler_ready=True, workers=1, problems=[pull])]
    with pytest.raises(ScalecloudError, match=r"ImagePullBackOff .manifest unknown") as caught:
        provider.up(spec(), lambda e: None)
    assert "pip: No matching distribution | exit 1" in caught.value.message
    assert provider.store.get("t1")["state"] == "running"  # it exists, and bills: down finds it


def test_status_shows_the_readiness_of_scheduler_and_workers_and_what_holds_them(fake):  # noqa: F811
    provider, cli = fake
    provider.up(spec(), lambda e: None)
    cli.live = {"nodes": 1, "dask_cluster": True, "load_balancer": None,
                "scheduler_ready": True, "workers_ready": 1,
                "workers": [{"name": "w-1", "phase": "Running"}, {"name": "w-2", "phase": "Pending"}],
                "problems": ["w-2: Unschedulable (0/1 nodes are available: 1 Insufficient cpu.)"]}  # fmt: skip
    info = provider.status("t1")
    rows = dict(info.rows[:2])
    assert rows["dask"] == "scheduler ready, workers 1/2 ready"
    assert "Insufficient cpu" in rows["problem"]
    assert info.details["scheduler_ready"] is True and info.details["workers_ready"] == 1

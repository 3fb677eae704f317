"""End to end on minikube or a real cloud: up, status, submit, down, and nothing left.

Opt-in only (``--run-minikube``, ``--run-cloud gcp``): they need the Pulumi CLI, minikube
or credentials, and the cloud ones cost money. ``down`` runs whatever happens, and the test
then checks that the stack, the record and the cluster's namespace are gone.
"""

from __future__ import annotations

import pytest

SMALL = ["--workers", "1", "--idle-timeout", "30m"]


def lifecycle(cli, provider: str, name: str, *extra: str) -> None:
    try:
        up = cli("up", "--provider", provider, "--name", name, *SMALL, *extra, timeout=3600)
        assert up.code == 0, up.err
        assert "Dask is ready after" in up.err, up.err  # up waited for the scheduler
        status = cli("status", "--name", name, "--json", check=True).json()
        assert status["provider"] == provider and status["state"] == "running"
        # Ready as Kubernetes says it (the scheduler's readiness probe), a worker too.
        assert status["details"]["scheduler_ready"] is True, status["details"]
        assert status["details"]["workers_ready"] >= 1 and status["details"]["problems"] == []
        assert status["details"]["hourly_cost_range"][0] >= 0
        run = cli("submit", "kmeans", "--name", name, "--set", "n_blocks=2", "--json", timeout=1800)
        assert run.code == 0, run.err
        result = run.json()
        assert result["status"] == "succeeded" and result["metrics"]["inertia"] > 0
        assert sum(result["metrics"]["cluster_sizes"]) == 2 * 20_000  # every row, once
    finally:
        down = cli("down", "--name", name, timeout=3600)
    assert down.code == 0, down.err
    assert "held nothing after destroy" in down.out
    assert cli.records() == []
    again = cli("down", "--name", name, check=True)  # idempotent
    assert "nothing to stop" in again.out


@pytest.mark.minikube
def test_minikube_up_submit_down(cli):
    lifecycle(cli, "minikube", "live-mk")


@pytest.mark.cloud
@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_cloud_up_submit_down(cli, provider):
    lifecycle(cli, provider, f"live-{provider}", "--spot", "--min-nodes", "0", "--max-nodes", "2")

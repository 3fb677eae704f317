"""Workers request what they use, so the node autoscalers add nodes (issue 11, point 6),
and the scheduler installs no packages at start (point 1)."""

from __future__ import annotations

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.dask import dask_cluster_manifest
from scalecloud.infra.kube.sizing import GIB, allocatable, fit_report
from scalecloud.infra.kube.spec import kube_spec
from scalecloud.infra.spec import ClusterSpec
from test_kube_driver import assert_refused

pytest.importorskip("dask_kubernetes")


def test_a_nodes_allocatable_share_follows_gkes_documented_reservations():
    # GKE's documentation: a 4 vCPU / 16 GiB node reserves 80m CPU, 2.6 GiB of memory for
    # the kubelet and system, and 100 MiB for eviction. scalecloud also leaves room for the
    # system pods' requests (0.4 CPU, 1 GiB).
    cpu, memory = allocatable(4, 16)
    assert cpu == pytest.approx(4 - 0.08 - 0.4)
    assert memory == pytest.approx(16 - 2.6 - 0.1 - 1.0)
    big_cpu, big_memory = allocatable(64, 256)  # every tier applies
    assert big_cpu == pytest.approx(64 - (0.06 + 0.01 + 0.01 + 60 * 0.0025) - 0.4)
    assert big_memory == pytest.approx(256 - (1 + 0.8 + 0.8 + 6.72 + 2.56) - 0.1 - 1.0)


def worker_of(spec):
    return dask_cluster_manifest(spec)["spec"]["worker"]["spec"]["containers"][0]


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_workers_request_their_threads_and_their_share_of_a_node(provider):
    spec = kube_spec(ClusterSpec(provider=provider, name="s", adapt=(1, 7)))
    resources = worker_of(spec)["resources"]
    cpu, memory_gib = allocatable(4, 16)  # the default machines of all three: 4 vCPU, 16 GiB
    per_node = int(cpu)  # one-thread workers
    assert resources["requests"]["cpu"] == "1"
    share = int(resources["requests"]["memory"])
    assert resources["limits"]["memory"] == str(share) and share > 3 * GIB
    assert per_node * share <= memory_gib * GIB < (per_node + 1) * share
    assert spec.max_nodes == -(-7 // per_node)  # enough nodes for --adapt's maximum
    fit = fit_report(spec)
    assert (fit["workers_per_node"], fit["nodes_for_max_workers"]) == (per_node, spec.max_nodes)
    # --memory-per-worker and --threads-per-worker are what is requested, and decide the fit.
    given = kube_spec(ClusterSpec(provider=provider, name="s", adapt=(1, 7),
                                  threads_per_worker=2, memory_per_worker=2 * GIB))  # fmt: skip
    assert worker_of(given)["resources"]["requests"] == {"cpu": "2", "memory": str(2 * GIB)}
    assert fit_report(given)["workers_per_node"] == 1  # 3.52 cores hold one 2-thread worker


def test_minikube_workers_request_cpu_and_only_the_memory_they_are_given():
    spec = kube_spec(ClusterSpec(provider="minikube", name="s", workers=2))
    assert worker_of(spec)["resources"] == {"requests": {"cpu": "1"}}
    assert fit_report(spec)["known"] is False
    sized = kube_spec(ClusterSpec(provider="minikube", name="s", memory_per_worker=GIB))
    assert worker_of(sized)["resources"]["requests"]["memory"] == str(GIB)


def test_the_scheduler_installs_nothing_and_the_workers_have_no_probe_to_outlive():
    manifest = dask_cluster_manifest(kube_spec(ClusterSpec(provider="gcp", name="s")))
    scheduler = manifest["spec"]["scheduler"]["spec"]["containers"][0]
    worker = manifest["spec"]["worker"]["spec"]["containers"][0]
    assert "env" not in scheduler and scheduler["livenessProbe"]["initialDelaySeconds"] == 15
    assert [e["name"] for e in worker["env"]] == ["EXTRA_PIP_PACKAGES"]
    assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(worker)
    own = dask_cluster_manifest(
        kube_spec(ClusterSpec(provider="gcp", name="s", extra={"image": "me/dask:1"}))
    )
    assert all(
        "env" not in own["spec"][p]["spec"]["containers"][0] for p in ("scheduler", "worker")
    )


def test_a_worker_that_fits_no_node_is_refused_before_anything_exists():
    with pytest.raises(ScalecloudError, match="does not fit on a e2-standard-4 node"):
        kube_spec(ClusterSpec(provider="gcp", name="s", threads_per_worker=4))
    with pytest.raises(ScalecloudError, match="does not fit"):
        kube_spec(ClusterSpec(provider="aws", name="s", memory_per_worker=20 * GIB))
    # a larger machine takes it
    big = kube_spec(ClusterSpec(provider="gcp", name="s", threads_per_worker=4,
                                extra={"machine_type": "e2-standard-8"}))  # fmt: skip
    assert fit_report(big)["workers_per_node"] == 1


def test_plan_refuses_a_node_pool_too_small_for_the_workers_and_shows_the_fit(cli):
    result = cli("plan", "--provider", "gcp", "--name", "f1", "--adapt", "1:8", "--max-nodes", "2")
    assert_refused(cli, result, "8 workers need 3 e2-standard-4 nodes", "--max-nodes to 3")
    shown = cli("plan", "--provider", "gcp", "--name", "f1", "--adapt", "1:8", check=True).out
    assert "3 fit on one e2-standard-4 node" in " ".join(shown.split())
    assert "8 workers need 3 of at most 3 nodes" in " ".join(shown.split())

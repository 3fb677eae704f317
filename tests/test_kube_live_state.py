"""infra/kube_live.py against a stand-in for kr8s's API (no cluster here)."""

from __future__ import annotations

import pytest
from scalecloud.infra.kube import live as kube_live
from scalecloud.infra.kube.spec import kube_spec
from scalecloud.infra.spec import ClusterSpec


class Obj:
    def __init__(self, api, kind, name, labels=None, phase="Running"):
        self.api, self.kind, self.name = api, kind, name
        self.labels = labels or {}
        self.status = {"phase": phase}
        ready = {"type": "Ready", "status": "True" if phase == "Running" else "False"}
        self.raw = {"metadata": {"name": name}, "status": {"phase": phase, "conditions": [ready]}}

    def delete(self):
        self.api.deleted.append((self.kind, self.name))
        self.api.objects.remove(self)
        if self.kind.startswith("daskclusters"):  # the operator removes what it made
            self.api.objects = [o for o in self.api.objects if o.kind not in ("services", "pods")]


class FakeApi:
    def __init__(self):
        self.objects: list[Obj] = []
        self.deleted: list[tuple[str, str]] = []
        self.timeout = None

    def add(self, kind, name, **kwargs):
        self.objects.append(Obj(self, kind, name, **kwargs))

    def get(self, kind, namespace=None, label_selector=None):
        wanted = label_selector or {}
        return [
            o for o in list(self.objects)
            if o.kind == kind and all(o.labels.get(k) == v for k, v in wanted.items())
        ]  # fmt: skip


@pytest.fixture
def api(monkeypatch):
    fake = FakeApi()
    monkeypatch.setattr(kube_live, "_api", lambda access: fake)
    monkeypatch.setattr(kube_live.time, "sleep", lambda s: None)
    return fake


SPEC = kube_spec(ClusterSpec(provider="gcp", name="k1", adapt=(1, 3)))
DASK = {"dask.org/cluster-name": "k1"}


def populate(api):
    api.add("nodes", "n1", labels={"scalecloud-cluster": "k1"})
    api.add("nodes", "n2", labels={"scalecloud-cluster": "k1"})
    api.add("nodes", "other")
    api.add("daskclusters.kubernetes.dask.org", "k1")
    api.add("daskautoscalers.kubernetes.dask.org", "k1")
    api.add("pods", "k1-scheduler", labels={**DASK, "dask.org/component": "scheduler"})
    api.add("pods", "k1-w1", labels={**DASK, "dask.org/component": "worker"})
    api.add("pods", "k1-w2", labels={**DASK, "dask.org/component": "worker"}, phase="Pending")
    api.add("services", "k1-scheduler", labels=DASK)


def test_live_state_counts_this_clusters_nodes_and_workers(api):
    populate(api)
    state = kube_live.live_state({}, SPEC)
    assert state == {
        "nodes": 2, "scheduler_ready": True, "dask_cluster": True, "load_balancer": None,
        "workers": [{"name": "k1-w1", "phase": "Running"}, {"name": "k1-w2", "phase": "Pending"}],
        "workers_ready": 1, "problems": [],
    }  # fmt: skip
    api.objects = [o for o in api.objects if not o.kind.startswith("daskclusters")]
    assert kube_live.live_state({}, SPEC)["dask_cluster"] is False


def test_delete_dask_objects_deletes_autoscaler_then_cluster_and_waits(api):
    populate(api)
    assert kube_live.delete_dask_objects({}, SPEC, timeout=5) == []
    assert api.deleted == [
        ("daskautoscalers.kubernetes.dask.org", "k1"), ("daskclusters.kubernetes.dask.org", "k1")
    ]  # fmt: skip
    assert not api.get("services", label_selector=DASK)


def test_delete_dask_objects_reports_what_will_not_go(api):
    api.add("services", "k1-scheduler", labels=DASK)  # no DaskCluster: nothing removes it
    assert kube_live.delete_dask_objects({}, SPEC, timeout=0) == ["services k1-scheduler"]


def test_live_state_reports_the_exposed_schedulers_load_balancer(api):
    populate(api)
    exposed = kube_spec(
        ClusterSpec(provider="gcp", name="k1", extra={"expose_cidr": "203.0.113.7/32"})
    )
    assert kube_live.live_state({}, exposed)["load_balancer"] is None  # not given yet
    service = next(o for o in api.objects if o.kind == "services")
    service.raw["status"] = {"loadBalancer": {"ingress": [{"hostname": "k1.elb.amazonaws.com"}]}}
    assert kube_live.live_state({}, exposed)["load_balancer"] == "k1.elb.amazonaws.com"
    assert kube_live.live_state({}, SPEC)["load_balancer"] is None  # private: never looked up

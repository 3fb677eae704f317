"""Two scalecloud clusters on one Kubernetes (two on one minikube) do not collide
(issue 11, point 7): each has its own operator, confined to its namespace with a
namespaced Role, and they come and go in either order."""

from __future__ import annotations

from importlib.resources import files

import pytest
from scalecloud.infra.kube.dask import operator_release_args
from scalecloud.infra.kube.plan import declare
from scalecloud.infra.kube.readiness import Readiness
from scalecloud.infra.kube.spec import kube_spec
from scalecloud.infra.spec import ClusterSpec
from scalecloud.infra.state import StateStore
from test_kube_driver import FakePulumi

pytest.importorskip("dask_kubernetes")

CHART = files("dask_kubernetes") / "operator/deployment/helm/dask-kubernetes-operator"


def test_the_charts_cluster_wide_rbac_is_what_the_values_turn_off():
    """The chart names its ClusterRole after the release's service account, the same in
    every namespace; the values scalecloud gives make it render a Role instead."""
    values = operator_release_args(kube_spec(ClusterSpec(provider="minikube", name="a")))
    assert values["values"]["rbac"] == {"create": True, "cluster": False}
    for template, rendered in (("clusterrole", False), ("clusterrolebinding", False),
                               ("role", True), ("rolebinding", True)):  # fmt: skip
        head = (CHART / "templates" / f"{template}.yaml").read_text().splitlines()[0]
        cluster_only = "(not .Values.rbac.cluster)" not in head
        assert ".Values.rbac.create" in head and cluster_only != rendered
    assert "kopfArgs" in (CHART / "templates/deployment.yaml").read_text()


def test_two_clusters_on_one_minikube_declare_nothing_in_common():
    declared = {n: declare(kube_spec(ClusterSpec(provider="minikube", name=n))) for n in "ab"}
    releases, namespaces = {}, {}
    for name, found in declared.items():
        (release,) = [d for d in found if d.type == "kubernetes:helm.sh/v3:Release"]
        spec = kube_spec(ClusterSpec(provider="minikube", name=name))
        assert release.inputs["namespace"] == spec.namespace
        assert release.inputs["values"]["kopfArgs"] == ["--namespace", spec.namespace]
        releases[name] = (release.inputs["namespace"], release.inputs["name"])
        (ns,) = [d for d in found if d.type == "kubernetes:core/v1:Namespace"]
        namespaces[name] = ns.inputs["metadata"]["name"]
    assert releases["a"] != releases["b"] and namespaces["a"] != namespaces["b"]


@pytest.mark.parametrize("first", ["a", "b"])
def test_either_cluster_goes_first_and_the_other_keeps_running(tmp_path, monkeypatch, first):
    from scalecloud.infra.minikube import MinikubeProvider

    monkeypatch.setattr("scalecloud.infra.minikube.minikube_running", lambda: True)
    fake = FakePulumi()
    provider = MinikubeProvider(StateStore(tmp_path / "home"), pulumi_command=fake)
    provider.tools = ()
    provider._image_exists = lambda image: True
    provider._readiness = lambda name, kspec: Readiness(True, 1, 1)
    provider._reach = lambda info: True
    provider._live = lambda name, kspec: {"nodes": 1, "scheduler_ready": True,
                                         "dask_cluster": True, "workers": []}  # fmt: skip
    provider._delete_dask_first = lambda name, kspec, on_event: None
    provider.cloud_leftovers = lambda kspec: []
    for name in "ab":
        provider.up(ClusterSpec(provider="minikube", name=name, workers=1), lambda e: None)
    other = "b" if first == "a" else "a"
    kept = list(fake.stacks[other])
    provider.down(first, lambda e: None)
    assert provider.store.get(first) is None and first not in fake.stacks
    assert provider.status(other).state == "running" and fake.stacks[other] == kept
    assert not [c for c in fake.calls if other in c and c[0] in ("destroy", "cancel")]
    provider.down(other, lambda e: None)
    assert provider.store.get(other) is None and fake.stacks == {}

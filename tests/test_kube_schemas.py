"""The Kubernetes objects the programs declare, against the schemas they must satisfy.

DaskCluster and DaskAutoscaler against the openAPIV3Schema of the CRDs shipped in the
dask-kubernetes wheel; the Namespace, the scheduler's Service and the pods' specs against
Kubernetes' own schemas (kubernetes-validate, strict: unknown fields fail).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from scalecloud.infra.kube.dask import autoscaler_manifest, dask_cluster_manifest
from scalecloud.infra.kube.plan import declare
from scalecloud.infra.spec import ClusterSpec

jsonschema = pytest.importorskip("jsonschema")
kubernetes_validate = pytest.importorskip("kubernetes_validate")
dask_kubernetes = pytest.importorskip("dask_kubernetes")

from scalecloud.infra.kube.spec import kube_spec  # noqa: E402

CRDS = (
    Path(dask_kubernetes.__file__).parent / "operator/deployment/helm/dask-kubernetes-operator/crds"
)
K8S_VERSION = "1.33"

SPECS = {
    "gcp-adaptive-gpu": ClusterSpec(
        provider="gcp", name="s1", adapt=(0, 8), extra={"gpu": "nvidia-l4:1", "spot": True}
    ),
    "azure-spot-memory": ClusterSpec(
        provider="azure", name="s2", adapt=(1, 3), memory_per_worker=4 * 2**30,
        threads_per_worker=2, extra={"spot": True},
    ),
    "aws-exposed": ClusterSpec(provider="aws", name="s3", extra={"expose_cidr": "198.51.100.7/32"}),
    "minikube-fixed-image": ClusterSpec(
        provider="minikube", name="s4", workers=3, idle_timeout=None,
        extra={"image": "registry.example/ml:1"},
    ),
}  # fmt: skip


def crd_schema(kind: str) -> dict:
    crd = yaml.safe_load((CRDS / f"{kind.lower()}.yaml").read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return served["schema"]["openAPIV3Schema"]


def validate_crd(obj: dict) -> None:
    jsonschema.validate(obj, crd_schema(obj["kind"]), cls=jsonschema.Draft7Validator)


def validate_k8s(obj: dict) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def as_ints(value):
    """Numbers as the program sees them (the mock wire format turns ints into floats)."""
    if isinstance(value, dict):
        return {k: as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@pytest.mark.parametrize("key", list(SPECS))
def test_declared_dask_objects_validate_against_the_operator_crds(key):
    spec = kube_spec(SPECS[key])
    declared = declare(spec)
    for d in declared:
        if d.type.startswith("kubernetes:kubernetes.dask.org/v1:"):
            obj = {"apiVersion": d.inputs["apiVersion"], "kind": d.inputs["kind"],
                   "metadata": d.inputs["metadata"], "spec": as_ints(d.inputs["spec"])}  # fmt: skip
            validate_crd(obj)
    # What was declared is exactly what the pure builders produce.
    cluster = next(d for d in declared if d.type.endswith(":DaskCluster"))
    assert as_ints(cluster.inputs["spec"]) == dask_cluster_manifest(spec)["spec"]


@pytest.mark.parametrize("key", list(SPECS))
def test_namespace_service_and_pods_validate_against_kubernetes(key):
    spec = kube_spec(SPECS[key])
    declared = declare(spec)
    namespace = next(d for d in declared if d.type == "kubernetes:core/v1:Namespace")
    validate_k8s(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": namespace.inputs["metadata"]}
    )
    cluster = dask_cluster_manifest(spec)
    meta = {"name": spec.scheduler_service, "namespace": spec.namespace}
    validate_k8s(
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": cluster["spec"]["scheduler"]["service"]}
    )  # fmt: skip
    for part in ("scheduler", "worker"):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": cluster["spec"][part]["spec"],
        }
        validate_k8s(pod)


def test_autoscaler_validates_and_the_schemas_can_fail():
    spec = kube_spec(ClusterSpec(provider="gcp", name="s5", adapt=(2, 4)))
    validate_crd(autoscaler_manifest(spec))
    broken = autoscaler_manifest(spec)
    del broken["spec"]["maximum"]
    with pytest.raises(jsonschema.ValidationError, match="maximum"):
        validate_crd(broken)
    cluster = dask_cluster_manifest(spec)
    bad = copy.deepcopy(cluster)
    bad["spec"]["worker"]["replicas"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        validate_crd(bad)
    with_none = copy.deepcopy(cluster)
    with_none["spec"]["worker"]["spec"]["containers"][0]["resources"] = None
    with pytest.raises(jsonschema.ValidationError):
        validate_crd(with_none)
    service = dict(cluster["spec"]["scheduler"]["service"], loadBalancerSourceRange=["x"])
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": service}
        )


def test_operator_release_values_are_keys_of_the_charts_values():
    from scalecloud.infra.kube.dask import operator_release_args

    chart = CRDS.parent
    known = yaml.safe_load((chart / "values.yaml").read_text())
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["name"] == "dask-kubernetes-operator"
    values = operator_release_args(kube_spec(ClusterSpec(provider="gcp", name="v1")))["values"]
    assert values and set(values) <= set(known)

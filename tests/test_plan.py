"""``scalecloud plan``: the real programs under mocks, through the CLI, with cost estimates."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from scalecloud.infra.image import official_image
from scalecloud.infra.kube.prices import estimate, price_table
from scalecloud.infra.kube.spec import kube_spec
from scalecloud.infra.spec import ClusterSpec

pytest.importorskip("pulumi")

EXPECTED = {
    # provider: (resource count, cloud resource carrying the pool bounds, its bounds)
    # The default machines have 4 vCPUs: 3 one-thread workers fit on one (the rest goes to
    # the kubelet and system pods), so --adapt 1:4 needs 2 nodes at most.
    "gcp": (9, "gcp:container/nodePool:NodePool", ("autoscaling", {"minNodeCount": 1, "maxNodeCount": 2})),
    "aws": (27, "aws:eks/nodeGroup:NodeGroup", ("scalingConfig", {"minSize": 1, "maxSize": 2, "desiredSize": 1})),
    "azure": (10, "azure-native:containerservice:AgentPool", ("maxCount", 2)),
    "minikube": (6, None, None),
}  # fmt: skip


@pytest.mark.parametrize("provider", list(EXPECTED))
def test_plan_json_per_provider(cli, provider):
    result = cli("plan", "--provider", provider, "--name", "p1", "--adapt", "1:4", "--json")
    assert result.code == 0, result.err
    report = result.json()
    count, pool_type, bounds = EXPECTED[provider]
    assert report["provider"] == provider and report["name"] == "p1"
    assert len(report["resources"]) == count
    by_type = {}
    for res in report["resources"]:
        by_type.setdefault(res["type"], []).append(res)
    (cluster,) = by_type["kubernetes:kubernetes.dask.org/v1:DaskCluster"]
    assert cluster["properties"]["image"] == official_image()
    assert cluster["properties"]["service"] == "ClusterIP"
    assert cluster["properties"]["replicas"] == 1 and cluster["properties"]["idleTimeout"] == 3600
    assert "p1-operator" in cluster["depends_on"]
    assert cluster["parent"] == {"type": "scalecloud:index:DaskOnKubernetes", "name": "p1"}
    (scaler,) = by_type["kubernetes:kubernetes.dask.org/v1:DaskAutoscaler"]
    assert (scaler["properties"]["minimum"], scaler["properties"]["maximum"]) == (1, 4)
    operator = next(
        r for r in by_type["kubernetes:helm.sh/v3:Release"] if r["name"] == "p1-operator"
    )
    assert operator["properties"]["version"] == version("dask-kubernetes")
    if pool_type:
        (pool,) = by_type[pool_type]
        key, value = bounds
        assert pool["properties"][key] == value
    assert "kubeconfig" not in result.out  # secrets never printed
    cost = report["cost"]
    assert cost["as_of"] == price_table(provider)["as_of"] and cost["currency"] == "USD"
    assert cost == estimate(kube_spec(ClusterSpec(provider=provider, name="p1", adapt=(1, 4))))
    if provider == "minikube":
        assert cost["hourly_min"] == cost["hourly_max"] == 0
    else:
        assert 0 < cost["hourly_min"] < cost["hourly_max"] and cost["complete"]


def test_plan_cost_arithmetic_and_unknown_machine_types():
    spec = kube_spec(
        ClusterSpec(provider="gcp", name="c", adapt=(0, 6), extra={"min_nodes": 0, "max_nodes": 3})
    )
    cost = estimate(spec)
    node = price_table("gcp")["nodes"]["us-central1"]["e2-standard-4"]["on_demand"]
    plane = price_table("gcp")["control_plane"]["hourly"]
    assert cost["hourly_min"] == pytest.approx(plane)
    assert cost["hourly_max"] == pytest.approx(plane + 3 * node)
    spot = estimate(spec.with_(spot=True))
    assert spot["hourly_max"] < cost["hourly_max"]
    gpu = estimate(
        spec.with_(machine_type="n1-standard-4", gpu_type="nvidia-tesla-t4", gpu_count=2)
    )
    n1 = price_table("gcp")["nodes"]["us-central1"]["n1-standard-4"]["on_demand"]
    t4 = price_table("gcp")["gpus"]["us-central1"]["nvidia-tesla-t4"]["on_demand"]
    assert gpu["hourly_max"] == pytest.approx(plane + 3 * (n1 + 2 * t4))
    azure = estimate(kube_spec(ClusterSpec(provider="azure", name="c", extra={"min_nodes": 0})))
    system = price_table("azure")["nodes"]["eastus"]["Standard_D2s_v5"]["on_demand"]
    assert azure["hourly_min"] == pytest.approx(system)  # the system pool never scales to 0
    unknown = estimate(spec.with_(machine_type="z9-huge"))
    assert not unknown["complete"] and "no price for z9-huge in us-central1" in unknown["notes"][0]
    region = estimate(spec.with_(region="europe-west1", zone="europe-west1-b"))
    assert region["hourly_max"] > cost["hourly_max"]  # prices differ per region


def test_plan_tree_and_its_errors(cli):
    text = cli("plan", "--provider", "gcp", "--spot", "--gpu", "nvidia-tesla-t4:1", check=True).out
    assert "scalecloud:gcp:GkeCluster default" in text and "gcp:container/nodePool:NodePool" in text
    assert "spot true" in text and "USD/hour" in text and "hourly cost estimate" in text
    for args, fragment in (
        (["--provider", "local"], "plan is for the Kubernetes providers"),
        (["--provider", "gcp", "--gpu", "many"], "invalid --gpu 'many'"),
        (["--provider", "aws", "--min-nodes", "5", "--max-nodes", "2"], "invalid node range 5:2"),
        (["--provider", "minikube", "--spot"], "--spot applies to clouds only"),
        (["--provider", "gcp", "--expose", "0.0.0.0/0"], "would open the scheduler to everyone"),
        (["--provider", "gcp", "--expose", "everyone"], "invalid --expose 'everyone'"),
    ):
        result = cli("plan", *args)
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert result.code == 1 and len(lines) == 1 and fragment in lines[0], result.err
    assert cli.records() == []


def test_plan_expose_is_one_address(cli):
    report = cli(
        "plan", "--provider", "azure", "--expose", "198.51.100.7", "--json", check=True
    ).json()
    cluster = next(r for r in report["resources"] if r["type"].endswith(":DaskCluster"))
    assert cluster["properties"]["service"] == "LoadBalancer"
    assert report["spec"]["expose_cidr"] == "198.51.100.7/32"


def test_gpu_option_forms():
    from scalecloud.infra.errors import ScalecloudError
    from scalecloud.infra.kube.spec import parse_gpu

    assert parse_gpu("nvidia-tesla-t4") == ("nvidia-tesla-t4", 1)
    assert parse_gpu("nvidia-tesla-t4:2") == ("nvidia-tesla-t4", 2)
    assert parse_gpu("2") == (None, 2)
    assert parse_gpu(None) == (None, 0)
    for bad in ("many", "t4:0", "0", "-1"):
        with pytest.raises(ScalecloudError, match="invalid --gpu"):
            parse_gpu(bad)

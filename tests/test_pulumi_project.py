"""Pulumi.yaml's program: stack config becomes the same KubeSpec, and the same resources."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import yaml
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.plan import declare
from scalecloud.infra.kube.spec import kube_spec
from scalecloud.infra.spec import ClusterSpec

pulumi = pytest.importorskip("pulumi")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    """Set stack config as `pulumi config set` would, and clear it afterwards."""

    def set_config(**values: str) -> None:
        pulumi.runtime.set_all_config({f"scalecloud:{k}": v for k, v in values.items()})

    yield set_config
    pulumi.runtime.set_all_config({})


def run_project(spec_name: str = "exp-2"):
    """Run pulumi_program/__main__.py (Pulumi.yaml's main) under mocks; stack = spec_name."""
    stub = kube_spec(ClusterSpec(provider="minikube", name=spec_name))
    main = ROOT / "pulumi_program" / "__main__.py"
    return declare(stub, program=lambda spec: runpy.run_path(str(main), run_name="__main__"))


def shape(declared):
    """Type, name and inputs of each resource; registration order is not deterministic."""
    return sorted(((d.type, d.name, d.inputs) for d in declared), key=lambda t: t[:2])


def test_pulumi_yaml_points_at_the_program_and_declares_its_config():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "scalecloud" and project["runtime"]["name"] == "python"
    assert (ROOT / project["main"] / "__main__.py").is_file()
    keys = {k.split(":")[1] for k in project["config"]}
    from scalecloud.infra.kube.pulumi_main import EXTRA_KEYS

    assert set(EXTRA_KEYS) | {"provider", "workers", "adapt", "idleTimeout"} <= keys


def test_stack_config_declares_what_the_cli_would(config):
    config(provider="gcp", adapt="1:6", spot="true", machineType="e2-standard-8",
           maxNodes="3", idleTimeout="30m", minNodes="0")  # fmt: skip
    from_config = run_project()
    cli_spec = ClusterSpec(
        provider="gcp", name="exp-2", adapt=(1, 6), idle_timeout=1800.0,
        extra={"spot": True, "machine_type": "e2-standard-8", "max_nodes": 3, "min_nodes": 0},
    )  # fmt: skip
    from_cli = declare(kube_spec(cli_spec))
    assert shape(from_config) == shape(from_cli)
    pool = next(
        d
        for d in from_config
        if d.type == "gcp:container/nodePool:NodePool" and d.name.endswith("-workers")
    )  # with --spot the scheduler has a pool of its own
    assert pool.inputs["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 3}


def test_defaults_from_pulumi_yaml_mean_the_clis_defaults(config):
    config(provider="aws", name="", maxNodes="0", gpu="", image="", expose="", region="")
    declared = run_project("exp-3")
    group = next(d for d in declared if d.type == "aws:eks/nodeGroup:NodeGroup")
    # two one-thread workers fit on one m6i.xlarge node
    assert group.inputs["scalingConfig"] == {"minSize": 1, "maxSize": 1, "desiredSize": 1}
    assert group.inputs["clusterName"] == "scalecloud-exp-3"  # the stack name


def test_bad_config_is_refused(config):
    config(provider="local")
    with pytest.raises(ScalecloudError, match="scalecloud:provider is 'local'"):
        run_project()
    config(provider="azure", adapt="9:1")
    with pytest.raises(ScalecloudError, match="invalid adaptive range"):
        run_project()

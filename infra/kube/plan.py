"""``plan``: run a provider's real Pulumi program under the SDK's mock runtime.

No Pulumi CLI, no credentials, no network: the mocks answer each resource registration
with the outputs a cloud would give (so kubeconfig builders run), and record every
resource with its type, inputs, parent and dependencies. ``plan`` prints that tree with an
hourly cost estimate; the tests assert on it.
"""

from __future__ import annotations

import base64
import importlib
from dataclasses import dataclass, field
from typing import Any

from scalecloud.infra.kube.spec import KubeSpec

PROGRAMS: dict[str, str] = {
    "gcp": "scalecloud.infra.gcp:program",
    "aws": "scalecloud.infra.aws:program",
    "azure": "scalecloud.infra.azure:program",
    "minikube": "scalecloud.infra.minikube:program",
}


def program_of(provider: str) -> Any:
    module, func = PROGRAMS[provider].split(":")
    return getattr(importlib.import_module(module), func)


@dataclass
class Declared:
    """One resource the program declared."""

    type: str
    name: str
    urn: str
    custom: bool
    inputs: dict[str, Any]
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    provider: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type, "name": self.name, "urn": self.urn, "custom": self.custom,
            "parent": self.parent, "dependencies": self.dependencies, "inputs": self.inputs,
        }  # fmt: skip


_FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nplan\n-----END CERTIFICATE-----\n")


def fake_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What the cloud would return for ``typ``, as far as the programs read it."""
    outputs = dict(inputs)
    ca = _FAKE_CA.decode()
    if typ == "gcp:container/cluster:Cluster":
        outputs.update(
            name=inputs.get("name", name), endpoint="203.0.113.10",
            masterAuth={"clusterCaCertificate": ca}, location=inputs.get("location"),
        )  # fmt: skip
    elif typ == "gcp:container/nodePool:NodePool":
        outputs.setdefault("name", name)
    elif typ == "aws:eks/cluster:Cluster":
        outputs.update(
            name=inputs.get("name", name),
            endpoint="https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com",
            certificateAuthority={"data": ca}, arn=f"arn:aws:eks:plan:000000000000:cluster/{name}",
        )  # fmt: skip
    elif typ.startswith("aws:iam/role:Role"):
        outputs.update(name=name, arn=f"arn:aws:iam::000000000000:role/{name}")
    elif typ.startswith("aws:ec2/"):
        outputs.setdefault("arn", f"arn:aws:ec2:plan:000000000000:{name}")
    elif typ == "azure-native:resources:ResourceGroup":
        outputs.setdefault("resourceGroupName", name)
        outputs["name"] = outputs["resourceGroupName"]
    elif typ == "azure-native:containerservice:ManagedCluster":
        outputs.setdefault("resourceName", name)
        outputs["name"] = outputs["resourceName"]
    return outputs


def fake_kubeconfig(name: str) -> str:
    return (
        f"apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n"
        f"    server: https://{name}.plan.invalid\ncontexts:\n- name: {name}\n  context:\n"
        f"    cluster: {name}\n    user: {name}\ncurrent-context: {name}\nusers:\n- name: {name}\n  user: {{}}\n"
    )


def _mock_classes() -> tuple[type, type]:
    import pulumi
    from pulumi.runtime.mocks import MockMonitor

    class PlanMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            return f"{args.name}-id", fake_outputs(args.typ, args.name, args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
            if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
                value = base64.b64encode(fake_kubeconfig(args.args["resourceName"]).encode())
                return {"kubeconfigs": [{"name": "clusterUser", "value": value.decode()}]}
            return {}

    class RecordingMonitor(MockMonitor):
        def __init__(self, mocks: Any) -> None:
            super().__init__(mocks)
            self.declared: list[Declared] = []

        def RegisterResource(self, request: Any) -> Any:  # gRPC's method name
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                from pulumi.runtime import rpc

                inputs = rpc.deserialize_properties(request.object)
                self.declared.append(
                    Declared(
                        type=request.type, name=request.name, urn=response.urn,
                        custom=bool(request.custom), inputs=_plain(inputs),
                        parent=request.parent, dependencies=sorted(request.dependencies),
                        provider=request.provider,
                    )
                )  # fmt: skip
            return response

    return PlanMocks, RecordingMonitor


def _plain(value: Any) -> Any:
    """Inputs as JSON-able data (secrets unwrapped: plan runs on fake values only)."""
    if isinstance(value, dict):
        if value.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270":
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def declare(spec: KubeSpec, program: Any = None) -> list[Declared]:
    """Run ``program`` (default: the spec's provider's) under fresh mocks and return every
    resource it declared, in registration order."""
    import asyncio

    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    program = program or program_of(spec.provider)
    mocks_cls, monitor_cls = _mock_classes()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        settings.reset_options()
        monitor = monitor_cls(mocks_cls())
        pulumi.runtime.set_mocks(
            monitor.mocks, project="scalecloud", stack=spec.name, preview=False, monitor=monitor
        )
        settings.SETTINGS.rpc_manager.clear()
        _sync_await(run_pulumi_func(lambda: program(spec)))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    if not monitor.declared:
        raise RuntimeError("the program declared nothing: are the mocks in place?")
    return monitor.declared

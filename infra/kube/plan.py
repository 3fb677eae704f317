"""``plan``: run a provider's real Pulumi program under the SDK's mock runtime.

No Pulumi CLI, no credentials, no network: the mocks answer each resource registration
with the outputs a cloud would give (so kubeconfig builders run), and record every
resource with its type, inputs, parent and dependencies. ``plan`` prints that tree with an
hourly cost estimate; the tests assert on it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from scalecloud.infra.kube.spec import KubeSpec


def program_of(provider: str) -> Any:
    """The Pulumi program of a Kubernetes provider, from its descriptor."""
    from scalecloud.infra.registry import descriptor

    return descriptor(provider).program


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
    ignore_changes: list[str] = field(default_factory=list)

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
        if (inputs.get("oidcIssuerProfile") or {}).get("enabled"):
            outputs["oidcIssuerProfile"] = {"issuerURL": f"https://{name}.oic.plan.invalid/"}
    elif typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs.get('accountId', name)}@{PLAN_PROJECT}.iam.gserviceaccount.com"
        outputs.update(
            email=email, project=PLAN_PROJECT, member=f"serviceAccount:{email}",
            name=f"projects/{PLAN_PROJECT}/serviceAccounts/{email}",
        )  # fmt: skip
    elif typ == "azure-native:managedidentity:UserAssignedIdentity":
        outputs.update(
            name=inputs.get("resourceName", name), clientId=f"client-id-of-{name}",
            principalId=f"principal-id-of-{name}",
        )  # fmt: skip
    return outputs


PLAN_PROJECT = "plan-project"
PLAN_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
# Invokes the programs make, answered as the cloud would (token -> outputs).
CALLS: dict[str, dict[str, Any]] = {
    "gcp:organizations/getClientConfig:getClientConfig": {
        "project": PLAN_PROJECT, "region": "", "zone": "", "id": "plan", "accessToken": "",
    },
    "azure-native:authorization:getClientConfig": {
        "subscriptionId": PLAN_SUBSCRIPTION, "tenantId": PLAN_SUBSCRIPTION,
        "clientId": "plan-client", "objectId": "plan-object",
    },
}  # fmt: skip


def fake_kubeconfig(name: str) -> str:
    return (
        f"apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n"
        f"    server: https://{name}.plan.invalid\ncontexts:\n- name: {name}\n  context:\n"
        f"    cluster: {name}\n    user: {name}\ncurrent-context: {name}\nusers:\n- name: {name}\n  user: {{}}\n"
    )


def _mock_classes() -> tuple[type, type]:
    import pulumi
    from pulumi.runtime.mocks import MockMonitor
    from scalecloud.infra.kube.cloudrules import CloudRules

    class PlanMocks(pulumi.runtime.Mocks):
        """Cloud outputs for what the programs read, under the clouds' documented rules."""

        def __init__(self) -> None:
            self.rules = CloudRules()

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            added = self.rules.check(args.typ, args.name, args.inputs)
            outputs = fake_outputs(args.typ, args.name, {**args.inputs, **added})
            return f"{args.name}-id", outputs

        def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
            answer = self.rules.call(args.token, args.args)
            if answer is not None:
                return answer
            if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
                value = base64.b64encode(fake_kubeconfig(args.args["resourceName"]).encode())
                return {"kubeconfigs": [{"name": "clusterUser", "value": value.decode()}]}
            return dict(CALLS.get(args.token, {}))

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
                        provider=request.provider, ignore_changes=list(request.ignoreChanges),
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


# Inputs shown for every provider's resources (Helm releases, namespaces, the Kubernetes
# provider); each provider's descriptor adds its own (plan_properties).
COMMON_PROPERTIES = ("version", "chart", "namespace", "context", "deleteUnreachable")


def _property_rows(declared: Any, provider_properties: tuple[str, ...]) -> dict[str, Any]:
    """The properties of a declared resource worth showing (never the kubeconfig)."""
    inputs = declared.inputs
    wanted = (*COMMON_PROPERTIES, *provider_properties)
    rows = {key: inputs[key] for key in wanted if key in inputs}
    if "nodeConfig" in inputs:
        rows.update({k: v for k, v in inputs["nodeConfig"].items() if k in wanted})
    if "agentPoolProfiles" in inputs:
        rows["systemPool"] = [
            {k: p.get(k) for k in ("name", "mode", "count", "vmSize")}
            for p in inputs["agentPoolProfiles"]
        ]
    if declared.type.endswith(":DaskCluster"):
        spec = inputs["spec"]
        container = spec["worker"]["spec"]["containers"][0]
        rows.update(
            image=container["image"], replicas=spec["worker"]["replicas"],
            workerResources=container.get("resources"),
            idleTimeout=spec.get("idleTimeout"), service=spec["scheduler"]["service"]["type"],
            extraPipPackages=next(
                (e["value"] for e in container.get("env", []) if e["name"] == "EXTRA_PIP_PACKAGES"),
                None,
            ),
        )  # fmt: skip
    if declared.type.endswith(":DaskAutoscaler"):
        rows.update(minimum=inputs["spec"]["minimum"], maximum=inputs["spec"]["maximum"])
    if "metadata" in inputs and "labels" in inputs["metadata"]:
        rows["labels"] = inputs["metadata"]["labels"]
    if "metadata" in inputs and inputs["metadata"].get("annotations"):
        rows["annotations"] = inputs["metadata"]["annotations"]
    for key in ("tags", "resourceLabels", "labels"):
        if key in inputs:
            rows[key] = inputs[key]
    return _ints(rows)


def _ints(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def plan_report(spec: KubeSpec) -> dict[str, Any]:
    """Run the provider's program under mocks; the resources and the cost estimate."""
    from scalecloud.infra.kube.prices import estimate
    from scalecloud.infra.kube.sizing import fit_report
    from scalecloud.infra.kube.spec import require_extra
    from scalecloud.infra.registry import descriptor

    require_extra(spec.provider)
    declared = declare(spec)
    properties = descriptor(spec.provider).plan_properties
    names = {d.urn: d.name for d in declared}
    types = {d.urn: d.type for d in declared}
    resources = [
        {
            "type": d.type, "name": d.name,
            "parent": {"type": types[d.parent], "name": names[d.parent]} if d.parent in names else None,
            "depends_on": sorted(names[u] for u in d.dependencies if u in names),
            "properties": _property_rows(d, properties),
        }
        for d in declared
    ]  # fmt: skip
    from scalecloud.infra.kube.access import plan_grants

    return {"provider": spec.provider, "name": spec.name, "spec": spec.to_dict(),
            "resources": resources, "fit": fit_report(spec), "data_access": plan_grants(spec),
            "cost": estimate(spec)}  # fmt: skip

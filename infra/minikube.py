"""minikube: no cluster resource; Dask goes onto the user's minikube through its context.

The program declares only the shared Dask component, on the kubeconfig context
``minikube``. Starting minikube when it is installed but stopped is the provider's job
(before the program runs), and ``down`` leaves minikube as it found it.
"""

from __future__ import annotations

import subprocess
from typing import Any, ClassVar

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.infra.kube.driver import PulumiProvider
from scalecloud.infra.kube.spec import KubeSpec
from scalecloud.infra.registry import STACK_DOWN_SUMMARY, ProviderDescriptor

CONTEXT = "minikube"


def program(spec: KubeSpec) -> None:
    """The whole stack: the Dask component on the ``minikube`` context."""
    from scalecloud.infra.kube.dask import dask_on_kubernetes, export_outputs

    dask_on_kubernetes(spec, context=CONTEXT)
    export_outputs(spec, context=CONTEXT)


def minikube_running() -> bool:
    proc = subprocess.run(
        ["minikube", "status", "--format", "{{.Host}}"], capture_output=True, text=True, timeout=60
    )
    return proc.stdout.strip() == "Running"


class MinikubeProvider(PulumiProvider):
    """Dask on the user's minikube; starts it when stopped and stops it again on ``down``."""

    name: ClassVar[str] = "minikube"
    tools = (("minikube", "install it: https://minikube.sigs.k8s.io/docs/start/"),)

    def prepare(self, spec: KubeSpec, on_event: EventFn) -> dict[str, Any]:
        if minikube_running():
            return {"started_minikube": False}
        on_event(Event("step", "starting minikube (it was stopped; down stops it again)"))
        proc = subprocess.run(["minikube", "start"], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise ScalecloudError(f"minikube start failed: {tail[0]}", "run: minikube start")
        return {"started_minikube": True}

    def release(self, record: dict[str, Any], on_event: EventFn) -> None:
        if (record.get("prepared") or {}).get("started_minikube"):
            on_event(Event("step", "stopping minikube, as scalecloud started it"))
            subprocess.run(["minikube", "stop"], capture_output=True, timeout=300)

    def _kube_access(self, name: str) -> dict[str, Any]:
        return {"context": CONTEXT}

    def cloud_leftovers(self, spec: KubeSpec) -> list[str] | None:
        import kr8s

        try:
            api = kr8s.api(context=CONTEXT)
            names = [getattr(ns, "name", None) for ns in api.get("namespaces")]
        except Exception:  # minikube stopped or unreachable: cannot tell
            return None
        return [f"namespace {spec.namespace}"] if spec.namespace in names else []


# List prices per hour in USD (see infra/kube/prices.py for what they are and are not);
# `plan` and `status` say their date.
PRICES: dict[str, Any] = {
    "as_of": "2026-11-01",
    "control_plane": {"hourly": 0.0, "note": "runs on this machine"},
}

PROVIDER = ProviderDescriptor(
    name="minikube",
    summary="Dask on your own minikube (started if stopped, stopped again on down)",
    driver=MinikubeProvider,
    down_summary=STACK_DOWN_SUMMARY,
    options=frozenset({"min_nodes", "max_nodes", "image", "expose"}),
    kubernetes=True,
    program=program,
    prices=PRICES,
    extra="kubernetes",
    modules=("pulumi", "pulumi_kubernetes"),
    labels_nodes=False,
)  # fmt: skip

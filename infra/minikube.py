"""minikube: no cluster resource; Dask goes onto the user's minikube through its context.

The program declares only the shared Dask component, on the kubeconfig context
``minikube``. Starting minikube when it is installed but stopped is the provider's job
(before the program runs), and ``down`` leaves minikube as it found it.
"""

from __future__ import annotations

from scalecloud.infra.kube import KubeSpec

CONTEXT = "minikube"


def program(spec: KubeSpec) -> None:
    """The whole stack: the Dask component on the ``minikube`` context."""
    import pulumi
    from scalecloud.infra.dask_k8s import dask_on_kubernetes

    dask_on_kubernetes(spec, context=CONTEXT)
    pulumi.export("context", CONTEXT)
    pulumi.export("namespace", spec.namespace)
    pulumi.export("scheduler_service", spec.scheduler_service)
    pulumi.export("dask_cluster", spec.name)

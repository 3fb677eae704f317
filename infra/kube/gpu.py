"""GPUs on EKS and AKS: their nodes have NVIDIA drivers, but no node offers
``nvidia.com/gpu`` until the NVIDIA device plugin runs there (GKE installs it itself).

With ``--gpu`` the programs install the plugin's Helm chart and label the GPU node pool
``nvidia.com/gpu.present=true``: the chart's default node affinity selects nodes by that
label (or by Node Feature Discovery's, which the clusters do not run).
"""

from __future__ import annotations

from typing import Any

from scalecloud.infra.kube.spec import KubeSpec

DEVICE_PLUGIN_REPO = "https://nvidia.github.io/k8s-device-plugin"
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_VERSION = "0.20.0"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"


def gpu_node_labels(spec: KubeSpec) -> dict[str, str]:
    """The label that lets the device plugin onto the GPU nodes (none without GPUs)."""
    return {GPU_PRESENT_LABEL: "true"} if spec.gpu_count else {}


def device_plugin_values(spec: KubeSpec) -> dict[str, Any]:
    """The chart's values: its tolerations, with those of spot nodes (the list replaces
    the chart's own, so the GPU taint is kept)."""
    from scalecloud.infra.kube.dask import tolerations_of

    tolerations = [{"key": "CriticalAddonsOnly", "operator": "Exists"}, *tolerations_of(spec)]
    return {"tolerations": tolerations}


def device_plugin_release(spec: KubeSpec, provider: Any, parent: Any) -> Any:
    """The NVIDIA device plugin's Helm release in kube-system (only with ``--gpu``)."""
    if not spec.gpu_count:
        return None
    import pulumi
    import pulumi_kubernetes as k8s

    return k8s.helm.v3.Release(
        f"{spec.name}-nvidia-device-plugin",
        name="nvidia-device-plugin",
        chart=DEVICE_PLUGIN_CHART,
        version=DEVICE_PLUGIN_VERSION,
        repository_opts={"repo": DEVICE_PLUGIN_REPO},
        namespace="kube-system",
        values=device_plugin_values(spec),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )

"""The program `pulumi up` runs in this repository (Pulumi.yaml): stack config → the same programs.

For users who live in Pulumi: ``pulumi config set scalecloud:provider gcp``, then
``pulumi up``. The config keys mirror ``scalecloud up``'s flags and go through the same
parsers and the same frozen :class:`~scalecloud.infra.kube.KubeSpec`, so both ways declare
identical resources.
"""

from __future__ import annotations

from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.spec import KubeSpec, kube_spec
from scalecloud.infra.registry import PROVIDERS, build_spec, descriptor, kubernetes_providers
from scalecloud.infra.spec import DEFAULT_IDLE_TIMEOUT

# config key -> the cluster option of the same meaning (registry.CLOUD_OPTIONS).
EXTRA_KEYS = {
    "region": "region", "zone": "zone", "machineType": "machine_type", "minNodes": "min_nodes",
    "maxNodes": "max_nodes", "spot": "spot", "gpu": "gpu", "image": "image", "expose": "expose",
    "data": "data", "dataWrite": "data_write",
}  # fmt: skip


def _urls(text: str | None) -> list[str]:
    """``data``: a JSON list of URLs, or URLs separated by commas."""
    import json

    if not text:
        return []
    return list(json.loads(text)) if text.lstrip().startswith("[") else text.split(",")


def spec_from_config(config: Any, stack: str) -> KubeSpec:
    """The KubeSpec of a ``pulumi.Config("scalecloud")``; the cluster name defaults to the stack's."""
    provider = config.require("provider")
    if provider not in PROVIDERS or not descriptor(provider).kubernetes:
        raise ScalecloudError(
            f"scalecloud:provider is {provider!r}",
            f"set one of {', '.join(kubernetes_providers())}: "
            "pulumi config set scalecloud:provider gcp",
        )
    extra: dict[str, Any] = {}
    for key, option in EXTRA_KEYS.items():
        value: Any = (
            config.get_int(key) if key in ("minNodes", "maxNodes")
            else config.get_bool(key) if key in ("spot", "dataWrite")
            else _urls(config.get(key)) if key == "data"
            else config.get(key)
        )  # fmt: skip
        if value is not None and value != "" and not (key == "maxNodes" and value == 0):
            extra[option] = value  # unset, empty or maxNodes 0: the CLI's default
    workers = config.get_int("workers")
    spec = build_spec(
        provider,
        config.get("name") or stack,
        workers=workers if workers is not None else 2,
        threads_per_worker=config.get_int("threadsPerWorker") or 1,
        memory_per_worker=config.get("memoryPerWorker") or None,
        adapt=config.get("adapt") or None,
        idle_timeout=config.get("idleTimeout") or DEFAULT_IDLE_TIMEOUT,
        **extra,
    )
    return kube_spec(spec)


def main() -> None:
    """Read the stack config and run that provider's program."""
    import pulumi
    from scalecloud.infra.kube.plan import program_of

    spec = spec_from_config(pulumi.Config("scalecloud"), pulumi.get_stack())
    program_of(spec.provider)(spec)

"""The program `pulumi up` runs in this repository (Pulumi.yaml): stack config → the same programs.

For users who live in Pulumi: ``pulumi config set scalecloud:provider gcp``, then
``pulumi up``. The config keys mirror ``scalecloud up``'s flags and go through the same
parsers and the same frozen :class:`~scalecloud.infra.kube.KubeSpec`, so both ways declare
identical resources.
"""

from __future__ import annotations

from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.spec import KUBE_PROVIDERS, KubeSpec, kube_spec
from scalecloud.infra.spec import (
    DEFAULT_IDLE_TIMEOUT,
    ClusterSpec,
    parse_adapt,
    parse_duration,
    parse_size,
)

# config key -> ClusterSpec.extra key (the cloud options).
EXTRA_KEYS = {
    "region": "region", "zone": "zone", "machineType": "machine_type", "minNodes": "min_nodes",
    "maxNodes": "max_nodes", "spot": "spot", "gpu": "gpu", "image": "image", "expose": "expose_cidr",
}  # fmt: skip


def spec_from_config(config: Any, stack: str) -> KubeSpec:
    """The KubeSpec of a ``pulumi.Config("scalecloud")``; the cluster name defaults to the stack's."""
    provider = config.require("provider")
    if provider not in KUBE_PROVIDERS:
        raise ScalecloudError(
            f"scalecloud:provider is {provider!r}",
            f"set one of {', '.join(KUBE_PROVIDERS)}: pulumi config set scalecloud:provider gcp",
        )
    adapt = config.get("adapt")
    memory = config.get("memoryPerWorker")
    idle = config.get("idleTimeout")
    extra: dict[str, Any] = {}
    for key, target in EXTRA_KEYS.items():
        value: Any = (
            config.get_int(key) if key in ("minNodes", "maxNodes")
            else config.get_bool(key) if key == "spot"
            else config.get(key)
        )  # fmt: skip
        if value is not None and value != "" and not (key == "maxNodes" and value == 0):
            extra[target] = value  # unset, empty or maxNodes 0: the CLI's default
    spec = ClusterSpec(
        provider=provider,
        name=config.get("name") or stack,
        workers=config.get_int("workers") if config.get_int("workers") is not None else 2,
        threads_per_worker=config.get_int("threadsPerWorker") or 1,
        memory_per_worker=parse_size(memory, what="scalecloud:memoryPerWorker") if memory else None,
        adapt=parse_adapt(adapt) if adapt else None,
        idle_timeout=(
            parse_duration(idle, what="scalecloud:idleTimeout") if idle else DEFAULT_IDLE_TIMEOUT
        ),
        extra=extra,
    )
    return kube_spec(spec)


def main() -> None:
    """Read the stack config and run that provider's program."""
    import pulumi
    from scalecloud.infra.kube.plan import program_of

    spec = spec_from_config(pulumi.Config("scalecloud"), pulumi.get_stack())
    program_of(spec.provider)(spec)

"""The providers, one descriptor each, and the one place where user options become a spec.

Adding a provider is one module that exports ``PROVIDER = ProviderDescriptor(...)`` and
one line in :data:`PROVIDERS`. Everything a provider differs in (its driver, its Pulumi
program, defaults, the pip extra, which options it takes, prices, plan rows) is in its
descriptor, so no code outside the provider's module asks which provider it is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.provider import Provider
from scalecloud.infra.spec import (
    DEFAULT_NAME,
    ClusterSpec,
    parse_adapt,
    parse_duration,
    parse_size,
)

# name -> the module that exports its PROVIDER descriptor; imported on first use.
PROVIDERS: dict[str, str] = {
    "local": "scalecloud.infra.local",
    "minikube": "scalecloud.infra.minikube",
    "gcp": "scalecloud.infra.gcp",
    "aws": "scalecloud.infra.aws",
    "azure": "scalecloud.infra.azure",
}

# The options of the Kubernetes providers: option name -> ClusterSpec.extra key.
CLOUD_OPTIONS: dict[str, str] = {
    "region": "region", "zone": "zone", "machine_type": "machine_type",
    "min_nodes": "min_nodes", "max_nodes": "max_nodes", "spot": "spot", "gpu": "gpu",
    "image": "image", "expose": "expose_cidr", "data": "data", "data_write": "data_write",
}  # fmt: skip


# What a Pulumi-driven provider's down verifies.
STACK_DOWN_SUMMARY = "its stack held nothing after destroy and is removed"


@dataclass(frozen=True)
class ProviderDescriptor:
    """What the rest of scalecloud knows about a provider.

    ``driver`` is the class implementing :class:`~scalecloud.infra.provider.Provider`.
    ``options`` are the cloud options it accepts (keys of :data:`CLOUD_OPTIONS`).
    ``program`` (Kubernetes providers) declares the stack for a KubeSpec; ``defaults``
    give region, zone (``{region}`` is filled in), machine types and GPU type; ``extra``
    is the pip extra bringing ``modules``; ``prices`` its dated list prices. ``plan_properties`` are the resource inputs
    that ``plan`` shows. ``down_summary`` says what ``down`` verified.
    """

    name: str
    summary: str
    driver: Callable[[], Provider]
    down_summary: str
    options: frozenset[str] = frozenset()
    kubernetes: bool = False
    program: Callable[[Any], None] | None = None
    defaults: Mapping[str, str] = field(default_factory=dict)
    extra: str = ""
    modules: tuple[str, ...] = ()
    same_environment: bool = False
    # Its workers read this machine's files at the same paths (local processes); else a
    # workload's data must be a URL, e.g. of ``data_scheme`` (its object store: gs, s3).
    shares_local_files: bool = False
    labels_nodes: bool = True  # its worker nodes carry the scalecloud-cluster label
    spot_tolerations: tuple[Mapping[str, str], ...] = ()  # taints it puts on spot nodes
    # Its list prices: as_of, control_plane, nodes (region -> machine type -> on_demand,
    # spot), and where they apply fixed_nodes (always there) and gpus (billed apart).
    prices: Mapping[str, Any] = field(default_factory=dict)
    plan_properties: tuple[str, ...] = ()
    # The longest cluster name whose generated resource names pass the cloud's rules
    # (see kube.cloudrules), and whether it must start with a letter.
    name_limit: int = 40
    name_letter_first: bool = False
    # Machine type -> (vCPUs, memory GiB), for how many workers fit on a node.
    machines: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # Its object store's URL scheme (gs, s3, abfs: what `up --data` grants and `data push`
    # fills; none: --data refused), and labels the
    # pods reading it need (Azure's workload identity webhook acts on labelled pods only).
    data_scheme: str = ""
    data_pod_labels: Mapping[str, str] = field(default_factory=dict)


def check_provider(name: str) -> str:
    """``name`` if it is a known provider, else the error that lists them."""
    if name not in PROVIDERS:
        raise ScalecloudError(
            f"unknown provider {name!r}",
            f"choose one of: {', '.join(PROVIDERS)} (e.g. --provider local)",
        )
    return name


def descriptor(name: str) -> ProviderDescriptor:
    """The descriptor of provider ``name``, its module imported on first use."""
    found: ProviderDescriptor = importlib.import_module(PROVIDERS[check_provider(name)]).PROVIDER
    return found


def kubernetes_providers() -> list[str]:
    return [name for name in PROVIDERS if descriptor(name).kubernetes]


def get_provider(name: str) -> Provider:
    """A driver of provider ``name``."""
    return descriptor(name).driver()


def _cloud_extra(provider: ProviderDescriptor, given: Mapping[str, Any]) -> dict[str, Any]:
    """The cloud options that were given, checked against what ``provider`` takes."""
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    present = {k: v for k, v in given.items() if v is not None and v is not False and v != ()}
    if "data" in present or "data_write" in present:
        from scalecloud.infra.kube.access import check_data

        clouds = [n for n in PROVIDERS if descriptor(n).data_scheme]
        present.update(
            check_data(provider, present.get("data"), bool(present.get("data_write")), clouds)
        )
    refused = [k for k in present if k not in provider.options]
    if refused:
        flags = ", ".join("--" + k.replace("_", "-") for k in refused)
        if provider.kubernetes:
            raise ScalecloudError(
                f"{flags} {'applies' if len(refused) == 1 else 'apply'} to clouds only",
                f"leave {flags} out for {provider.name}",
            )
        raise ScalecloudError(
            f"{flags} apply to the Kubernetes providers only",
            f"add --provider {'|'.join(kubernetes_providers())}, or leave them out",
        )
    extra = {CLOUD_OPTIONS[k]: v for k, v in present.items()}
    if "expose_cidr" in extra:
        from scalecloud.infra.kube.preflight import caller_cidr, check_cidr

        cidr = str(extra["expose_cidr"])
        extra["expose_cidr"] = caller_cidr() if cidr == "me" else check_cidr(cidr)
    if "spot" in extra:
        extra["spot"] = True
    return extra


def build_spec(
    provider: str = "local",
    name: str | None = None,
    *,
    workers: int = 2,
    threads_per_worker: int = 1,
    memory_per_worker: str | int | None = None,
    adapt: str | tuple[int, int] | None = None,
    idle_timeout: str | float | None = "1h",
    port: int = 0,
    dashboard_port: int = 0,
    owner_pid: int | None = None,
    **cloud: Any,
) -> ClusterSpec:
    """The one place where options (from flags, the Python API or a record) become a
    validated, frozen ClusterSpec. Nothing is created; every error names the option.

    ``cloud`` takes the options of :data:`CLOUD_OPTIONS` (``region``, ``spot``, ``gpu``,
    ``expose``, ...), each refused by a provider that does not take it.
    """
    unknown = [k for k in cloud if k not in CLOUD_OPTIONS]
    if unknown:
        raise ScalecloudError(
            f"unknown cluster option {unknown[0]!r}",
            f"known: workers, threads_per_worker, memory_per_worker, adapt, idle_timeout, "
            f"port, dashboard_port, {', '.join(CLOUD_OPTIONS)}",
        )
    found = descriptor(provider)
    extra = _cloud_extra(found, cloud)
    if owner_pid:
        extra["owner_pid"] = owner_pid
    if isinstance(memory_per_worker, str):
        memory = parse_size(memory_per_worker, what="--memory-per-worker")
    else:
        memory = memory_per_worker
    if isinstance(adapt, str):
        adapt_range: tuple[int, int] | None = parse_adapt(adapt)
    elif adapt is not None:
        adapt_range = parse_adapt(f"{adapt[0]}:{adapt[1]}")
    else:
        adapt_range = None
    if idle_timeout is None or isinstance(idle_timeout, str):
        idle = parse_duration(idle_timeout or "0", what="--idle-timeout")
    else:
        idle = float(idle_timeout) or None
    return ClusterSpec(
        provider=found.name,
        name=name or DEFAULT_NAME,
        workers=workers,
        threads_per_worker=threads_per_worker,
        memory_per_worker=memory,
        adapt=adapt_range,
        idle_timeout=idle,
        port=port,
        dashboard_port=dashboard_port,
        extra=extra,
    )


def respec(
    recorded: Mapping[str, Any], provider: str, name: str, owner_pid: int | None = None
) -> ClusterSpec:
    """A recorded cluster spec again, on ``provider`` under ``name`` with fresh ports: the
    size and, where the provider takes them, the recorded cloud options."""
    spec = ClusterSpec.from_dict(dict(recorded))
    options = descriptor(provider).options
    cloud = {
        option: spec.extra[key]
        for option, key in CLOUD_OPTIONS.items()
        if key in spec.extra and option in options
    }
    return build_spec(
        provider, name, workers=spec.workers, threads_per_worker=spec.threads_per_worker,
        memory_per_worker=spec.memory_per_worker, adapt=spec.adapt,
        idle_timeout=spec.idle_timeout, owner_pid=owner_pid, **cloud,
    )  # fmt: skip


def resolve_cluster(name: str | None, store: Any = None) -> tuple[Provider, str]:
    """The provider and name of an existing cluster.

    With no name: the only cluster there is, else the one called ``default``.
    """
    from scalecloud.infra.state import StateStore

    store = store or StateStore()
    names = store.names()
    if name is None:
        if not names:
            raise ScalecloudError("no cluster is running", "start one with: scalecloud up")
        if len(names) == 1:
            name = names[0]
        elif DEFAULT_NAME in names:
            name = DEFAULT_NAME
        else:
            raise ScalecloudError(
                f"several clusters are running: {', '.join(names)}",
                f"choose one with --name, e.g. --name {names[0]}",
            )
    record = store.get(name)
    if record is None:
        others = f"; running: {', '.join(names)}" if names else ""
        raise ScalecloudError(
            f"no cluster named {name!r}{others}", f"start it with: scalecloud up --name {name}"
        )
    return get_provider(record.get("provider", "local")), name

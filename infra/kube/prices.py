"""Hourly cost estimates from the dated list prices in each provider's descriptor.

Pure: a :class:`~scalecloud.infra.kube.KubeSpec` in, a dict out. The range runs from the
node pool at its minimum to its maximum; the control plane fee and fixed nodes (the AKS
system pool) count in both. A machine type or region missing from the table is said so,
and left out of the sums rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalecloud.infra.kube.spec import KubeSpec

CURRENCY = "USD"
SOURCE = (
    "Public on-demand list prices per hour (Linux), rounded; spot prices are typical recent "
    "values and move daily. An estimate, not a quote: check the cloud's own calculator."
)


def price_table(provider: str) -> Mapping[str, Any]:
    """The list prices of ``provider``, from its descriptor."""
    from scalecloud.infra.registry import descriptor

    return descriptor(provider).prices


def node_price(provider: str, region: str, machine_type: str, spot: bool) -> float | None:
    entry = price_table(provider).get("nodes", {}).get(region, {}).get(machine_type)
    return None if entry is None else float(entry["spot" if spot else "on_demand"])


def gpu_price(provider: str, region: str, gpu_type: str | None, spot: bool) -> float | None:
    """Per GPU per hour where the cloud bills GPUs apart (GCP N1); 0 where the machine type
    includes them (AWS, Azure, GCP G2)."""
    billed_apart = price_table(provider).get("gpus")
    if billed_apart is None or not gpu_type:
        return 0.0
    entry = billed_apart.get(region, {}).get(gpu_type)
    return None if entry is None else float(entry["spot" if spot else "on_demand"])


def control_plane(plane: dict[str, Any], today: str | None = None) -> tuple[float, str]:
    """The control plane's hourly price on ``today`` (ISO date; default: today) and its
    note: the extended-support rate once its Kubernetes version's standard support ended."""
    import datetime

    ends = plane.get("standard_support_ends")
    today = today or datetime.date.today().isoformat()
    if ends and today > ends:
        return float(plane["extended_hourly"]), (
            f"{plane['note']}; Kubernetes {plane['version']} is in extended support since "
            f"{ends}, billed at the higher rate"
        )
    return float(plane["hourly"]), str(plane["note"])


def estimate(spec: KubeSpec) -> dict[str, Any]:
    """``{hourly_min, hourly_max, lines, notes, as_of, currency}`` for ``spec``."""
    from scalecloud.infra.registry import descriptor

    table = price_table(spec.provider)
    hourly, note = control_plane(table["control_plane"])
    lines: list[dict[str, Any]] = [
        {"item": "control plane", "hourly": hourly, "count": [1, 1], "note": note}
    ]
    notes: list[str] = []
    fixed = table.get("fixed_nodes")
    if fixed:
        price = node_price(spec.provider, spec.region, fixed["machine_type"], False)
        if price is None:
            notes.append(f"no price for {fixed['machine_type']} in {spec.region}")
        lines.append(
            {"item": f"{fixed['machine_type']} (fixed)", "hourly": price,
             "count": [fixed["count"], fixed["count"]], "note": fixed["note"]}
        )  # fmt: skip
    if spec.machine_type:  # a node pool to pay for (minikube has none)
        price = node_price(spec.provider, spec.region, spec.machine_type, spec.spot)
        if price is None:
            notes.append(
                f"no price for {spec.machine_type} in {spec.region} in the table of "
                f"{table['as_of']}; nodes left out of the estimate"
            )
        gpu = gpu_price(spec.provider, spec.region, spec.gpu_type, spec.spot)
        if gpu is None:
            notes.append(f"no price for GPU {spec.gpu_type} in {spec.region}; left out")
        node = None if price is None else price + (gpu or 0.0) * spec.gpu_count
        kind = "spot" if spec.spot else "on-demand"
        lines.append(
            {"item": f"{spec.machine_type} ({kind})", "hourly": node,
             "count": [spec.min_nodes, spec.max_nodes], "note": "the autoscaling worker pool"}
        )  # fmt: skip
    scheduler = descriptor(spec.provider).defaults.get("scheduler_machine_type")
    if spec.spot and scheduler:  # the on-demand node the scheduler runs on
        price = node_price(spec.provider, spec.region, scheduler, False)
        if price is None:
            notes.append(f"no price for {scheduler} in {spec.region}; left out")
        lines.append(
            {"item": f"{scheduler} (on-demand)", "hourly": price, "count": [1, 1],
             "note": "the scheduler's node: spot workers may go, the scheduler stays"}
        )  # fmt: skip
    low = sum((line["hourly"] or 0.0) * line["count"][0] for line in lines)
    high = sum((line["hourly"] or 0.0) * line["count"][1] for line in lines)
    return {
        "hourly_min": round(low, 4),
        "hourly_max": round(high, 4),
        "currency": CURRENCY,
        "as_of": table["as_of"],
        "complete": not notes,
        "lines": lines,
        "notes": notes,
        "source": SOURCE,
    }

"""What is derived from run records: a run's status and result in a few words, a rerun's
request, side-by-side rows for compare, version differences, the reproduction check, and a
conda environment file.

Nothing here knows a workload by name: what a workload's records show (its headline, the
metrics a rerun must reproduce) is the workload's own (see ``Workload``)."""

from __future__ import annotations

import math
import socket
import time
from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.state import pid_alive
from scalecloud.infra.versions import client_versions
from scalecloud.workloads.core import Workload
from scalecloud.workloads.registry import find_workload, get_workload
from scalecloud.workloads.request import PreparedRun

# distributions whose conda-forge package has another name
CONDA_NAMES = {"msgpack": "msgpack-python"}


def workload_of(record: dict[str, Any]) -> Workload | None:
    """The built-in workload ``record`` ran; None for a script or an unknown name."""
    if record.get("kind") == "script":
        return None
    return find_workload(str(record.get("workload") or ""))


def status_of(record: dict[str, Any]) -> str:
    """The stored status, or ``lost`` for a running record whose process is gone (when it
    ran on this host)."""
    here = record.get("host") == socket.gethostname()
    if record["status"] == "running" and here and not pid_alive(record.get("pid")):
        return "lost"
    return str(record["status"])


def key_metric(record: dict[str, Any]) -> str:
    """The run's result in a few words: its workload's headline over its metrics, else its
    exit code, else ``-``."""
    workload = workload_of(record)
    metrics = record.get("metrics") or {}
    headline = workload.headline_of(metrics) if workload is not None and metrics else None
    if headline is not None:
        return headline
    if record.get("exit_code") is not None:
        return f"exit code {record['exit_code']}"
    return "-"


def prepare_rerun(record: dict[str, Any]) -> PreparedRun:
    """The same workload (or script), parameters and seed as ``record``, validated again."""
    seed = int(record["seed"])
    if record.get("kind") == "script":
        script = record.get("script") or {}
        path = Path(script.get("path", ""))
        if not path.is_file():
            raise ScalecloudError(
                f"the script of run {record['id']} is gone: {path}",
                "restore it at that path, or submit the script again by hand",
            )
        if any(arg == "***" or arg.endswith("=***") for arg in script.get("args", [])):
            raise ScalecloudError(
                f"run {record['id']} had secret arguments, which were not recorded",
                f"submit it again by hand: scalecloud submit {path} --seed {seed} ARG ...",
            )
        from scalecloud.workloads.runner import ship_paths

        shipped = list((record.get("params") or {}).get("ship") or [])
        params: dict[str, Any] = {"script": str(path)}
        if shipped:
            params["ship"] = shipped
        return PreparedRun(
            path.name, seed, params, script=path, args=tuple(script.get("args", [])),
            ship=ship_paths(shipped),
        )  # fmt: skip
    workload = get_workload(record["workload"])
    params = {p.name: p.default for p in workload.params}
    for key, value in (record.get("params") or {}).items():
        param = workload.param(key)
        params[key] = param.from_record(value)
        if params[key] is not None:
            param.check(params[key])
    return PreparedRun(workload.name, seed, params, workload=workload)


def script_changed(record: dict[str, Any]) -> bool:
    """Whether a script run's file differs from the recorded content hash."""
    from scalecloud.workloads.records.recorder import sha256_of

    script = record.get("script") or {}
    path = Path(script.get("path", ""))
    return path.is_file() and sha256_of(path) != script.get("sha256")


def version_differences(
    recorded: dict[str, str | None], now: dict[str, str | None] | None = None
) -> list[dict[str, Any]]:
    """Packages whose version now (default: this client) differs from the recorded one."""
    now = client_versions() if now is None else now
    return [
        {"package": name, "recorded": old, "now": now.get(name)}
        for name, old in recorded.items()
        if old is not None and now.get(name) != old
    ]


def worker_versions(record: dict[str, Any]) -> dict[str, str | None]:
    """One version per package across the run's workers (``a | b`` where they differed)."""
    cluster = (record.get("versions") or {}).get("cluster") or {}
    merged: dict[str, set[str]] = {}
    for table in (cluster.get("workers") or {}).values():
        for name, value in table.items():
            merged.setdefault(name, set()).add(str(value))
    return {name: " | ".join(sorted(values)) for name, values in merged.items()}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def reproduction(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The results a rerun must reproduce (the workload's ``reproduced`` metrics, a
    script's exit code), side by side, each with ``same``."""
    workload = workload_of(old)
    keys = workload.reproduced if workload is not None else ()
    before, after = old.get("metrics") or {}, new.get("metrics") or {}
    rows = [
        {"metric": k, "before": before.get(k), "after": after.get(k)}
        for k in keys
        if k in before or k in after
    ]
    if old.get("kind") == "script":
        rows.append({"metric": "exit_code", "before": old["exit_code"], "after": new["exit_code"]})
    for row in rows:
        row["same"] = _same(row["before"], row["after"])
    return rows


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
    elif isinstance(value, list) and len(value) > 16:
        into[prefix] = f"[{len(value)} values]"
    else:
        into[prefix] = value


def _bulky(value: Any) -> bool:
    """Whether a metric is a table or a matrix (a list of lists or of dicts, such as KMeans
    centers or a search's candidates): too big to compare side by side; it stays in
    ``runs show`` and the artifacts."""
    return isinstance(value, list) and any(isinstance(v, list | dict) for v in value)


def compare_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parameters, metrics and context of several runs as rows ``{field, values, differs}``;
    package versions only where they differ."""
    flat: list[dict[str, Any]] = []
    for record in records:
        fields: dict[str, Any] = {}
        for key in ("workload", "status", "seed", "duration_s"):
            fields[key] = record.get(key)
        cluster = record.get("cluster") or {}
        fields["provider"] = cluster.get("provider")
        spec = cluster.get("spec") or {}
        fields["workers"] = spec.get("adapt") or spec.get("workers")
        fields["threads_per_worker"] = spec.get("threads_per_worker")
        _flatten("params", record.get("params") or {}, fields)
        metrics = {k: v for k, v in (record.get("metrics") or {}).items() if not _bulky(v)}
        _flatten("metrics", metrics, fields)
        _flatten("versions", (record.get("versions") or {}).get("client") or {}, fields)
        fields["git.commit"] = (record.get("git") or {}).get("commit")
        flat.append(fields)
    names: list[str] = []
    for fields in flat:
        names.extend(k for k in fields if k not in names)
    rows = []
    for name in names:
        values = [fields.get(name) for fields in flat]
        differs = any(not _same(values[0], v) for v in values[1:])
        if name.startswith("versions.") and not differs:
            continue
        rows.append({"field": name, "values": values, "differs": differs})
    return rows


def environment_yml(record: dict[str, Any]) -> str:
    """A conda environment file pinning the run's recorded client versions (with the
    workers' where they differed, noted)."""
    versions = (record.get("versions") or {}).get("client") or {}
    workers = worker_versions(record)
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(record["started"]))
    lines = [
        f"# The package versions of scalecloud run {record['id']} ({record['workload']}, "
        f"{started}).",
        "# Create it with:  conda env create -f environment.yml",
        f"name: scalecloud-run-{record['id']}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
    ]
    for name, value in versions.items():
        if not value:
            continue
        note = ""
        if workers.get(name) not in (None, value):
            note = f"  # the workers had {workers[name]}"
        lines.append(f"  - {CONDA_NAMES.get(name, name)}={value}{note}")
    lines.append("  - pip")
    if record.get("scalecloud"):
        lines.append(f"# scalecloud {record['scalecloud']}: pip install it into this environment")
    return "\n".join(lines) + "\n"

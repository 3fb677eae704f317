"""What a run is made of, before and after: the user's request, the validated run, and
how it ended. Shared by the runner and the run records, which import nothing of each other
for these types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalecloud.workloads.core import Workload, WorkloadResult


@dataclass(frozen=True)
class WorkloadRequest:
    """What the user asked to run: a workload name or a script path, its settings."""

    target: str
    settings: tuple[str, ...] = ()
    seed: int | None = None
    args: tuple[str, ...] = ()
    # Parameter values as Python objects (the API's keyword arguments), after settings.
    values: tuple[tuple[str, Any], ...] = ()
    # More files or folders to send to the workers with a script (--ship).
    ship: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreparedRun:
    """A validated request: the workload (or script), its resolved parameters and seed."""

    name: str
    seed: int
    params: dict[str, Any]
    workload: Workload | None = None
    script: Path | None = None
    args: tuple[str, ...] = ()
    seed_given: bool = True
    # A script's --ship paths (resolved); its own folder is always shipped.
    ship: tuple[Path, ...] = ()


@dataclass
class RunOutcome:
    """How a run ended; ``exit_code`` is the command's."""

    name: str
    seed: int
    params: dict[str, Any]
    status: str
    exit_code: int
    duration_s: float
    result: WorkloadResult | None = None
    worker_counts: list[tuple[float, int]] = field(default_factory=list)
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "workload": self.name,
            "seed": self.seed,
            "params": {k: _jsonable(v) for k, v in self.params.items()},
            "status": self.status,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "metrics": self.result.metrics if self.result else None,
            "tables": self.result.tables if self.result else {},
            "worker_counts": self.worker_counts,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value

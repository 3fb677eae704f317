"""Recorded runs from Python: ``Run``, ``runs()``, ``Run.load(id)``, ``run.rerun()``,
``compare(ids)``. They read the same records as ``scalecloud runs``.

Example::

    run = scalecloud.Run.load("0mhx3k")
    again = run.rerun()
    scalecloud.compare([run.id, again.id]).to_frame()
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalecloud.infra.events import Event, EventFn
from scalecloud.session import event_sink

if TYPE_CHECKING:
    import pandas as pd

    from scalecloud.workloads.runner import RunOutcome


def _store() -> Any:
    from scalecloud.workloads.records.store import RunStore

    return RunStore()


class Run:
    """One recorded run: ``id``, ``status``, ``params``, ``metrics``, ``artifacts`` (name
    → path) and ``plots`` (PNG paths); ``record`` holds everything recorded.

    ``outcome`` is set on a run this process just made (its summary rows and tables).
    """

    def __init__(self, record: dict[str, Any], outcome: RunOutcome | None = None) -> None:
        self.record = record
        self.outcome = outcome
        self.rerun_report: dict[str, Any] | None = None

    @classmethod
    def of(cls, outcome: RunOutcome) -> Run:
        """The Run of an outcome that was just recorded."""
        record = _store().get(outcome.run_id) if outcome.run_id else None
        return cls(record or {"id": outcome.run_id, **outcome.to_dict()}, outcome)

    @classmethod
    def load(cls, run_id: str) -> Run:
        """The run whose id is ``run_id`` or starts with it."""
        return cls(_store().find(run_id))

    def refresh(self) -> Run:
        """Read the record again (a run of another process may have ended since)."""
        self.record = _store().find(self.id)
        return self

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def workload(self) -> str:
        return str(self.record.get("workload"))

    @property
    def status(self) -> str:
        """``succeeded``, ``failed``, ``interrupted``, ``refused``, ``running``, or
        ``lost`` for a run whose process ended without completing its record."""
        from scalecloud.workloads.records.views import status_of

        return status_of(self.record)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.record.get("params") or {})

    @property
    def seed(self) -> int | None:
        return self.record.get("seed")

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.record.get("metrics") or {})

    @property
    def error(self) -> str | None:
        return self.record.get("error")

    @property
    def exit_code(self) -> int | None:
        return self.record.get("exit_code")

    @property
    def duration_s(self) -> float | None:
        return self.record.get("duration_s")

    @property
    def artifacts(self) -> dict[str, Path]:
        folder = _store().artifacts_dir(self.id)
        return {name: folder / name for name in self.record.get("artifacts") or []}

    @property
    def plots(self) -> list[Path]:
        return [path for name, path in self.artifacts.items() if name.endswith(".png")]

    @property
    def headline(self) -> str:
        """The run's key result in a few words, e.g. ``inertia 4.00098e+07``."""
        from scalecloud.workloads.records.views import key_metric

        return key_metric(self.record)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.record, status=self.status)

    def rerun(
        self, provider: str | None = None, name: str | None = None, *,
        strict_versions: bool = False, progress: bool = True, on_event: EventFn | None = None,
    ) -> Run:  # fmt: skip
        """The same workload (or script), parameters and seed again: on the running
        cluster ``name``, or with ``provider`` on a fresh cluster of the recorded size and
        cloud options, torn down after. ``rerun_report`` of the new run says whether the
        results are the same and which package versions changed."""
        import os

        from scalecloud.infra.registry import respec
        from scalecloud.lifecycle import ClusterSession, fresh_name
        from scalecloud.workloads.records import views

        events = event_sink(progress, on_event)
        old = self.record
        prepared = views.prepare_rerun(old)
        if old.get("kind") == "script" and views.script_changed(old):
            events(Event("warning", f"{prepared.script} changed since run {self.id}"))
        client_diff = views.version_differences((old.get("versions") or {}).get("client") or {})
        for diff in client_diff:
            events(
                Event("warning", f"{diff['package']} is {diff['now'] or 'missing'} here, "
                      f"was {diff['recorded']} in run {self.id}")
            )  # fmt: skip
        if provider is not None:
            spec = respec(
                (old.get("cluster") or {}).get("spec") or {}, provider,
                name or fresh_name("rerun"), owner_pid=os.getpid(),
            )  # fmt: skip
            cluster = ClusterSession.from_spec(spec, keep=False, reuse=False, on_event=events)
        else:
            cluster = ClusterSession.attach(name, on_event=events)
        cluster.check_run(prepared)  # before a fresh cluster exists
        with cluster:
            outcome = cluster.execute(prepared, strict_versions=strict_versions, rerun_of=self.id)
        new = Run.of(outcome)
        new.rerun_report = {
            "rerun_of": self.id,
            "reproduced": views.reproduction(old, new.record),
            "client_version_differences": client_diff,
            "worker_version_differences": views.version_differences(
                views.worker_versions(old), views.worker_versions(new.record)
            ),
        }
        return new

    def __repr__(self) -> str:
        return f"<scalecloud.Run {self.id} {self.workload} {self.status}: {self.headline}>"

    def _repr_html_(self) -> str:
        from scalecloud.display import run_html

        return run_html(self)


class RunList(list[Run]):
    """Runs, newest first; ``to_frame()`` gives a pandas DataFrame."""

    def to_frame(self) -> pd.DataFrame:
        """One row per run: id, workload, status, started, duration, seed, cluster,
        result, and a ``param.*`` and ``metric.*`` column per scalar value."""
        import pandas as pd

        rows = []
        for run in self:
            cluster = run.record.get("cluster") or {}
            row: dict[str, Any] = {
                "id": run.id, "workload": run.workload, "status": run.status,
                "started": pd.Timestamp(run.record["started"], unit="s"),
                "duration_s": run.duration_s, "seed": run.seed,
                "provider": cluster.get("provider"), "cluster": cluster.get("name"),
                "result": run.headline,
            }  # fmt: skip
            for prefix, values in (("param", run.params), ("metric", run.metrics)):
                for key, value in values.items():
                    if isinstance(value, int | float | str | bool) or value is None:
                        row[f"{prefix}.{key}"] = value
            rows.append(row)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return str(self.to_frame().to_html(index=False))


def runs(
    workload: str | None = None, status: str | None = None, limit: int | None = None
) -> RunList:
    """Recorded runs, newest first, of one workload and status if given.

    Example::

        scalecloud.runs(workload="kmeans", limit=5).to_frame()
    """
    return RunList(Run(r) for r in _store().list(workload=workload, status=status, limit=limit))


@dataclass(frozen=True)
class Comparison:
    """Several runs side by side: ``rows`` of ``{field, values, differs}``."""

    runs: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]

    @property
    def differing(self) -> int:
        return sum(bool(row["differs"]) for row in self.rows)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(
            [[*row["values"], row["differs"]] for row in self.rows],
            index=[row["field"] for row in self.rows],
            columns=[*self.runs, "differs"],
        )
        return frame

    def _repr_html_(self) -> str:
        return str(self.to_frame().to_html())


def compare(ids: Iterable[str]) -> Comparison:
    """Parameters, metrics and context of two or more runs, differences marked.

    Example::

        scalecloud.compare(["0mhx3k", "0mhx4a"]).to_frame()
    """
    from scalecloud.infra.errors import ScalecloudError
    from scalecloud.workloads.records.views import compare_rows

    wanted = list(ids)
    if len(wanted) < 2:
        raise ScalecloudError("compare needs two or more runs", "e.g. scalecloud runs compare A B")
    store = _store()
    records = [store.find(run_id) for run_id in wanted]
    rows = compare_rows(records)
    return Comparison(tuple(r["id"] for r in records), tuple(rows))


def remove(ids: Iterable[str]) -> list[str]:
    """Delete runs and their artifacts; every id is found before anything is deleted.
    Returns the full ids removed."""
    store = _store()
    records = [store.find(run_id) for run_id in ids]
    for record in records:
        store.remove(record["id"])
    return [str(record["id"]) for record in records]

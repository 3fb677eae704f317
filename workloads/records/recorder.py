"""What a run record holds, and its lifecycle: started before the workload, completed after.

A :class:`Recorder` writes the record (status ``running``) before anything runs, adds the
cluster's package versions once connected, and completes it with the status, error,
metrics, worker counts and artifacts however the run ends: used as a context manager
around the run, it completes a record the run left unfinished from the exception that
ended it. Records never hold environment
variables, and every value is passed through :func:`redact` before it is stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn, no_events
from scalecloud.infra.provider import ClusterInfo
from scalecloud.infra.versions import Mismatch, VersionTable, client_versions, package_version
from scalecloud.workloads.records.artifacts import write_artifacts
from scalecloud.workloads.records.store import RunStore, new_run_id
from scalecloud.workloads.request import PreparedRun, RunOutcome

REDACTED = "***"
_SECRET_KEY = re.compile(
    r"(^|[_-])(pass(word|wd|phrase)?|secrets?|tokens?|api[_-]?keys?|access[_-]?keys?|"
    r"credentials?|private[_-]?keys?|auth)($|[_-])",
    re.IGNORECASE,
)
_SECRET_VALUES = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    re.compile(r"\b(ghp|gho|ghs|github_pat|glpat|xox[abprs])[-_][A-Za-z0-9_-]{16,}"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
    re.compile(
        r"(?i)(?<![a-z])(pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key)"
        r"(\s*[=:]\s*)\S+"
    ),
]


def redact(value: Any, key: str = "") -> Any:
    """``value`` with credential-like strings replaced by ``***``: values of keys named like
    secrets, and strings that look like keys, tokens, private keys or URL passwords."""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        if key and _SECRET_KEY.search(key) and value:
            return REDACTED
        for pattern in _SECRET_VALUES:
            value = pattern.sub(_replacement, value)
    return value


def _replacement(match: re.Match[str]) -> str:
    if match.re is _SECRET_VALUES[-1]:
        return f"{match.group(1)}{match.group(3)}{REDACTED}"
    return REDACTED


def redact_args(args: tuple[str, ...] | list[str]) -> list[str]:
    """Script arguments with the values of secret-looking options hidden
    (``--token X``, ``--password=X``)."""
    found: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            found.append(REDACTED)
            hide_next = False
            continue
        name, sep, _ = arg.partition("=")
        if name.startswith("-") and _SECRET_KEY.search(name.lstrip("-")):
            if sep:
                found.append(f"{name}={REDACTED}")
            else:
                found.append(arg)
                hide_next = True
            continue
        found.append(redact(arg))
    return found


def jsonable(value: Any) -> Any:
    """Plain JSON types from tuples and numpy scalars and arrays."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str):
        return jsonable(value.tolist())
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_state(cwd: Path | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag of the repository at ``cwd``; None when it is not one (or git
    is not installed)."""
    folder = str(cwd or Path.cwd())

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", folder, *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "root": git("rev-parse", "--show-toplevel")}


def new_record(run: PreparedRun, cluster: ClusterInfo, rerun_of: str | None = None) -> dict:
    """The record of a run about to start: everything known before it connects."""
    started = time.time()
    script = None
    if run.script is not None:
        script = {
            "path": str(run.script),
            "sha256": sha256_of(run.script),
            "args": redact_args(run.args),
        }
    return {
        "id": new_run_id(started),
        "kind": "script" if run.script is not None else "workload",
        "workload": run.name,
        "script": script,
        "params": jsonable(run.params),
        "seed": run.seed,
        "seed_given": run.seed_given,
        "cluster": {
            "name": cluster.name,
            "provider": cluster.provider,
            "scheduler_address": cluster.scheduler_address,
            "dashboard_url": cluster.dashboard_url,
            "spec": cluster.spec.to_dict(),
            "workers_at_start": len(cluster.workers),
        },
        "versions": {"client": client_versions(), "cluster": None, "mismatches": []},
        "scalecloud": package_version("scalecloud"),
        "git": git_state(),
        "cwd": str(Path.cwd()),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "rerun_of": rerun_of,
        "started": started,
        "ended": None,
        "duration_s": None,
        "status": "running",
        "exit_code": None,
        "error": None,
        "metrics": None,
        "worker_counts": [],
        "artifacts": [],
    }


class Recorder:
    """The record of one run in a :class:`RunStore`, from start to completion.

    ::

        with Recorder.start(run, cluster, rerun_of) as recorder:  # written: running
            ...
            recorder.complete(outcome, on_event)  # status and exit code of the outcome

    Leaving the block by an exception completes a record not yet finished: ``interrupted``
    (exit code 130) for KeyboardInterrupt, else ``failed`` with the error; the exception
    propagates.
    """

    def __init__(self, record: dict[str, Any], store: RunStore) -> None:
        self.record = record
        self.store = store
        self.finished = False

    @classmethod
    def start(
        cls, run: PreparedRun, cluster: ClusterInfo, rerun_of: str | None = None,
        store: RunStore | None = None,
    ) -> Recorder:  # fmt: skip
        store = store or RunStore()
        record = redact(new_record(run, cluster, rerun_of))
        store.insert(record)
        return cls(record, store)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:  # fmt: skip
        if exc is not None and not self.finished:
            self.finish(*failure(exc))
        # None: the exception, if any, goes on

    @property
    def id(self) -> str:
        return str(self.record["id"])

    def set_versions(
        self, table: VersionTable | None, found: list[Mismatch], error: str = ""
    ) -> None:
        versions = self.record["versions"]
        versions["cluster"] = table.to_dict() if table else None
        versions["mismatches"] = [m.to_dict() for m in found]
        if error:
            versions["error"] = error
        self.store.update(redact(self.record))

    def complete(self, outcome: RunOutcome, on_event: EventFn = no_events) -> None:
        """Complete the record from how the run ended; the outcome gets the record's id."""
        outcome.run_id = self.id
        error = None if outcome.exit_code == 0 else f"exit code {outcome.exit_code}"
        self.finish(outcome.status, outcome.exit_code, error, outcome, on_event)

    def finish(
        self, status: str, exit_code: int | None, error: str | None = None,
        outcome: RunOutcome | None = None, on_event: EventFn = no_events,
    ) -> None:  # fmt: skip
        """Complete the record; artifacts are written when there are results."""
        ended = time.time()
        self.record.update(
            ended=ended, duration_s=round(ended - self.record["started"], 3), status=status,
            exit_code=exit_code, error=error,
        )  # fmt: skip
        if outcome is not None:
            self.record["metrics"] = jsonable(outcome.result.metrics) if outcome.result else None
            self.record["tables"] = jsonable(outcome.result.tables) if outcome.result else {}
            self.record["worker_counts"] = jsonable(outcome.worker_counts)
            self.record["run_s"] = round(outcome.duration_s, 3)
        try:
            self.record["artifacts"] = write_artifacts(
                self.record, self.store.artifacts_dir(self.id)
            )
        except Exception as exc:  # a missing plot must not lose the record
            self.record["artifact_error"] = f"{type(exc).__name__}: {exc}"
            on_event(Event("warning", f"could not write the artifacts of run {self.id}: {exc}"))
        self.store.update(redact(self.record))
        self.finished = True


INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)"


def failure(exc: BaseException) -> tuple[str, int, str]:
    """``(status, exit code, error)`` of a run ended by ``exc``."""
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C (130), or SIGTERM (Terminated: 143)
        return "interrupted", int(getattr(exc, "exit_code", 130)), INTERRUPTED
    if isinstance(exc, ScalecloudError):
        return "failed", exc.exit_code, exc.message
    return "failed", 1, f"{type(exc).__name__}: {exc}"

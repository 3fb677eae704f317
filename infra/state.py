"""The per-user state directory: cluster records, written atomically under a lock."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError

HOME_ENV = "SCALECLOUD_HOME"
LOCK_TIMEOUT_S = 30.0


def state_home() -> Path:
    """The state directory: ``$SCALECLOUD_HOME`` or the platform's user data directory.

    Nothing is created here; writers create what they need.
    """
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_path

    return user_data_path("scalecloud", appauthor=False)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any | None:
    """The parsed file, or None if it is missing or unreadable (torn, foreign, a folder)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


class StateStore:
    """Cluster records under ``<home>/clusters/<name>.json``, one lock for all writers."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or state_home()

    @property
    def clusters_dir(self) -> Path:
        return self.home / "clusters"

    def record_path(self, name: str) -> Path:
        return self.clusters_dir / f"{name}.json"

    def log_path(self, name: str) -> Path:
        return self.clusters_dir / f"{name}.log"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise read-modify-write sequences across processes."""
        from filelock import FileLock, Timeout

        self.home.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(self.home / "state.lock"), timeout=LOCK_TIMEOUT_S):
                yield
        except Timeout as exc:
            raise ScalecloudError(
                f"the state directory {self.home} stayed locked for {LOCK_TIMEOUT_S:.0f}s",
                "another scalecloud command is still running; wait for it or end it",
            ) from exc

    def get(self, name: str) -> dict[str, Any] | None:
        """The record of cluster ``name``; None when there is none. A record that cannot be
        read is an error naming its file (records are written whole, so it was damaged
        from outside)."""
        path = self.record_path(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise damaged(path, str(getattr(exc, "strerror", None) or exc)) from exc
        if not isinstance(data, dict):
            raise damaged(path, "not a JSON object")
        return data

    def put(self, name: str, record: dict[str, Any]) -> None:
        path = self.record_path(name)
        try:
            write_json_atomic(path, record)
        except OSError as exc:  # the old record, if any, is intact: writes are atomic
            raise ScalecloudError(
                f"could not write the cluster record {path}: {exc.strerror or exc}",
                f"free space in {self.home} (or set SCALECLOUD_HOME to a folder with room), "
                "then run the command again",
            ) from exc

    def remove(self, name: str) -> None:
        self.record_path(name).unlink(missing_ok=True)
        self.log_path(name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        if not self.clusters_dir.is_dir():
            return []
        return sorted(p.stem for p in self.clusters_dir.glob("*.json"))

    def records(self) -> list[dict[str, Any]]:
        """Every readable record (a damaged one is left out; ``get`` names it)."""
        found = []
        for name in self.names():
            try:
                record = self.get(name)
            except ScalecloudError:
                continue
            if record is not None:
                found.append(record)
        return found


def damaged(path: Path, reason: str) -> ScalecloudError:
    return ScalecloudError(
        f"the cluster record {path} is damaged ({reason})",
        f"move it away: mv {path} {path}.broken (if its cluster still runs, stop it by hand: "
        "its pid or stack is in the file); other clusters are not affected",
    )


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 probes without sending)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def owner_stamp() -> dict[str, Any]:
    """This process, as a record names the command that works on it (pid and start time:
    a pid reused by another process is not mistaken for it)."""
    import psutil

    return {"pid": os.getpid(), "started": psutil.Process().create_time()}


def owner_alive(stamp: dict[str, Any] | None) -> bool:
    """Whether the process of :func:`owner_stamp` still runs (that very process: not one
    that reuses its pid, nor a zombie)."""
    import psutil

    if not stamp or not pid_alive(stamp.get("pid")):
        return False
    try:
        proc = psutil.Process(stamp["pid"])
        same = abs(proc.create_time() - stamp.get("started", 0)) < 1.0
        return same and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False

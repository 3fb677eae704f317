"""Run records: one SQLite row per run in the state directory, artifacts in a folder per run.

The database is ``<home>/runs/runs.db`` (stdlib sqlite3, WAL, so concurrent submits each
write their own row while readers keep reading); the artifacts of run ``ID`` (tables as
CSV, plots as PNG) are in ``<home>/runs/ID/``. The schema has a version table and a list
of migrations; opening a database applies the ones it lacks, under a write lock.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.state import state_home

BUSY_TIMEOUT_S = 30.0
STATUSES = ("running", "succeeded", "failed", "interrupted", "refused")
_ALPHABET = string.digits + string.ascii_lowercase


def _v1(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            workload TEXT NOT NULL,
            status TEXT NOT NULL,
            started REAL NOT NULL,
            ended REAL,
            seed INTEGER,
            data TEXT NOT NULL
        )"""
    )


def _v2(db: sqlite3.Connection) -> None:
    # Version 2 made the provider, the cluster and the error queryable columns; older rows
    # get them from their JSON data.
    for column in ("provider", "cluster", "error"):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN duration_s REAL")
    for run_id, data in db.execute("SELECT id, data FROM runs").fetchall():
        record = json.loads(data)
        db.execute(
            "UPDATE runs SET provider = ?, cluster = ?, error = ?, duration_s = ? WHERE id = ?",
            (
                (record.get("cluster") or {}).get("provider"),
                (record.get("cluster") or {}).get("name"),
                record.get("error"),
                record.get("duration_s"),
                run_id,
            ),
        )
    db.execute("CREATE INDEX runs_started ON runs (started)")


# Migration i brings a database from version i to version i + 1; append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)
_COLUMNS = (
    "data", "workload", "status", "started", "ended", "duration_s", "seed", "provider",
    "cluster", "error",
)  # fmt: skip
_INSERT = f"INSERT INTO runs (id, {', '.join(_COLUMNS)}) VALUES (?{', ?' * len(_COLUMNS)})"
_UPDATE = f"UPDATE runs SET {', '.join(f'{c} = ?' for c in _COLUMNS)} WHERE id = ?"


def new_run_id(now: float | None = None) -> str:
    """12 characters: milliseconds since 1970 in base 36 (so ids sort by start time), then
    4 random ones (so runs started in the same millisecond differ)."""
    millis = int((time.time() if now is None else now) * 1000)
    digits = ""
    while millis:
        millis, rest = divmod(millis, 36)
        digits = _ALPHABET[rest] + digits
    return digits.rjust(8, "0") + "".join(secrets.choice(_ALPHABET) for _ in range(4))


def schema_version(db: sqlite3.Connection) -> int:
    """The version of an open database; 0 for an empty one."""
    found = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not found:
        return 0
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations ``db`` lacks, in one transaction; returns the version now."""
    db.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(db)
        if current > SCHEMA_VERSION:
            raise ScalecloudError(
                f"the run records were written by a newer scalecloud (schema {current}, "
                f"this one knows {SCHEMA_VERSION})",
                "upgrade scalecloud: pip install -U scalecloud",
            )
        if current == 0:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for step in MIGRATIONS[current:]:
            step(db)
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


class RunStore:
    """The run records of one state directory. Opening it creates nothing; the first
    write creates the database."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or state_home()) / "runs"

    @property
    def db_path(self) -> Path:
        return self.home / "runs.db"

    def artifacts_dir(self, run_id: str) -> Path:
        return self.home / run_id

    @contextmanager
    def connect(self, create: bool = True) -> Iterator[sqlite3.Connection | None]:
        """A connection with the schema up to date, or None when there is no database yet
        and ``create`` is false."""
        if not self.db_path.exists():
            if not create:
                yield None
                return
            self.home.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            _set_up(db)
            yield db
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            db.close()

    def _error(self, exc: sqlite3.Error) -> ScalecloudError:
        text = str(exc)
        if "full" in text or "disk i/o" in text.lower():  # SQLITE_FULL, SQLITE_IOERR
            hint = (
                f"the disk may be full: free space in {self.home} (or set SCALECLOUD_HOME to "
                "a folder with room, and check it is writable); the records written so far "
                "are intact"
            )
        elif "not a database" in text or "malformed" in text:
            hint = (
                f"move it away: mv {self.db_path} {self.db_path}.broken (a new one is made; "
                "the runs recorded in it are lost unless you repair it with sqlite3 .recover)"
            )
        else:
            hint = "another scalecloud command may hold them; retry, or move the file away"
        return ScalecloudError(f"the run records in {self.db_path} could not be used: {exc}", hint)

    # -- writing ---------------------------------------------------------------------

    def insert(self, record: dict[str, Any]) -> str:
        """Store a new record; gives it an id when it has none. Returns the id."""
        with self.connect() as db:
            assert db is not None
            for _ in range(5):
                record.setdefault("id", new_run_id(record.get("started")))
                try:
                    db.execute(_INSERT, (record["id"], *_column_values(record)))
                    return str(record["id"])
                except sqlite3.IntegrityError:
                    del record["id"]
        raise ScalecloudError("could not find a free run id", "retry the command")

    def update(self, record: dict[str, Any]) -> None:
        """Replace the stored record of ``record['id']``."""
        with self.connect() as db:
            assert db is not None
            db.execute(_UPDATE, (*_column_values(record), record["id"]))

    def remove(self, run_id: str) -> None:
        """Delete a run's row and its artifacts."""
        with self.connect() as db:
            assert db is not None
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.artifacts_dir(run_id), ignore_errors=True)

    # -- reading ---------------------------------------------------------------------

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self.connect(create=False) as db:
            if db is None:
                return None
            row = db.execute("SELECT data FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _loads(row[0]) if row else None

    def find(self, prefix: str) -> dict[str, Any]:
        """The record whose id is ``prefix`` or starts with it; an error when none or
        several match."""
        prefix = prefix.strip().lower()
        with self.connect(create=False) as db:
            rows = (
                db.execute(
                    "SELECT id, data FROM runs WHERE id = ? OR substr(id, 1, ?) = ? "
                    "ORDER BY id DESC LIMIT 6",
                    (prefix, len(prefix), prefix),
                ).fetchall()
                if db is not None and prefix
                else []
            )
        exact = [row for row in rows if row[0] == prefix]
        if exact or len(rows) == 1:
            return _loads((exact or rows)[0][1])
        if not rows:
            raise ScalecloudError(
                f"no run with id {prefix!r}", "list the runs with: scalecloud runs"
            )
        raise ScalecloudError(
            f"run id {prefix!r} is ambiguous: {', '.join(r[0] for r in rows[:5])} ...",
            "give more characters of the id (see: scalecloud runs)",
        )

    def list(
        self, workload: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Records, newest first, optionally of one workload and status."""
        query = "SELECT data FROM runs"
        args: list[Any] = []
        clauses = []
        if workload:
            clauses.append("workload = ?")
            args.append(workload)
        if status:
            clauses.append("status = ?")
            args.append(status)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY started DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self.connect(create=False) as db:
            rows = db.execute(query, args).fetchall() if db is not None else []
        return [_loads(row[0]) for row in rows]

    def integrity(self) -> str:
        """SQLite's own check of the database file: ``ok`` when it is intact."""
        with self.connect(create=False) as db:
            if db is None:
                return "ok"
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def _set_up(db: sqlite3.Connection) -> None:
    """WAL mode and the schema. Connections that open a new database at the same moment
    can get "database is locked" at once here (SQLite does not wait for the switch to WAL
    or its recovery), so this step is retried until the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            if schema_version(db) != SCHEMA_VERSION:
                migrate(db)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _column_values(record: dict[str, Any]) -> tuple[Any, ...]:
    cluster = record.get("cluster") or {}
    return (
        _dumps(record),
        record["workload"],
        record["status"],
        record["started"],
        record.get("ended"),
        record.get("duration_s"),
        record.get("seed"),
        cluster.get("provider"),
        cluster.get("name"),
        record.get("error"),
    )


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def _loads(text: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(text)
    return record

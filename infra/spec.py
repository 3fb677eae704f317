"""Frozen, validated cluster specs, and the parsers that turn user text into them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from scalecloud.infra.errors import ScalecloudError

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
    "t": 10**12, "tb": 10**12, "p": 10**15, "pb": 10**15,
    "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30, "gib": 2**30,
    "ti": 2**40, "tib": 2**40, "pi": 2**50, "pib": 2**50,
}  # fmt: skip
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}

DEFAULT_NAME = "default"
DEFAULT_IDLE_TIMEOUT = 3600.0


def validate_name(name: str) -> str:
    """A cluster name that is also a valid Kubernetes and Pulumi stack name."""
    if not _NAME_RE.fullmatch(name):
        raise ScalecloudError(
            f"invalid cluster name {name!r}",
            "use 1-40 lowercase letters, digits and dashes, starting and ending "
            "with a letter or digit, e.g. --name exp-1",
        )
    return name


def parse_size(text: str, *, what: str = "size") -> int:
    """Bytes from '4GiB', '512MB', '2g' or a plain number of bytes."""
    match = _SIZE_RE.match(str(text))
    unit = (match.group(2) or "").lower() if match else ""
    if not match or unit not in _UNITS:
        raise ScalecloudError(
            f"invalid {what} {text!r}", "write a number with a unit, e.g. 4GiB, 512MiB or 2GB"
        )
    value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise ScalecloudError(f"{what} must be positive, got {text!r}", "e.g. 4GiB")
    return value


def parse_duration(text: str, *, what: str = "duration") -> float | None:
    """Seconds from '30m', '1h30m', '90s' or '45'; '0', 'off' and 'none' mean no limit."""
    raw = str(text).strip().lower()
    if raw in ("0", "off", "none", "never", ""):
        return None
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return float(raw) or None
    parts = _DURATION_RE.findall(raw)
    if not parts or _DURATION_RE.sub("", raw).strip():
        raise ScalecloudError(
            f"invalid {what} {text!r}", "write e.g. 30m, 1h, 90s or 0 for no limit"
        )
    seconds = sum(float(number) * _SECONDS[unit.lower()] for number, unit in parts)
    return seconds or None


def parse_adapt(text: str) -> tuple[int, int]:
    """(minimum, maximum) workers from 'MIN:MAX'."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", str(text))
    if not match:
        raise ScalecloudError(
            f"invalid adaptive range {text!r}", "write MIN:MAX worker counts, e.g. --adapt 1:4"
        )
    low, high = int(match.group(1)), int(match.group(2))
    if high < 1 or low > high:
        raise ScalecloudError(
            f"invalid adaptive range {text!r}: need 0 <= MIN <= MAX and MAX >= 1",
            "e.g. --adapt 1:4",
        )
    return low, high


def format_size(n: float) -> str:
    """Human-readable binary size, e.g. 3.7 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def format_duration(seconds: float | None) -> str:
    """Compact duration, e.g. 1h 05m, 3m 12s, 42s; 'off' for None."""
    if seconds is None:
        return "off"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@dataclass(frozen=True)
class ClusterSpec:
    """What a user asked for, validated; providers turn it into a cluster.

    ``workers`` is the fixed size; with ``adapt`` the cluster starts at its minimum.
    ``port`` and ``dashboard_port`` of 0 pick free ports.
    """

    provider: str = "local"
    name: str = DEFAULT_NAME
    workers: int = 2
    threads_per_worker: int = 1
    memory_per_worker: int | None = None
    adapt: tuple[int, int] | None = None
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT
    port: int = 0
    dashboard_port: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_name(self.name)
        if self.workers < 0:
            raise ScalecloudError(f"--workers must be >= 0, got {self.workers}", "e.g. --workers 2")
        if self.threads_per_worker < 1:
            raise ScalecloudError(
                f"--threads-per-worker must be >= 1, got {self.threads_per_worker}",
                "e.g. --threads-per-worker 1",
            )
        for label, port in (("--port", self.port), ("--dashboard-port", self.dashboard_port)):
            if not 0 <= port <= 65535:
                raise ScalecloudError(f"{label} must be 0-65535, got {port}", "0 picks a free port")
        if self.idle_timeout is not None and self.idle_timeout <= 0:
            object.__setattr__(self, "idle_timeout", None)

    @property
    def initial_workers(self) -> int:
        """Workers started with the cluster: the adaptive minimum when adaptive."""
        return self.adapt[0] if self.adapt else self.workers

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["adapt"] = list(self.adapt) if self.adapt else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterSpec:
        data = dict(data)
        if data.get("adapt"):
            data["adapt"] = tuple(data["adapt"])
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

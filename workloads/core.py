"""Workload definitions: typed parameters, ``--set key=value`` parsing, and results."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from scalecloud.infra.errors import ScalecloudError

KINDS = ("int", "float", "str", "bool", "ints", "floats", "strs", "ngrams", "path", "data")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One settable parameter of a workload.

    ``kind`` is one of :data:`KINDS`; lists are written comma-separated, n-gram ranges
    as ``1-1,1-2``. ``minimum`` bounds numbers (and every number of a list). A ``data``
    value is a URL (kept as given) or a local path (made absolute, so that a rerun finds
    it); ``on_workers`` marks data the workers read themselves, which a cluster that does
    not share this machine's files cannot use as a local path.
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    choices: tuple[str, ...] | None = None
    on_workers: bool = False

    def parse(self, text: str) -> Any:
        try:
            value = self._convert(text)
        except (ValueError, TypeError):
            raise ScalecloudError(
                f"invalid value {text!r} for {self.name}: expected {self.describe_kind()}",
                f"e.g. --set {self.name}={self.format(self.default) if self.default is not None else '...'}",
            ) from None
        self.check(value)
        return value

    def _convert(self, text: str) -> Any:
        text = text.strip()
        if self.kind == "int":
            return int(text)
        if self.kind == "float":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
        if self.kind == "bool":
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise ValueError(text)
        if self.kind == "ints":
            return tuple(int(part) for part in _split(text))
        if self.kind == "floats":
            values = tuple(float(part) for part in _split(text))
            if not all(math.isfinite(v) for v in values):
                raise ValueError(text)
            return values
        if self.kind == "strs":
            return tuple(_split(text))
        if self.kind == "ngrams":
            pairs = []
            for part in _split(text):
                low, high = part.split("-")
                pairs.append((int(low), int(high)))
            return tuple(pairs)
        if self.kind == "path":
            if not text:
                raise ValueError(text)
            return str(Path(text).expanduser())
        if self.kind == "data":
            from scalecloud.workloads.data.locations import normalise

            if not text:
                raise ValueError(text)
            return normalise(text)
        return text

    def accept(self, value: Any) -> Any:
        """A value given from Python: text is parsed as ``--set`` text is, anything else
        converted as a recorded value is; either way checked."""
        if isinstance(value, str) or (self.kind in ("path", "data") and
                                      isinstance(value, PurePath)):  # fmt: skip
            return self.parse(str(value))
        converted = self.from_record(list(value) if isinstance(value, tuple) else value)
        if converted is not None:
            self.check(converted)
        return converted

    def from_record(self, value: Any) -> Any:
        """The value of this parameter from its JSON form in a run record (lists back to
        tuples); ``parse`` is for user text, this is lossless."""
        if value is None:
            return None
        if self.kind == "ngrams":
            return tuple((int(low), int(high)) for low, high in value)
        if self.kind == "floats":
            return tuple(float(v) for v in value)
        if self.kind == "strs":
            return tuple(str(v) for v in value)
        if self.kind == "float":
            return float(value)
        return value

    def check(self, value: Any) -> None:
        numbers: list[float] = []
        if self.kind in ("int", "float"):
            numbers = [value]
        elif self.kind in ("ints", "floats"):
            numbers = list(value)
        elif self.kind == "ngrams":
            numbers = [n for pair in value for n in pair]
            if any(low > high for low, high in value):
                raise ScalecloudError(
                    f"invalid n-gram range in {self.name}: the lower end exceeds the upper one",
                    f"e.g. --set {self.name}=1-1,1-2",
                )
        if self.kind in ("ints", "floats", "strs", "ngrams") and not value:
            raise ScalecloudError(
                f"{self.name} needs at least one value", f"e.g. --set {self.name}=..."
            )
        if self.minimum is not None and any(n < self.minimum for n in numbers):
            raise ScalecloudError(
                f"{self.name} must be >= {self.format(self.minimum)}, got {self.format(value)}",
                f"e.g. --set {self.name}={self.format(self.default)}",
            )
        if self.choices is not None:
            values = value if isinstance(value, tuple) else (value,)
            bad = [v for v in values if v not in self.choices]
            if bad:
                raise ScalecloudError(
                    f"invalid value {bad[0]!r} for {self.name}",
                    f"choose from: {', '.join(self.choices)}",
                )

    def describe_kind(self) -> str:
        return {
            "int": "an integer",
            "float": "a number",
            "str": "text",
            "bool": "true or false",
            "ints": "comma-separated integers",
            "floats": "comma-separated numbers",
            "strs": "comma-separated words",
            "ngrams": "n-gram ranges like 1-1,1-2",
            "path": "a file path",
            "data": "a file path (or a folder), or an s3://, gs:// or abfs:// URL",
        }[self.kind]

    @staticmethod
    def format(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, tuple):
            if value and isinstance(value[0], tuple):
                return ",".join(f"{a}-{b}" for a, b in value)
            return ",".join(Param.format(v) for v in value)
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass
class WorkloadResult:
    """What a workload hands back: metrics for records, rows for the summary table,
    and tables (lists of flat dicts) such as the top grid-search candidates."""

    metrics: dict[str, Any]
    summary: list[tuple[str, str]] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


RunFn = Callable[..., WorkloadResult]


@dataclass(frozen=True)
class Workload:
    """A built-in workload: its parameters, where its ``run`` function lives, and how its
    results are presented.

    ``run(client, params, seed, on_event) -> WorkloadResult`` imports what it needs
    when called; nothing heavy loads with the registry. The workload owns what its run
    records show: the metrics a rerun must reproduce, a one-line headline, and the
    function that writes its tables and plots.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    target: str
    notes: str = ""
    # "module:function" called with the resolved parameters before anything connects;
    # it raises ScalecloudError when something the run needs is missing (an extra).
    requires: str = ""
    # Metrics a rerun with the same parameters and seed must reproduce.
    reproduced: tuple[str, ...] = ()
    # The result in a few words: a format string over the metrics, e.g. "inertia {inertia:.6g}".
    headline: str = ""
    # "module:function" called as fn(metrics, folder) -> file names: writes the workload's
    # own CSV tables and PNG plots of a run's metrics into folder.
    artifacts: str = ""

    def param(self, key: str) -> Param:
        for param in self.params:
            if param.name == key:
                return param
        raise ScalecloudError(
            f"unknown parameter {key!r} for workload {self.name}",
            f"known: {', '.join(p.name for p in self.params)} (see: scalecloud workloads)",
        )

    def resolve(self, settings: list[str] | tuple[str, ...]) -> dict[str, Any]:
        """Defaults overridden by ``key=value`` settings, every value checked."""
        params = {p.name: p.default for p in self.params}
        for setting in settings:
            key, sep, text = setting.partition("=")
            if not sep or not key.strip():
                raise ScalecloudError(
                    f"invalid setting {setting!r}", "write --set key=value, e.g. --set n_blocks=20"
                )
            params[key.strip()] = self.param(key.strip()).parse(text)
        return params

    def check_ready(self, params: dict[str, Any]) -> None:
        """Fail early, before any cluster is touched, when the run cannot work here."""
        if self.requires:
            _function(self.requires)(params)

    def load(self) -> RunFn:
        run: RunFn = _function(self.target)
        return run

    def headline_of(self, metrics: dict[str, Any]) -> str | None:
        """The headline filled in from ``metrics``; None without a headline or a metric
        it needs."""
        if not self.headline:
            return None
        try:
            return self.headline.format_map(metrics)
        except (KeyError, IndexError, TypeError, ValueError):
            return None

    def write_artifacts(self, metrics: dict[str, Any], folder: Path) -> list[str]:
        """The workload's own tables and plots of ``metrics`` in ``folder``; their names."""
        if not self.artifacts:
            return []
        names: list[str] = _function(self.artifacts)(metrics, folder)
        return names


def _function(spec: str) -> Any:
    """The function named ``module:function``, its module imported now."""
    module_name, func = spec.split(":")
    return getattr(importlib.import_module(module_name), func)

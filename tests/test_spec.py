"""Unit tests for infra/spec.py: the text parsers, the formatters and ClusterSpec."""

from __future__ import annotations

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.spec import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_NAME,
    ClusterSpec,
    format_duration,
    format_size,
    parse_adapt,
    parse_duration,
    parse_size,
    validate_name,
)


def assert_hint(info: pytest.ExceptionInfo[ScalecloudError]) -> None:
    error = info.value
    assert isinstance(error, ScalecloudError)
    assert error.message
    assert isinstance(error.hint, str) and error.hint.strip()
    assert error.exit_code != 0


# --- parse_size -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4GiB", 4 * 2**30),
        ("512MB", 512 * 10**6),
        ("512MiB", 512 * 2**20),
        ("2g", 2 * 10**9),
        ("2G", 2 * 10**9),
        ("1kib", 1024),
        ("1.5KiB", 1536),
        ("0.5GiB", 2**29),
        ("1TB", 10**12),
        ("4 GiB", 4 * 2**30),
        ("  8mb  ", 8 * 10**6),
        ("1024", 1024),
        ("1", 1),
        ("10b", 10),
    ],
)
def test_parse_size_accepts(text: str, expected: int) -> None:
    value = parse_size(text)
    assert value == expected
    assert isinstance(value, int)


@pytest.mark.parametrize(
    "text", ["abc", "-1GiB", "0", "0GiB", "0.1", "4XB", "4 GiBs", "GiB", "", "4i", "1,5GiB"]
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ScalecloudError) as info:
        parse_size(text)
    assert_hint(info)
    assert repr(text) in info.value.message


def test_parse_size_names_what_in_message() -> None:
    with pytest.raises(ScalecloudError) as info:
        parse_size("lots", what="--memory-per-worker")
    assert info.value.message == "invalid --memory-per-worker 'lots'"
    assert "GiB" in info.value.hint
    with pytest.raises(ScalecloudError) as info:
        parse_size("0", what="--memory-per-worker")
    assert "--memory-per-worker must be positive" in info.value.message


# --- parse_duration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", 1800.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("90s", 90.0),
        ("45", 45.0),
        ("2.5", 2.5),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        ("250ms", 0.25),
        ("2H", 7200.0),
        ("10 m", 600.0),
    ],
)
def test_parse_duration_accepts(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text", ["0", "0s", "0m", "0.0", "off", "none", "OFF", "None", "never", "", " off "]
)
def test_parse_duration_no_limit(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    "text", ["10 parsecs", "m", "h30", "30m10", "-5m", "1h x 30m", "1h,30m", "five minutes"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ScalecloudError) as info:
        parse_duration(text, what="--idle-timeout")
    assert_hint(info)
    assert "--idle-timeout" in info.value.message
    assert repr(text) in info.value.message


# --- parse_adapt ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1:4", (1, 4)), ("0:3", (0, 3)), ("2:2", (2, 2)), (" 1 : 8 ", (1, 8))],
)
def test_parse_adapt_accepts(text: str, expected: tuple[int, int]) -> None:
    assert parse_adapt(text) == expected


@pytest.mark.parametrize("text", ["4:1", "0:0", "a:b", "3", "1:", ":4", "-1:4", "1:4:8", "1-4"])
def test_parse_adapt_rejects(text: str) -> None:
    with pytest.raises(ScalecloudError) as info:
        parse_adapt(text)
    assert_hint(info)
    assert repr(text) in info.value.message


# --- validate_name --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exp-1", "default", "a", "0", "a" * 40, "x-y-z", "9lives"])
def test_validate_name_accepts(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["Bad_Name", "-x", "x-", "", "a" * 41, "UPPER", "has space", "dot.name", "under_score", "é"],
)
def test_validate_name_rejects(name: str) -> None:
    with pytest.raises(ScalecloudError) as info:
        validate_name(name)
    assert_hint(info)
    assert repr(name) in info.value.message


def test_validate_name_rejects_trailing_newline() -> None:
    with pytest.raises(ScalecloudError):
        validate_name("exp-1\n")


# --- formatters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 2**20, "5.0 MiB"),
        (4 * 2**30, "4.0 GiB"),
        (int(3.7 * 2**30), "3.7 GiB"),
        (2 * 2**40, "2.0 TiB"),
        (2048 * 2**40, "2048.0 TiB"),
    ],
)
def test_format_size(n: int, expected: str) -> None:
    assert format_size(n) == expected


def test_format_size_round_trips_parse_size() -> None:
    assert format_size(parse_size("4GiB")) == "4.0 GiB"
    assert format_size(parse_size("512MiB")) == "512.0 MiB"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (None, "off"),
        (0, "0s"),
        (42, "42s"),
        (42.4, "42s"),
        (59.6, "1m 00s"),
        (192, "3m 12s"),
        (600, "10m 00s"),
        (3600, "1h 00m"),
        (3900, "1h 05m"),
        (5400, "1h 30m"),
        (2 * 86400, "48h 00m"),
    ],
)
def test_format_duration(seconds: float | None, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_format_duration_round_trips_parse_duration() -> None:
    assert format_duration(parse_duration("1h5m")) == "1h 05m"
    assert format_duration(parse_duration("off")) == "off"


# --- ClusterSpec ----------------------------------------------------------------------


def test_cluster_spec_defaults() -> None:
    spec = ClusterSpec()
    assert spec.provider == "local"
    assert spec.name == DEFAULT_NAME == "default"
    assert spec.workers == 2
    assert spec.threads_per_worker == 1
    assert spec.memory_per_worker is None
    assert spec.adapt is None
    assert spec.idle_timeout == DEFAULT_IDLE_TIMEOUT == 3600.0
    assert spec.port == 0 and spec.dashboard_port == 0
    assert spec.extra == {}
    assert spec.initial_workers == 2


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"workers": -1}, "--workers"),
        ({"threads_per_worker": 0}, "--threads-per-worker"),
        ({"threads_per_worker": -2}, "--threads-per-worker"),
        ({"port": 70000}, "--port"),
        ({"port": -1}, "--port"),
        ({"dashboard_port": 65536}, "--dashboard-port"),
        ({"name": "Bad_Name"}, "invalid cluster name"),
    ],
)
def test_cluster_spec_rejects(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ScalecloudError) as info:
        ClusterSpec(**kwargs)  # type: ignore[arg-type]
    assert_hint(info)
    assert fragment in info.value.message


@pytest.mark.parametrize("port", [0, 1, 8786, 65535])
def test_cluster_spec_accepts_ports(port: int) -> None:
    spec = ClusterSpec(port=port, dashboard_port=port)
    assert spec.port == port and spec.dashboard_port == port


def test_cluster_spec_zero_workers_allowed() -> None:
    assert ClusterSpec(workers=0).initial_workers == 0


@pytest.mark.parametrize("timeout", [0, 0.0, -5])
def test_cluster_spec_non_positive_idle_timeout_means_none(timeout: float) -> None:
    assert ClusterSpec(idle_timeout=timeout).idle_timeout is None


def test_initial_workers_is_adapt_minimum() -> None:
    assert ClusterSpec(workers=5, adapt=(1, 4)).initial_workers == 1
    assert ClusterSpec(workers=5, adapt=(0, 4)).initial_workers == 0
    assert ClusterSpec(workers=5, adapt=(3, 6)).initial_workers == 3
    assert ClusterSpec(workers=5).initial_workers == 5


def test_cluster_spec_is_frozen() -> None:
    spec = ClusterSpec()
    with pytest.raises(AttributeError):
        spec.workers = 9  # type: ignore[misc]


def test_to_dict_from_dict_round_trip() -> None:
    spec = ClusterSpec(
        provider="local",
        name="exp-1",
        workers=3,
        threads_per_worker=2,
        memory_per_worker=parse_size("2GiB"),
        adapt=(1, 4),
        idle_timeout=parse_duration("30m"),
        port=8786,
        dashboard_port=8787,
        extra={"zone": "eu-west-1", "tags": ["a", "b"]},
    )
    data = spec.to_dict()
    assert data == {
        "provider": "local",
        "name": "exp-1",
        "workers": 3,
        "threads_per_worker": 2,
        "memory_per_worker": 2 * 2**30,
        "adapt": [1, 4],
        "idle_timeout": 1800.0,
        "port": 8786,
        "dashboard_port": 8787,
        "extra": {"zone": "eu-west-1", "tags": ["a", "b"]},
    }
    back = ClusterSpec.from_dict(data)
    assert back == spec
    assert back.adapt == (1, 4) and isinstance(back.adapt, tuple)
    assert back.initial_workers == 1


def test_to_dict_is_json_compatible() -> None:
    import json

    spec = ClusterSpec(name="j", adapt=(0, 2), idle_timeout=None)
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["adapt"] == [0, 2]
    assert data["idle_timeout"] is None
    assert ClusterSpec.from_dict(data) == spec


def test_from_dict_without_adapt_and_with_unknown_keys() -> None:
    spec = ClusterSpec(name="plain", workers=4)
    data = spec.to_dict()
    assert data["adapt"] is None
    data["future_field"] = "ignored"
    back = ClusterSpec.from_dict(data)
    assert back == spec
    assert back.adapt is None
    assert "future_field" not in back.to_dict()


def test_from_dict_does_not_mutate_input() -> None:
    data = ClusterSpec(adapt=(1, 2)).to_dict()
    ClusterSpec.from_dict(data)
    assert data["adapt"] == [1, 2]


def test_from_dict_validates() -> None:
    data = ClusterSpec().to_dict()
    data["workers"] = -3
    with pytest.raises(ScalecloudError) as info:
        ClusterSpec.from_dict(data)
    assert_hint(info)

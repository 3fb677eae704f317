"""Progress events: how the library reports what it does, to whoever renders it.

The library never prints. Long operations take an ``on_event`` callback; the CLI renders
events with rich, the Python API in a notebook or as plain lines, tests collect them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Progress reported by the library; the CLI decides how to show it.

    ``kind`` is one of: ``step`` (a phase begins, ``message`` says which), ``info``,
    ``warning``, ``progress`` (``done`` of ``total`` units), ``workers`` (``count``),
    ``bytes`` (``done`` of ``total`` bytes sent, ``file``: ``data push``).
    """

    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


EventFn = Callable[[Event], None]


def no_events(event: Event) -> None:
    """An EventFn that drops everything."""
    del event  # Unused.

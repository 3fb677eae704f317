"""What every run goes through, from the CLI or from Python: the request checked before
anything exists, signals that end a run cleanly, and where progress goes.

Signals: while a run or an ``up`` is under way, SIGTERM ends it as Ctrl-C does (a
KeyboardInterrupt), so that its record is completed as interrupted; while a cluster is
torn down, SIGINT and SIGTERM are held off, so that teardown is never cut short.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from typing import Any

from scalecloud.infra.errors import Terminated
from scalecloud.infra.events import Event, EventFn, no_events
from scalecloud.workloads.request import PreparedRun


def prepare(
    target: str,
    *args: str,
    seed: int | None = None,
    settings: Sequence[str] = (),
    ship: Sequence[str | PathLike[str]] = (),
    **params: Any,
) -> PreparedRun:
    """A workload (or script) request, checked completely before any cluster is touched.

    ``params`` are a built-in workload's parameters as values (``n_blocks=500``) or text
    (``n_blocks="500"``); ``settings`` the same as ``key=value`` text, as ``--set`` gives
    them. ``args`` go to a script; ``ship``: more files or package folders a script's
    tasks import, sent to the workers with the script's own folder.

    Example::

        run = scalecloud.prepare("kmeans", n_blocks=20, seed=0)
    """
    from scalecloud.workloads.runner import WorkloadRequest
    from scalecloud.workloads.runner import prepare as check

    request = WorkloadRequest(
        target, tuple(settings), seed, tuple(args), tuple(params.items()),
        tuple(os.fspath(path) for path in ship),
    )  # fmt: skip
    return check(request)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: object) -> None:
    del signum, frame  # Unused.
    raise Terminated


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) inside the block (main
    thread only: elsewhere signals cannot be set, and the block runs as it is)."""
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt as exc:
        _interrupts.append(exc)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


_interrupts: list[KeyboardInterrupt] = []


def last_interrupt() -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM (:class:`Terminated`) that last ended an interruptible block
    in this process, if any (the CLI's exit code and line come from it)."""
    return _interrupts[-1] if _interrupts else None


@contextmanager
def shielded() -> Iterator[None]:
    """SIGINT and SIGTERM are ignored inside the block (teardown runs to its end)."""
    if not _main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def event_sink(progress: bool = True, on_event: EventFn | None = None) -> EventFn:
    """Where the API's progress goes: ``on_event`` when given; else, with ``progress``, a
    live view in Jupyter or plain lines on stderr; else nowhere."""
    if on_event is not None:
        return on_event
    if not progress:
        return no_events
    from scalecloud.display import in_notebook

    if in_notebook():
        from scalecloud.display import NotebookProgress

        return NotebookProgress()
    return _stderr_lines


def _stderr_lines(event: Event) -> None:
    """Steps, information and warnings as lines; task progress is left to the dashboard."""
    if event.kind in ("progress", "resources", "workers") or not event.message:
        return
    prefix = "Warning: " if event.kind == "warning" else "→ "
    sys.stderr.write(f"{prefix}{event.message}\n")

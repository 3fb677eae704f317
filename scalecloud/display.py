"""How the Python API shows itself in Jupyter: live progress and HTML views of clusters
and runs. (The CLI renders with rich, in ``cli/``; the library below prints nothing.)"""

from __future__ import annotations

import base64
import html
import sys
import time
from typing import TYPE_CHECKING, Any

from scalecloud.infra.events import Event

if TYPE_CHECKING:
    from scalecloud.infra.provider import ClusterInfo
    from scalecloud.infra.spec import ClusterSpec

STEPS_SHOWN = 6
REFRESH_S = 0.25


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython with a kernel attached)."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class NotebookProgress:
    """Events as one output area that updates in place: the last steps, warnings, and a
    progress bar of tasks done (throttled to a few updates a second)."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.bar: tuple[int, int, int] | None = None
        self.handle: Any = None
        self.shown = 0.0
        self.cell: int | None = None

    def __call__(self, event: Event) -> None:
        self._new_cell()
        if event.kind == "progress":
            data = event.data
            self.bar = (data["done"], max(data["total"], data["done"], 1), data["workers"])
            if time.monotonic() - self.shown < REFRESH_S:
                return
        elif event.kind == "resources":
            self.bar = (event.data["done"], max(event.data["total"], 1), 0)
        elif event.message:
            style = "color:#b58900" if event.kind == "warning" else "color:#586e75"
            prefix = "Warning: " if event.kind == "warning" else "→ "
            self.steps.append(f'<div style="{style}">{html.escape(prefix + event.message)}</div>')
            self.steps = self.steps[-STEPS_SHOWN:]
        else:
            return
        self.render()

    def render(self) -> None:
        from IPython.display import HTML, display

        body = "".join(self.steps)
        if self.bar is not None:
            done, total, workers = self.bar
            body += (
                f'<progress value="{done}" max="{total}" style="width:60%"></progress> '
                f"{done}/{total} tasks, {workers} workers"
            )
        view = HTML(f'<div class="scalecloud-progress">{body}</div>')
        if self.handle is None:
            self.handle = display(view, display_id=True)
        else:
            self.handle.update(view)
        self.shown = time.monotonic()

    def _new_cell(self) -> None:
        """A view per cell: events of a later cell start a view in that cell's output."""
        from IPython import get_ipython

        shell = get_ipython()
        count = getattr(shell, "execution_count", None)
        if count != self.cell:
            self.cell = count
            self.handle = None
            self.steps = []
            self.bar = None


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{v}</td></tr>"
        for k, v in rows
    )
    return f"<table>{cells}</table>"


def cluster_html(info: ClusterInfo | None, spec: ClusterSpec) -> str:
    """A cluster: state, workers, dashboard link, cost per hour."""
    from scalecloud.infra.spec import format_size

    if info is None:
        return _table([("cluster", html.escape(spec.name)), ("provider", spec.provider),
                       ("state", "not started")])  # fmt: skip
    memory = sum(w.memory_limit for w in info.workers)
    link = info.dashboard_url or ""
    dashboard = (
        f'<a href="{html.escape(link)}" target="_blank">{html.escape(link)}</a>'
        if link.startswith("http")
        else html.escape(link or "-")
    )
    mode = f"adaptive {info.adapt[0]}:{info.adapt[1]}" if info.adapt else "fixed"
    cost = "-" if info.hourly_cost is None else f"{info.hourly_cost:.2f} USD/hour"
    rows = [
        ("cluster", html.escape(info.name)),
        ("provider", html.escape(info.provider)),
        ("state", html.escape(str(info.state))),
        ("workers", f"{len(info.workers)} ({mode}), {sum(w.nthreads for w in info.workers)} "
                    f"threads, {format_size(memory) if memory else '-'}"),
        ("dashboard", dashboard),
        ("cost", cost),
        *((label, html.escape(text)) for label, text in info.rows),
    ]  # fmt: skip
    return _table(rows)


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float | str | bool) or value is None


def run_html(run: Any) -> str:
    """A run (a ``scalecloud.Run``): what it was, its metrics as a table, and its plots
    inline."""
    head = [
        ("run", html.escape(run.id)),
        ("workload", html.escape(run.workload)),
        ("status", html.escape(run.status)),
        ("seed", html.escape(str(run.seed))),
        ("duration", f"{run.duration_s:.2f} s" if run.duration_s is not None else "-"),
    ]
    if run.error:
        head.append(("error", html.escape(run.error)))
    metrics = [
        (key, html.escape(f"{value:.6g}" if isinstance(value, float) else str(value)))
        for key, value in run.metrics.items()
        if _scalar(value) or (isinstance(value, list | dict) and len(str(value)) < 120)
    ]
    parts = [_table(head)]
    if metrics:
        parts.append("<h4>metrics</h4>" + _table(metrics))
    for path in run.plots:
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(
                f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}" '
                'style="max-width:640px"/>'
            )
    return "".join(parts)

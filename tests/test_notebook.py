"""examples/quickstart.ipynb executed by a real Jupyter kernel (nbclient + ipykernel): the
lecture's KMeans and grid search through the Python API on a local cluster, the records as
a DataFrame, a plot, and the cluster torn down."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from scalecloud.infra.local.driver import session_processes
from scalecloud.workloads.records.store import RunStore

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def outputs(cell) -> list[dict]:
    return [dict(o) for o in cell.get("outputs", [])]


def texts(cell, mime: str) -> str:
    found = []
    for output in outputs(cell):
        if output.get("output_type") == "stream":
            found.append(output["text"] if mime == "text/plain" else "")
        data = output.get("data", {})
        if mime in data:
            found.append(data[mime])
    return "\n".join(found)


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[object, Path, list[int]]:
    home = tmp_path_factory.mktemp("home")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel starts with this environment: its own state directory.
    pids: list[int] = []
    client = NotebookClient(
        notebook, timeout=240, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path_factory.mktemp("cwd"))}},
    )  # fmt: skip
    import os

    previous = os.environ.get("SCALECLOUD_HOME")
    os.environ["SCALECLOUD_HOME"] = str(home)
    try:
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                if index == len(notebook.cells) - 1:  # before down: note the supervisor
                    record = json.loads((home / "clusters" / "quickstart.json").read_text())
                    pids.append(record["pid"])
                client.execute_cell(cell, index)
    finally:
        if previous is None:
            os.environ.pop("SCALECLOUD_HOME", None)
        else:
            os.environ["SCALECLOUD_HOME"] = previous
    return notebook, home, pids


def code_cells(notebook) -> list:
    return [c for c in notebook.cells if c.cell_type == "code"]


def test_no_cell_fails(executed):
    notebook, _, _ = executed
    errors = [o for c in code_cells(notebook) for o in outputs(c) if o["output_type"] == "error"]
    assert errors == []


def test_the_cluster_shows_itself_as_html(executed):
    start = code_cells(executed[0])[0]
    html = texts(start, "text/html")
    assert "quickstart" in html and "running" in html
    assert 'href="http://127.0.0.1:' in html and "USD/hour" in html


def test_kmeans_shows_progress_then_metrics_and_plots_inline(executed):
    notebook, home, _ = executed
    cell = code_cells(notebook)[1]
    html = texts(cell, "text/html")
    assert "scalecloud-progress" in html  # the live progress view rendered in Jupyter
    record = RunStore(home).list(workload="kmeans")[0]
    assert record["status"] == "succeeded" and record["seed"] == 0
    assert record["id"] in html and "inertia" in html
    assert f"{record['metrics']['inertia']:.6g}" in html
    assert (
        html.count("data:image/png;base64,")
        == len([a for a in record["artifacts"] if a.endswith(".png")])
        > 0
    )


def test_gridsearch_and_the_runs_frame(executed):
    notebook, home, _ = executed
    cells = code_cells(notebook)
    grid = RunStore(home).list(workload="gridsearch")[0]
    assert f"best score {grid['metrics']['best_score']:.4f}" in texts(cells[2], "text/plain")
    table = texts(cells[3], "text/html")
    assert table.count("succeeded") == 2 and grid["id"] in table
    assert any("image/png" in o.get("data", {}) for o in outputs(cells[4]))


def test_down_leaves_nothing(executed):
    _, home, pids = executed
    assert not list((home / "clusters").glob("*.json"))
    assert pids and all(session_processes(pid) == [] for pid in pids)

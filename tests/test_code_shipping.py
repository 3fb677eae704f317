"""Workers need the libraries, not scalecloud: workload code travels by value.

The cluster's worker processes are started with a ``sitecustomize`` that hides the
installed scalecloud from them (as on a Kubernetes worker running the official Dask image):
only code shipped by the client (a zip) can be imported there. With shipping forced on
(``SCALECLOUD_SHIP_CODE=1``; it is on by default for every provider but local), every
built-in workload must still run and give its usual result.
"""

from __future__ import annotations

import textwrap

import pytest

BLOCK = textwrap.dedent(
    """
    import multiprocessing
    import sys

    class _OnlyShippedScalecloud:
        def find_spec(self, name, path=None, target=None):
            if not name.startswith("scalecloud") or not multiprocessing.parent_process():
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None and ".zip" in str(spec.origin):
                    return spec
            if name == "scalecloud":  # the namespace itself hides nothing
                return None
            raise ModuleNotFoundError(f"No module named {name!r} on this worker")

    sys.meta_path.insert(0, _OnlyShippedScalecloud())
    """
)


@pytest.mark.slow
def test_workloads_run_on_workers_without_scalecloud(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK)
    cli.env.update(PYTHONPATH=str(site), SCALECLOUD_SHIP_CODE="1")
    cli("up", "--name", "bare", "--workers", "2", "--idle-timeout", "0", check=True)
    # The guard really works on the workers: before any code is shipped, importing the
    # workloads there fails.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from distributed import Client\n"
        "def imports():\n"
        "    try:\n"
        "        import scalecloud.workloads.kmeans  # noqa: F401\n"
        "    except ModuleNotFoundError:\n"
        "        return 'blocked'\n"
        "    return 'imported'\n"
        "print(sorted(set(Client().run(imports).values())))\n"
    )
    assert "['blocked']" in cli("submit", str(probe), "--name", "bare", check=True).out

    def submit(workload: str, *settings: str) -> dict:
        sets = [arg for setting in settings for arg in ("--set", setting)]
        return cli(
            "submit", workload, "--name", "bare", *sets, "--seed", "3", "--json", check=True
        ).json()

    kmeans = submit("kmeans", "n_blocks=4")
    assert kmeans["status"] == "succeeded" and kmeans["metrics"]["n_iter"] >= 1
    plain = submit("kmeans", "n_blocks=4", "implementation=dask-ml")
    assert plain["status"] == "succeeded" and plain["metrics"]["implementation"] == "dask-ml"
    grid = submit("gridsearch", "n_docs=300", "cv=2")
    assert grid["status"] == "succeeded" and grid["metrics"]["best_params"]
    nn = submit("nnsearch", "widths=5,10", "epochs=3", "cv=2")
    assert nn["status"] == "succeeded" and nn["metrics"]["best_width"] in (5, 10)


def test_a_worker_in_the_clients_own_process_keeps_the_clients_modules(tmp_path):
    import sys

    from distributed import Client, LocalCluster
    from scalecloud.workloads import shipping

    before = {name: module for name, module in sys.modules.items() if name.startswith("scalecloud")}
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        shipping.ship_code(client)
        assert client.run(lambda: 1)
    assert not [p for p in sys.path if "scalecloud-code-" in p]
    assert all(sys.modules.get(name) is module for name, module in before.items())

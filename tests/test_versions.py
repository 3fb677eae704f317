"""The version table: what the client has, and how differences in a cluster are found."""

from __future__ import annotations

import dataclasses

import pytest
from distributed import Client, LocalCluster
from scalecloud.infra import versions


def test_client_versions_reads_installed_packages() -> None:
    import dask
    import sklearn

    table = versions.client_versions()
    assert table["dask"] == dask.__version__
    assert table["scikit-learn"] == sklearn.__version__
    assert table["python"].count(".") == 2
    assert versions.client_versions(["no-such-package-xyz"])["no-such-package-xyz"] is None


def _table(**workers: dict[str, str | None]) -> versions.VersionTable:
    client = {"python": "3.11.7", "dask": "2026.8.0", "scikit-learn": "1.9.1"}
    return versions.VersionTable(client=client, scheduler=dict(client), workers=workers)


def test_no_mismatch_when_all_agree() -> None:
    same = {"python": "3.11.7", "dask": "2026.8.0", "scikit-learn": "1.9.1"}
    assert versions.mismatches(_table(w1=dict(same), w2=dict(same))) == []


def test_worker_difference_is_found() -> None:
    same = {"python": "3.11.7", "dask": "2026.8.0", "scikit-learn": "1.9.1"}
    found = versions.mismatches(_table(w1=dict(same), w2={**same, "scikit-learn": "1.5.0"}))
    assert [m.package for m in found] == ["scikit-learn"]
    assert found[0].matters
    assert "workers 1.5.0, 1.9.1" in found[0].describe()


def test_scheduler_only_matters_for_graph_packages() -> None:
    same = {"python": "3.11.7", "dask": "2026.8.0", "scikit-learn": "1.9.1"}
    table = _table(w1=dict(same))
    table = dataclasses.replace(table, scheduler={**same, "scikit-learn": None, "dask": "2025.1.0"})
    assert [m.package for m in versions.mismatches(table)] == ["dask"]


def test_missing_on_worker_is_a_mismatch() -> None:
    same = {"python": "3.11.7", "dask": "2026.8.0", "scikit-learn": "1.9.1"}
    found = versions.mismatches(_table(w1={**same, "scikit-learn": None}))
    assert [m.package for m in found] == ["scikit-learn"]


@pytest.mark.timeout(60)
def test_cluster_versions_of_a_real_cluster_match_the_client() -> None:
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        table = versions.cluster_versions(client)
    assert len(table.workers) == 1
    worker = next(iter(table.workers.values()))
    assert worker["scikit-learn"] == table.client["scikit-learn"]
    assert table.scheduler["python"] == table.client["python"]
    assert versions.mismatches(table) == []


def test_official_image_matches_client_versions() -> None:
    from scalecloud.infra import image

    table = {
        "python": "3.11.7",
        "distributed": "2026.8.0",
        "dask-ml": "2025.1.0",
        "scikit-learn": "1.9.1",
    }
    assert image.official_image(table) == "ghcr.io/dask/dask:2026.8.0-py3.11"
    pins = image.worker_pins(table)
    assert pins == {"dask-ml": "2025.1.0", "scikit-learn": "1.9.1"}
    assert image.extra_pip_packages(pins) == "dask-ml==2025.1.0 scikit-learn==1.9.1"
    assert image.official_image().endswith(f"-py{image.python_minor(versions.python_version())}")

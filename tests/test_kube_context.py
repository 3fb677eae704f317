"""Kubernetes access never falls back to the user's current kube context (issue 11,
point 14): a cluster whose kubeconfig is missing is unreachable, not someone else's."""

from __future__ import annotations

import http.server
import threading

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.gcp import GcpProvider
from scalecloud.infra.kube.spec import kube_spec
from scalecloud.infra.spec import ClusterSpec
from scalecloud.infra.state import StateStore

pytest.importorskip("kr8s")


@pytest.fixture
def other_cluster(tmp_path, monkeypatch):
    """The user's current context: a Kubernetes API that records every request."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"kind": "List", "items": []}')

        do_DELETE = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: theirs\n"
        f"clusters:\n- name: theirs\n  cluster:\n    server: http://127.0.0.1:{server.server_port}\n"
        "contexts:\n- name: theirs\n  context:\n    cluster: theirs\n    user: u\n"
        "users:\n- name: u\n  user:\n    token: t\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.setenv("HOME", str(tmp_path))
    yield seen
    server.shutdown()


def test_a_cluster_without_its_kubeconfig_is_unreachable_not_the_current_context(
    tmp_path, other_cluster
):
    provider = GcpProvider(StateStore(tmp_path / "home"))
    kspec = kube_spec(ClusterSpec(provider="gcp", name="k1"))
    with pytest.raises(ScalecloudError, match="no kubeconfig for 'k1'"):
        provider._kube_access("k1")
    assert provider._live("k1", kspec) is None
    events = []
    provider._delete_dask_first("k1", kspec, events.append)
    assert any("could not reach the cluster" in e.message for e in events)
    assert other_cluster == []  # nothing asked the user's current cluster
    # its own kubeconfig, once there, is what is used
    path = provider.stacks.kubeconfig_path("k1")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("apiVersion: v1\nkind: Config\n")
    assert provider._kube_access("k1") == {"kubeconfig": str(path)}


def test_the_dask_component_needs_a_kubeconfig_or_a_context():
    from scalecloud.infra.kube.dask import dask_on_kubernetes

    with pytest.raises(ValueError, match="kubeconfig or a context"):
        dask_on_kubernetes(kube_spec(ClusterSpec(provider="gcp", name="k1")))

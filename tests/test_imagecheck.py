"""Before anything exists, ``up`` checks that the image's tag is in its registry (issue 11,
point 5), through the registry's HTTP API: here a registry on 127.0.0.1 that, like
ghcr.io, answers 401 with a bearer-token challenge first."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.imagecheck import image_exists, parse_image
from test_kube_driver import fake, spec  # noqa: F401 (a fixture)


@pytest.fixture
def registry():
    """Tags it holds: dask/dask:2026.8.0-py3.11; 'private/x' never gives a token."""
    seen = []

    class Registry(http.server.BaseHTTPRequestHandler):
        def reply(self, code, headers=(), body=b""):
            self.send_response(code)
            for key, value in headers:
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            seen.append(self.path)
            if self.path.startswith("/token"):
                scope = self.path.split("scope=")[1]
                if "private" in scope:
                    return self.reply(401)
                return self.reply(200, [("Content-Type", "application/json")],
                                  json.dumps({"token": "anon"}).encode())  # fmt: skip
            return self.reply(404)

        def do_HEAD(self):
            seen.append(self.path)
            if self.headers.get("Authorization") != "Bearer anon":
                host = f"http://127.0.0.1:{self.server.server_port}"
                repo = self.path.split("/manifests/")[0][len("/v2/") :]
                challenge = (f'Bearer realm="{host}/token",service="test",'
                             f'scope="repository:{repo}:pull"')  # fmt: skip
                return self.reply(401, [("WWW-Authenticate", challenge)])
            ok = self.path == "/v2/dask/dask/manifests/2026.8.0-py3.11"
            assert "manifest" in self.headers.get("Accept", "")
            return self.reply(200 if ok else 404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}", seen
    server.shutdown()


def test_image_references_parse_like_docker():
    assert parse_image("ghcr.io/dask/dask:2026.8.0-py3.11") == (
        "ghcr.io", "dask/dask", "2026.8.0-py3.11")  # fmt: skip
    assert parse_image("daskdev/dask") == ("registry-1.docker.io", "daskdev/dask", "latest")
    assert parse_image("python:3.11") == ("registry-1.docker.io", "library/python", "3.11")
    assert parse_image("localhost:5000/me/img:v1") == ("localhost:5000", "me/img", "v1")


def test_the_registry_says_which_tags_exist(registry):
    host, seen = registry
    assert image_exists(f"{host}/dask/dask:2026.8.0-py3.11") is True
    assert image_exists(f"{host}/dask/dask:2099.1.0-py3.99") is False
    assert any(p.startswith("/token") for p in seen)  # it took the anonymous token
    assert image_exists(f"{host}/private/x:1") is None  # no token: cannot tell
    assert image_exists("127.0.0.1:9/dask/dask:1") is None  # nothing listening


def test_up_refuses_an_image_that_does_not_exist_before_anything_exists(fake, registry):  # noqa: F811
    from scalecloud.infra.kube.imagecheck import image_exists as real

    provider, cli = fake
    host, _ = registry
    provider._image_exists = real
    missing = f"{host}/dask/dask:2099.1.0-py3.99"
    bad = spec("i1")
    bad = type(bad)(**{**bad.to_dict(), "extra": {**bad.extra, "image": missing}})
    with pytest.raises(ScalecloudError, match="does not exist in its registry") as caught:
        provider.up(bad, lambda e: None)
    assert "scalecloud image --push" in caught.value.hint
    assert provider.store.get("i1") is None and cli.calls == []  # nothing made
    good = type(bad)(**{**bad.to_dict(), "extra": {**bad.extra,
                                                  "image": f"{host}/dask/dask:2026.8.0-py3.11"}})  # fmt: skip
    assert provider.up(good, lambda e: None).state == "running"

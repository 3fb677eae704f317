"""Whether an image tag exists in its registry, asked before ``up`` creates anything.

The official Dask images (``ghcr.io/dask/dask:<distributed>-py<X.Y>``) appear only after
conda-forge has the release, and none is built for a Python that the images do not
build; a cluster whose image does not exist bills while its pods sit in ImagePullBackOff.
The check speaks the registry's HTTP API (OCI distribution: a HEAD of the manifest, with
the anonymous bearer token the registry's 401 points to). A private registry, or no
network, cannot tell: the answer is then None and ``up`` goes on, saying so.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))  # fmt: skip
TIMEOUT_S = 10.0


def parse_image(image: str) -> tuple[str, str, str]:
    """(registry host, repository, tag) of an image reference; Docker Hub's defaults."""
    name, _, digestless = image.partition("@")
    head, _, rest = name.partition("/")
    if rest and ("." in head or ":" in head or head == "localhost"):
        host, path = head, rest
    else:
        host, path = "registry-1.docker.io", name
        if "/" not in path:
            path = f"library/{path}"
    repo, tag = path, "latest"
    match = re.match(r"^(.*):([\w][\w.-]{0,127})$", path)
    if match:
        repo, tag = match.groups()
    return host, repo, digestless or tag


def _base(host: str) -> str:
    local = host.split(":")[0] in ("localhost", "127.0.0.1")  # Docker's plain-HTTP hosts
    return f"{'http' if local else 'https'}://{host}"


def _token(challenge: str, timeout: float) -> str | None:
    """The anonymous bearer token that a 401's ``WWW-Authenticate: Bearer ...`` offers."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    if not challenge.lower().startswith("bearer") or "realm" not in fields:
        return None
    query = urllib.parse.urlencode({k: v for k, v in fields.items() if k != "realm"})
    with urllib.request.urlopen(f"{fields['realm']}?{query}", timeout=timeout) as reply:
        answer = json.loads(reply.read())
    return answer.get("token") or answer.get("access_token")


def image_exists(image: str, timeout: float = TIMEOUT_S) -> bool | None:
    """True or False when the registry says; None when it cannot be asked anonymously
    (private, no network, an unexpected answer)."""
    host, repo, tag = parse_image(image)
    url = f"{_base(host)}/v2/{repo}/manifests/{tag}"
    headers = {"Accept": ACCEPT}
    try:
        for _ in range(2):  # without a token, then with the one the 401 points to
            request = urllib.request.Request(url, method="HEAD", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=timeout):
                    return True
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return False
                token = _token(exc.headers.get("WWW-Authenticate", ""), timeout)
                if exc.code != 401 or not token or "Authorization" in headers:
                    return None
                headers["Authorization"] = f"Bearer {token}"
    except (OSError, ValueError):
        return None
    return None

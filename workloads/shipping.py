"""Send scalecloud's own code to the workers, so that they need only the libraries.

Built-in workloads send their functions and classes to the workers by reference
(``scalecloud.workloads.kmeans.BlockMaker``): a worker must be able to import them. On a
local cluster it can (same environment). On a Kubernetes cluster running the official
Dask image, or an image built before the last upgrade, it cannot, or it would run another
version's code. So before a run on such a cluster the client zips its ``scalecloud.infra``
and ``scalecloud.workloads`` sources and installs them on every worker, present and future,
through a worker plugin; the zip comes first on the workers' ``sys.path`` and replaces any
scalecloud modules they had imported.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

PLUGIN_NAME = "scalecloud-code"
PACKAGES = ("scalecloud.infra", "scalecloud.workloads")


def code_zip() -> tuple[str, bytes]:
    """``(file name, zip bytes)`` of the client's scalecloud sources, named by their hash."""
    import importlib

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("scalecloud/__init__.py", "")
        for package in PACKAGES:
            folder = Path(importlib.import_module(package).__path__[0])
            target = package.replace(".", "/")
            for source in sorted(folder.rglob("*.py")):
                name = source.relative_to(folder).as_posix()
                info = zipfile.ZipInfo(f"{target}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
                archive.writestr(info, source.read_bytes(), zipfile.ZIP_DEFLATED)
    data = buffer.getvalue()
    return f"scalecloud-code-{hashlib.sha256(data).hexdigest()[:12]}.zip", data


class ShipCode(WorkerPlugin):
    """Puts the client's scalecloud code first on a worker's ``sys.path``."""

    name = PLUGIN_NAME

    def __init__(self, filename: str, data: bytes, client_pid: int | None = None) -> None:
        self.filename = filename
        self.data = data
        self.client_pid = client_pid

    def setup(self, worker: Any) -> None:
        import importlib

        if os.getpid() == self.client_pid:
            return  # a worker in the client's own process runs the client's code already

        path = os.path.join(worker.local_directory, self.filename)
        with open(path, "wb") as out:
            out.write(self.data)
        sys.path[:] = [p for p in sys.path if "scalecloud-code-" not in os.path.basename(p)]
        sys.path.insert(0, path)
        for module in [m for m in sys.modules if m == "scalecloud" or m.startswith("scalecloud.")]:
            del sys.modules[module]
        importlib.invalidate_caches()


def ship_code(client: Any) -> str:
    """Install the client's code on every worker of ``client``'s cluster; returns the zip's name."""
    import cloudpickle

    # The plugin itself must travel by value: the workers cannot import this module yet.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    filename, data = code_zip()
    client.register_plugin(ShipCode(filename, data, os.getpid()), name=PLUGIN_NAME)
    return filename


def needs_shipping(same_environment: bool) -> bool:
    """Whether a cluster's workers may lack the client's scalecloud: all but those running
    in this very environment (local clusters), unless ``SCALECLOUD_SHIP_CODE`` says
    otherwise (``1`` or ``0``)."""
    forced = os.environ.get("SCALECLOUD_SHIP_CODE")
    if forced in ("0", "1"):
        return forced == "1"
    return not same_environment

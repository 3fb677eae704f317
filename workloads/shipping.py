"""Send scalecloud's own code to the workers, so that they need only the libraries.

Built-in workloads send their functions and classes to the workers by reference
(``scalecloud.workloads.kmeans.BlockMaker``): a worker must be able to import them. On a
local cluster it can (same environment). On a Kubernetes cluster running the official
Dask image, or an image built before the last upgrade, it cannot, or it would run another
version's code. So before a run on such a cluster the client zips its ``scalecloud.infra``
and ``scalecloud.workloads`` sources and installs them on every worker, present and future,
through a worker plugin; the zip comes first on the workers' ``sys.path`` and replaces any
scalecloud modules they had imported.

A script's own modules travel the same way (:func:`user_code`, :class:`ShipUserCode`): the
script's folder (its ``.gitignore`` followed, see ``gitignore.py``) and each ``--ship``
path, zipped, at most :data:`USER_CODE_LIMIT` bytes, and unpacked on every worker, present
and future (the scheduler replays a registered plugin to each worker that joins), into a
folder of the worker's local directory that goes first on its ``sys.path``. The workers'
working directory is left as it is: a shipped module finds the files shipped beside it
through its ``__file__`` (``Path(__file__).parent / "config.json"``), not through a
relative path. On a cluster whose workers run on this machine (local), nothing is copied:
the same plugin puts the folders themselves on the workers' ``sys.path``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

PLUGIN_NAME = "scalecloud-code"
PACKAGES = ("scalecloud.infra", "scalecloud.workloads")
USER_PLUGIN_NAME = "scalecloud-user-code"
USER_CODE_LIMIT = 50 * 2**20  # bytes of the zip of a script's folder and its --ship paths
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


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
                info = zipfile.ZipInfo(f"{target}/{name}", date_time=_ZIP_DATE)
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
    plugin = ShipCode(filename, data, os.getpid())
    _register(client, CodeOnScheduler(plugin), PLUGIN_NAME)
    client.register_plugin(plugin, name=PLUGIN_NAME)
    return filename


def needs_shipping(same_environment: bool) -> bool:
    """Whether a cluster's workers may lack the client's scalecloud: all but those running
    in this very environment (local clusters), unless ``SCALECLOUD_SHIP_CODE`` says
    otherwise (``1`` or ``0``)."""
    forced = os.environ.get("SCALECLOUD_SHIP_CODE")
    if forced in ("0", "1"):
        return forced == "1"
    return not same_environment


def code_roots(script: Path, ship: tuple[Path, ...] = ()) -> list[tuple[Path, str]]:
    """``(path, where it goes in the zip)``: the script's folder at the top (its modules
    import by name), then each ``--ship`` path under its own name (a package folder
    imports by its name, a file as a module)."""
    return [(script.parent, ""), *((path, path.name) for path in ship)]


def _files(roots: list[tuple[Path, str]]) -> list[tuple[Path, str, int]]:
    """``(file, name in the zip, size)`` of every file to ship; the first of a name wins."""
    from scalecloud.workloads.gitignore import Ignorer

    found: dict[str, tuple[Path, str, int]] = {}
    for root, prefix in roots:
        if root.is_file():
            pairs = [(root, prefix)]
        else:
            pairs = [
                (path, "/".join(filter(None, [prefix, path.relative_to(root).as_posix()])))
                for path in Ignorer(root).files()
            ]
        for path, name in pairs:
            if name not in found:
                found[name] = (path, name, path.stat().st_size)
    return sorted(found.values(), key=lambda item: item[1])


_cache: dict[Any, tuple[str, bytes]] = {}


def user_code(script: Path, ship: tuple[Path, ...] = ()) -> tuple[str, bytes]:
    """``(name, zip bytes)`` of a script's folder and its ``--ship`` paths, .gitignore
    followed; a ScalecloudError past :data:`USER_CODE_LIMIT`, naming the largest files.
    The same files unchanged give the same zip without zipping again."""
    from scalecloud.infra.errors import ScalecloudError

    roots = code_roots(script, ship)
    files = _files(roots)
    key = tuple((str(path), name, size, path.stat().st_mtime_ns) for path, name, size in files)
    if key in _cache:
        return _cache[key]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name, _size in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as source, archive.open(info, "w") as target:
                while chunk := source.read(2**20):
                    target.write(chunk)
                    if buffer.tell() > USER_CODE_LIMIT:
                        break
            if buffer.tell() > USER_CODE_LIMIT:
                largest = sorted(files, key=lambda item: -item[2])[:3]
                named = ", ".join(f"{n} ({s / 2**20:.1f} MB)" for _p, n, s in largest)
                raise ScalecloudError(
                    f"the code to send to the workers ({script.parent} and --ship paths) is "
                    f"over {USER_CODE_LIMIT / 2**20:.0f} MB zipped; largest files: {named}",
                    f"list what the workers need not import in {script.parent}/.gitignore, or "
                    "move data to a bucket (scalecloud data push FILE s3://BUCKET/PREFIX) and "
                    "read it from there",
                )
    data = buffer.getvalue()
    found = (f"scalecloud-user-{hashlib.sha256(data).hexdigest()[:12]}", data)
    _cache.clear()
    _cache[key] = found
    return found


class _UserCode:
    """A script's modules for one process: the zip ``data`` unpacked into ``base``, or
    with no data (a process on this machine) the folders ``paths`` themselves, first on
    ``sys.path``; what the previous run put there is taken off, and the modules imported
    from it forgotten (so that an edited module is imported afresh)."""

    def __init__(
        self, folder: str, data: bytes | None, paths: list[str], client_pid: int | None = None
    ) -> None:
        self.folder = folder
        self.data = data
        self.paths = paths
        self.client_pid = client_pid

    def install(self, base: str) -> None:
        import importlib

        if os.getpid() == self.client_pid:
            return  # a worker in the client's own process imports what the client does
        added = list(self.paths)
        if self.data is not None:
            target = os.path.join(base, self.folder)
            if not os.path.isdir(target):
                partial = f"{target}.{os.getpid()}.part"
                with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
                    archive.extractall(partial)
                os.replace(partial, target)
            added = [target]
        for path in getattr(sys, "_scalecloud_user_paths", []):
            while path in sys.path:
                sys.path.remove(path)
            for name, module in list(sys.modules.items()):
                if _imported_from(name, getattr(module, "__file__", None), path):
                    del sys.modules[name]
        for path in reversed(added):
            sys.path.insert(0, path)
        sys._scalecloud_user_paths = added  # type: ignore[attr-defined]
        importlib.invalidate_caches()


class ShipUserCode(_UserCode, WorkerPlugin):
    """A script's modules on a worker (replayed to every worker that joins)."""

    name = USER_PLUGIN_NAME

    def setup(self, worker: Any) -> None:
        self.install(worker.local_directory)


class UserCodeOnScheduler(_UserCode, SchedulerPlugin):
    """A script's modules on the scheduler, which unpickles the task graphs."""

    name = USER_PLUGIN_NAME

    async def start(self, scheduler: Any) -> None:
        self.install(scheduler.local_directory)


class CodeOnScheduler(SchedulerPlugin):
    """The client's scalecloud code on a scheduler that has none (the official image):
    it unpickles the task graphs, which name the workloads' functions and classes."""

    name = PLUGIN_NAME

    def __init__(self, ship: ShipCode) -> None:
        self.ship = ship

    async def start(self, scheduler: Any) -> None:
        import importlib.util

        try:
            if importlib.util.find_spec("scalecloud.workloads") is not None:
                return  # a scheduler in this environment (local) has the client's code
        except ModuleNotFoundError:
            pass
        self.ship.setup(scheduler)


def _imported_from(module: str, file: str | None, folder: str) -> bool:
    """Whether ``module`` was found through the ``sys.path`` entry ``folder`` (not merely
    stored below it, as a virtual environment inside the folder is)."""
    if not file:
        return False
    relative = os.path.relpath(file, folder)
    if relative.startswith(".."):
        return False
    first = relative.split(os.sep)[0]
    return module.split(".")[0] in (first, first.split(".")[0])


def ship_user_code(client: Any, script: Path, ship: tuple[Path, ...], copy: bool) -> str:
    """Make a script's folder and ``ship`` paths importable on every worker of
    ``client``'s cluster, present and future: with ``copy`` as a zip (workers elsewhere),
    else as the folders themselves (workers on this machine). What was shipped, in words."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    if copy:
        name, data = user_code(script, ship)
        args: tuple[str, bytes | None, list[str]] = (name, data, [])
        shown = f"{len(data) / 2**10:.0f} KiB zipped, sent"
    else:
        paths = [str(script.parent), *(str(path.parent) for path in ship)]
        args = (USER_PLUGIN_NAME, None, list(dict.fromkeys(paths)))
        shown = "on this machine"
    _register(client, UserCodeOnScheduler(*args, os.getpid()), USER_PLUGIN_NAME)
    client.register_plugin(ShipUserCode(*args, os.getpid()), name=USER_PLUGIN_NAME)
    return shown


def _register(client: Any, plugin: Any, name: str) -> None:
    """Register a scheduler plugin, replacing the one of that name (without the
    scheduler's warning about overwriting it)."""
    with contextlib.suppress(Exception):  # none of that name yet
        client.unregister_scheduler_plugin(name)
    client.register_plugin(plugin, name=name)

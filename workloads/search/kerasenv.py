"""Keras reads its backend once, when first imported: set it on the scheduler and on every
worker, including workers that join an adaptive cluster later (a worker plugin)."""

from __future__ import annotations

import os
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class KerasBackend(WorkerPlugin):
    """Sets ``KERAS_BACKEND`` on each worker as it starts (or now, on running ones)."""

    name = "scalecloud-keras-backend"

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def setup(self, worker: Any) -> None:
        del worker  # Unused.
        os.environ["KERAS_BACKEND"] = self.backend


def set_environ(name: str, value: str) -> None:
    os.environ[name] = value


def use_keras_backend(client: Any, backend: str) -> None:
    """Before any Keras object reaches the cluster (the scheduler unpickles graphs too)."""
    client.run_on_scheduler(set_environ, "KERAS_BACKEND", backend)
    client.register_plugin(KerasBackend(backend))

"""The local provider: a real Dask cluster of detached processes on this machine."""

from __future__ import annotations

from scalecloud.infra.local.driver import LocalProvider
from scalecloud.infra.registry import ProviderDescriptor

PROVIDER = ProviderDescriptor(
    name="local",
    summary="a Dask cluster of detached processes on this machine, on 127.0.0.1 only",
    driver=LocalProvider,
    down_summary="no process of it is left",
    same_environment=True,
    shares_local_files=True,
)

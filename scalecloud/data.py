"""Data in object stores, from Python: ``push`` a local file or folder to gs://, s3:// or abfs://.

Example::

    result = scalecloud.push("data/", "s3://my-bucket/experiment-1")
    result.uploaded, result.skipped     # a re-run sends only what changed

Workers of a cluster started with ``Cluster(..., data=["s3://my-bucket/experiment-1"])``
read it through the cloud's workload identity, with no key copied into the cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from scalecloud.infra.events import EventFn
from scalecloud.session import event_sink

if TYPE_CHECKING:
    from scalecloud.infra.push import PushResult

__all__ = ["push"]


def push(
    path: str | Path,
    url: str,
    *,
    part_size: str | int | None = None,
    progress: bool = True,
    on_event: EventFn | None = None,
) -> PushResult:
    """Upload ``path`` (a file, or a folder with its tree) under ``url``, resumably:
    files already there with the same checksum are skipped, every upload is checked
    against the store's checksum afterwards. ``part_size`` (e.g. ``"64MiB"``) sets S3's
    multipart part size. See :func:`scalecloud.infra.push.push`.
    """
    from scalecloud.infra.push import push as upload
    from scalecloud.infra.spec import parse_size

    size = parse_size(part_size, what="--part-size") if isinstance(part_size, str) else part_size
    return upload(path, url, on_event=event_sink(progress, on_event), part_size=size)

"""Object-store URLs (gs://, s3://, abfs://): parsing, their filesystems, their checksums.

One parser serves ``data push`` (where files go) and ``up --data`` (which buckets the
workers may read): scheme, bucket-name rules, and the pip extra a scheme needs. The
filesystems (gcsfs, s3fs, adlfs) are imported only when a store is opened.

What each store proves about an object's bytes (compared with the local file's MD5):

- S3: the ETag is the MD5 of the bytes for a single-part upload, and the MD5 of the
  parts' MD5s followed by ``-N`` for a multipart one; both are computed locally with the
  part size used for the upload (objects encrypted with SSE-KMS have other ETags: they
  count as unverified).
- GCS: ``md5Hash`` (base64 MD5) on every object that is not a composite.
- Azure: ``content_md5`` when the service stored one (single-shot uploads); a blob staged
  in blocks has none, and then only its size is compared (reported as unverified).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scalecloud.infra.errors import ScalecloudError

# scheme -> (the fsspec module, the pip extra that brings it, the cloud's name)
SCHEMES: dict[str, tuple[str, str, str]] = {
    "gs": ("gcsfs", "gcp", "Google Cloud Storage"),
    "s3": ("s3fs", "aws", "Amazon S3"),
    "abfs": ("adlfs", "azure", "Azure Blob Storage"),
}
AZURE_HOST = ".dfs.core.windows.net"
_BUCKET_RULES = {
    # GCS: 3-63 characters (dotted names up to 222), lowercase letters, digits, - _ .
    "gs": (re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$"), 63,
           "3-63 lowercase letters, digits, dashes, underscores and dots"),
    "s3": (re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"), 63,
           "3-63 lowercase letters, digits, dashes and dots"),
    "abfs": (re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$"), 63,
             "3-63 lowercase letters, digits and single dashes"),
}  # fmt: skip
_RESERVED_PREFIXES = {"gs": ("goog",), "s3": ("xn--", "sthree-")}
_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")
_RESOURCE_GROUP_RE = re.compile(r"^[-\w.()]{1,89}[-\w()]$")


@dataclass(frozen=True)
class StoreURL:
    """A bucket (an Azure container) and a key prefix in it, on one object store.

    ``account`` is the Azure storage account (from ``CONTAINER@ACCOUNT.dfs.core.windows.net``
    or ``AZURE_STORAGE_ACCOUNT_NAME``); ``resource_group`` its resource group, which only
    ``up --data`` needs (Azure role assignments are scoped by resource ID).
    """

    scheme: str
    bucket: str
    prefix: str = ""
    account: str = ""
    resource_group: str = ""

    @property
    def root(self) -> str:
        """The path the filesystem takes: ``bucket/prefix``."""
        return f"{self.bucket}/{self.prefix}".rstrip("/")

    def __str__(self) -> str:
        host = f"{self.bucket}@{self.account}{AZURE_HOST}" if self.account else self.bucket
        query = f"?resource_group={self.resource_group}" if self.resource_group else ""
        return f"{self.scheme}://{host}/{self.prefix}".rstrip("/") + query


def parse_store_url(text: str, what: str = "URL", schemes: tuple[str, ...] = ()) -> StoreURL:
    """A checked :class:`StoreURL` from ``gs://bucket/prefix``, ``s3://bucket/prefix``,
    ``abfs://container/prefix`` or ``abfs://container@account.dfs.core.windows.net/prefix``;
    ``schemes`` narrows which are accepted. Every error names ``what``."""
    allowed = schemes or tuple(SCHEMES)
    examples = {"gs": "gs://my-bucket/data", "s3": "s3://my-bucket/data",
                "abfs": f"abfs://container@account{AZURE_HOST}/data"}  # fmt: skip
    example = " or ".join(examples[s] for s in allowed)
    parts = urlsplit(str(text).strip())
    if parts.scheme not in allowed or not parts.netloc:
        got = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ScalecloudError(
            f"{what} {text!r} is not a {' or '.join(s + '://' for s in allowed)} URL ({got})",
            f"write e.g. {example}",
        )
    scheme = parts.scheme
    bucket, _, host = parts.netloc.partition("@")
    account = ""
    if scheme == "abfs":
        account = host.removesuffix(AZURE_HOST) if host else ""
        if host and (not host.endswith(AZURE_HOST) or not _ACCOUNT_RE.fullmatch(account)):
            raise ScalecloudError(
                f"{what} {text!r}: {host!r} is not ACCOUNT{AZURE_HOST}",
                f"storage account names are 3-24 lowercase letters and digits; e.g. {example}",
            )
        account = account or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME", "")
    elif host:
        raise ScalecloudError(f"{what} {text!r} has a user part", f"write e.g. {example}")
    check_bucket(scheme, bucket, what, text)
    query = parse_qs(parts.query)
    group = (query.pop("resource_group", [""]) or [""])[0]
    if query or (group and scheme != "abfs"):
        raise ScalecloudError(
            f"{what} {text!r} has an unknown query {parts.query!r}",
            "only abfs:// URLs take one: ?resource_group=NAME (for --data)",
        )
    if group and not _RESOURCE_GROUP_RE.fullmatch(group):
        raise ScalecloudError(f"{what} {text!r}: invalid resource group {group!r}",
                              "1-90 letters, digits, - _ . ( )")  # fmt: skip
    prefix = parts.path.strip("/")
    return StoreURL(scheme, bucket, prefix, account, group)


def check_bucket(scheme: str, bucket: str, what: str, text: str) -> None:
    pattern, longest, rule = _BUCKET_RULES[scheme]
    noun = "container" if scheme == "abfs" else "bucket"
    dotted = scheme == "gs" and "." in bucket
    bad = (
        not pattern.fullmatch(bucket)
        or (len(bucket) > longest and not dotted)
        or ".." in bucket
        or bucket.startswith(_RESERVED_PREFIXES.get(scheme, ()))
        or _is_ip(bucket)
    )
    if bad:
        raise ScalecloudError(
            f"{what} {text!r}: invalid {noun} name {bucket!r}",
            f"{noun} names are {rule}, starting and ending with a letter or digit",
        )


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def open_store(url: StoreURL) -> Any:
    """The fsspec filesystem of ``url``'s store, credentials from the environment (each
    library's usual chain); the one-line error with the pip extra when it is missing."""
    module, extra, cloud = SCHEMES[url.scheme]
    try:
        importlib.import_module(module)
    except ImportError:
        raise ScalecloudError(
            f"{url.scheme}:// ({cloud}) needs {module}, which is not installed",
            f'install it with: pip install "scalecloud[{extra}]"',
        ) from None
    import fsspec

    options: dict[str, Any] = {}
    if url.scheme == "abfs":
        if not url.account:
            raise ScalecloudError(
                f"no storage account for {url}",
                f"write abfs://{url.bucket}@ACCOUNT{AZURE_HOST}/... "
                "or set AZURE_STORAGE_ACCOUNT_NAME",
            )
        options = {"account_name": url.account, "anon": False}
    return fsspec.filesystem(url.scheme, **options)


# -- checksums --------------------------------------------------------------------------

READ_BLOCK = 8 * 2**20


def s3_part_size(size: int) -> int:
    """The part size s3fs uses for a file of ``size`` bytes (50 MiB, more past 10,000 parts)."""
    from s3fs.core import calculate_chunksize

    return int(calculate_chunksize(size))


def s3_multipart(size: int, part_size: int) -> bool:
    """Whether s3fs uploads a file of ``size`` bytes in parts (its own rule)."""
    return size >= min(5 * 2**30, 2 * part_size)


def local_digest(path: Path, scheme: str, part_size: int = 0) -> str:
    """What the store will report for ``path``'s bytes: the S3 ETag (``part_size`` given),
    else the MD5, hex for S3 and Azure, base64 for GCS."""
    size = path.stat().st_size
    parts: list[bytes] = []
    whole = hashlib.md5(usedforsecurity=False)
    block = part_size if scheme == "s3" and part_size else READ_BLOCK
    with path.open("rb") as f:
        while chunk := f.read(block):
            whole.update(chunk)
            if scheme == "s3" and part_size:
                parts.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    if scheme == "s3" and part_size and s3_multipart(size, part_size):
        combined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
        return f"{combined}-{len(parts)}"
    if scheme == "gs":
        return base64.b64encode(whole.digest()).decode()
    return whole.hexdigest()


def remote_digest(info: dict[str, Any], scheme: str) -> str | None:
    """The store's checksum of an object from its listing entry (None: it gives none)."""
    if scheme == "s3":
        etag = info.get("ETag") or info.get("etag")
        return str(etag).strip('"') if etag else None
    if scheme == "gs":
        found = info.get("md5Hash")
        return str(found) if found else None
    settings = info.get("content_settings") or {}
    md5 = settings.get("content_md5") if isinstance(settings, dict) else None
    md5 = md5 or getattr(settings, "content_md5", None)
    return bytes(md5).hex() if md5 else None

"""``data push``: copy a local file or folder to an object store, resumably, verified.

Resuming is per file: before sending, the store is listed once, and a file whose object
already has the same size and the same checksum (see :mod:`scalecloud.infra.storage`) is
skipped, so a re-run sends only what is missing or different, an object overwritten with
other bytes included. A file cut off mid-way is sent again from its start: S3, GCS and Azure
make an object visible only when its upload completes, so no half-written object is
ever taken for a whole one. After each upload the store's checksum is read back and
compared with the local one; a mismatch is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn, no_events
from scalecloud.infra.storage import (
    StoreURL,
    local_digest,
    open_store,
    parse_store_url,
    remote_digest,
    s3_part_size,
)


@dataclass
class PushResult:
    """What a push did: every file sent or skipped, and how each upload was checked."""

    url: str
    files: int = 0
    bytes: int = 0
    uploaded: list[str] = field(default_factory=list)
    uploaded_bytes: int = 0
    skipped: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # the store held other bytes
    verified: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # size checked only

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url, "files": self.files, "bytes": self.bytes,
            "uploaded": self.uploaded, "uploaded_bytes": self.uploaded_bytes,
            "skipped": self.skipped, "replaced": self.replaced,
            "verified": self.verified, "unverified": self.unverified,
        }  # fmt: skip


def local_files(path: Path) -> list[tuple[Path, str]]:
    """``(file, key relative to the prefix)``: a file keeps its name, a folder its tree."""
    if not path.exists():
        raise ScalecloudError(f"{path} does not exist", "give an existing file or folder")
    if path.is_file():
        return [(path, path.name)]
    found = sorted(
        (p, p.relative_to(path).as_posix()) for p in path.rglob("*") if p.is_file()
    )  # fmt: skip
    if not found:
        raise ScalecloudError(f"{path} holds no file", "give a folder with files in it")
    return found


def push(
    path: str | Path,
    url: str,
    *,
    on_event: EventFn = no_events,
    part_size: int | None = None,
    store: Any = None,
) -> PushResult:
    """Upload ``path`` (a file, or a folder's files with their relative paths) under the
    URL ``url`` (``gs://``, ``s3://`` or ``abfs://``, read as a folder).

    Progress: ``step`` events per phase and file, and ``bytes`` events (``done``,
    ``total`` bytes to send, ``file``). ``part_size`` sets S3's multipart part size
    (s3fs's default otherwise); ``store`` an fsspec filesystem to use instead of the one
    the URL names. Everything is checked (path, URL, the store's library) before the
    store is contacted.
    """
    files = local_files(Path(path).expanduser())
    target = parse_store_url(url, "destination")
    fs = store if store is not None else open_store(target)
    result = PushResult(url=str(target), files=len(files))
    result.bytes = sum(p.stat().st_size for p, _ in files)
    on_event(Event("step", f"listing {target}"))
    remote = _listing(fs, target)
    plan: list[tuple[Path, str, str, int]] = []
    for local, key in files:
        size = local.stat().st_size
        parts = (part_size or s3_part_size(size)) if target.scheme == "s3" else 0
        digest = local_digest(local, target.scheme, parts)
        there = remote.get(_key(target, key))
        if there is not None and _same(local, there, target.scheme, digest):
            result.skipped.append(key)
            continue
        if there is not None:
            result.replaced.append(key)
        plan.append((local, key, digest, parts))
    total = sum(p.stat().st_size for p, *_ in plan)
    if result.skipped:
        on_event(Event("info", f"{len(result.skipped)} file(s) already there, unchanged: skipped"))
    progress = _Progress(on_event, total)
    for local, key, digest, parts in plan:
        progress.file = key
        _upload(fs, target, local, key, parts, progress)
        _verify(fs, target, local, key, digest, result)
        result.uploaded.append(key)
        result.uploaded_bytes += local.stat().st_size
    return result


# Part sizes other tools upload with (the AWS CLI and boto3: 8 MiB), tried when an S3
# object's ETag names another part count than ours.
_OTHER_PART_SIZES = (8 * 2**20, 5 * 2**20, 16 * 2**20, 50 * 2**20, 64 * 2**20, 100 * 2**20)


def _same(local: Path, there: dict[str, Any], scheme: str, digest: str) -> bool:
    """Whether the object ``there`` holds ``local``'s bytes: same size and checksum."""
    size = local.stat().st_size
    if int(there.get("size", -1)) != size:
        return False
    found = remote_digest(there, scheme)
    if found is None or found == digest:
        return found is not None
    count = found.rpartition("-")[2]
    if scheme != "s3" or "-" not in found or not count.isdigit():
        return False
    return any(
        -(-size // part) == int(count) and local_digest(local, scheme, part) == found
        for part in _OTHER_PART_SIZES
    )


def _key(target: StoreURL, key: str) -> str:
    return f"{target.root}/{key}"


def _listing(fs: Any, target: StoreURL) -> dict[str, dict[str, Any]]:
    """Every object under the prefix, by path (none when the prefix is new)."""
    try:
        found = fs.find(target.root, detail=True)
    except FileNotFoundError:
        return {}
    except Exception as exc:
        raise _store_error(exc, target) from exc
    return {str(k).removeprefix(f"{target.scheme}://"): v for k, v in found.items()}


class _Progress:
    """An fsspec callback turning bytes sent into ``bytes`` events."""

    def __init__(self, on_event: EventFn, total: int) -> None:
        self.on_event = on_event
        self.total = total
        self.done = 0
        self.file = ""
        on_event(Event("bytes", data={"done": 0, "total": total, "file": ""}))

    def callback(self) -> Any:
        from fsspec.callbacks import Callback

        outer = self

        class Sent(Callback):  # type: ignore[misc]
            """fsspec sets ``value`` (bytes sent of this file), then calls ``call``."""

            seen = 0

            def call(self, *args: Any, **kwargs: Any) -> None:
                del args, kwargs  # Unused.
                value = int(self.value or 0)
                outer.advance(value - self.seen)
                self.seen = value

        return Sent()

    def advance(self, sent: int) -> None:
        self.done += sent
        self.on_event(
            Event("bytes", data={"done": self.done, "total": self.total, "file": self.file})
        )


def _upload(
    fs: Any, target: StoreURL, local: Path, key: str, parts: int, progress: _Progress
) -> None:
    options: dict[str, Any] = {"chunksize": parts} if parts else {}
    progress.on_event(Event("step", f"sending {key}"))
    before = progress.done
    try:
        fs.put_file(str(local), _key(target, key), callback=progress.callback(), **options)
    except Exception as exc:
        raise _store_error(exc, target) from exc
    # Some stores report no progress for small files: the bar still reaches the end.
    progress.advance(before + local.stat().st_size - progress.done)


def _verify(
    fs: Any, target: StoreURL, local: Path, key: str, digest: str, result: PushResult
) -> None:
    """The store's size and checksum of what was sent, against the local file's."""
    try:
        fs.invalidate_cache()
        info = fs.info(_key(target, key))
    except Exception as exc:
        raise _store_error(exc, target) from exc
    size = local.stat().st_size
    found = remote_digest(info, target.scheme)
    if found is not None and found != digest and _kms_encrypted(fs, target, key):
        found = None  # an SSE-KMS object's ETag is not an MD5 of its bytes: size only
    if int(info.get("size", -1)) != size or (found is not None and found != digest):
        raise ScalecloudError(
            f"{key}: the store holds other bytes than were sent "
            f"(size {info.get('size')} vs {size}, checksum {found} vs {digest})",
            "push again: the file is sent again; if it persists, check the store's encryption",
        )
    (result.verified if found is not None else result.unverified).append(key)


def _kms_encrypted(fs: Any, target: StoreURL, key: str) -> bool:
    """Whether an S3 object is encrypted with KMS or a customer key (its ETag is no MD5)."""
    if target.scheme != "s3":
        return False
    bucket, _, path = _key(target, key).partition("/")
    try:
        head = fs.call_s3("head_object", Bucket=bucket, Key=path)
    except Exception:
        return False
    return head.get("ServerSideEncryption") == "aws:kms" or bool(head.get("SSECustomerAlgorithm"))


def _store_error(exc: BaseException, target: StoreURL) -> ScalecloudError:
    """A store's exception as one line, with what to do."""
    name = type(exc).__name__
    text = (str(exc).strip().splitlines() or [name])[0]
    if "Credential" in name or "credential" in text.lower():
        return ScalecloudError(
            f"no credentials for {target.scheme}:// ({text})", _LOGIN.get(target.scheme, "")
        )
    if isinstance(exc, PermissionError):
        return ScalecloudError(
            f"access to {target} denied: {text}", "check your account's rights on the bucket"
        )
    if isinstance(exc, FileNotFoundError):
        return ScalecloudError(
            f"bucket {target.bucket!r} not found ({text})", "create it first, or check its name"
        )
    return ScalecloudError(f"{target}: {name}: {text}", "check the URL and your network")


_LOGIN: dict[str, str] = {
    "gs": "log in with: gcloud auth application-default login",
    "s3": "log in with: aws configure (or aws sso login)",
    "abfs": "log in with: az login (or set AZURE_STORAGE_* variables)",
}

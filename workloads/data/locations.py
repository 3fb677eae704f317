"""Where the user's data lives: a local path or an ``s3://``, ``gs://`` or ``abfs://`` URL,
opened through fsspec, with each way it can fail turned into one line and a hint.

The filesystem packages (s3fs, gcsfs, adlfs) come with the cloud extras and are imported
only when a URL of theirs is used.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.storage import SCHEMES as STORES

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# The object stores (scheme -> fsspec package, pip extra) are infra.storage's; here their
# other spellings, and how to give each its credentials.
ALIASES = {"s3a": "s3", "gcs": "gs", "abfss": "abfs", "az": "abfs"}
CREDENTIALS = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (aws configure)",
    "gs": "run gcloud auth application-default login, or set GOOGLE_APPLICATION_CREDENTIALS",
    "abfs": "set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY "
    "(or AZURE_STORAGE_CONNECTION_STRING)",
}
SCHEMES: dict[str, tuple[str, str, str]] = {
    kind: (*STORES[ALIASES.get(kind, kind)][:2], CREDENTIALS[ALIASES.get(kind, kind)])
    for kind in (*STORES, *ALIASES)
}  # scheme -> (fsspec package, pip extra, how to give credentials)


def is_url(location: str) -> bool:
    """Whether ``location`` is a URL (``scheme://...``) rather than a local path."""
    return bool(_URL.match(location))


def normalise(text: str) -> str:
    """A URL as given; a local path made absolute, so that a rerun from elsewhere finds it."""
    text = text.strip()
    return text if is_url(text) else os.path.abspath(Path(text).expanduser())


def scheme(location: str) -> str:
    return location.split("://", 1)[0].lower() if is_url(location) else "file"


def filesystem(location: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``location`` and the path within it."""
    kind = scheme(location)
    if kind != "file" and kind not in SCHEMES:
        raise ScalecloudError(
            f"unsupported URL scheme {kind}:// in {location}",
            "give a local path or an s3://, gs:// or abfs:// URL",
        )
    import fsspec

    with access(location):
        try:
            fs, path = fsspec.core.url_to_fs(location)
        except ImportError as exc:
            package, extra, _ = SCHEMES[kind]
            raise ScalecloudError(
                f"reading {kind}:// URLs needs {package}, which is not installed",
                f'pip install "scalecloud[{extra}]"',
            ) from exc
    return fs, str(path)


def _credentials_problem(exc: BaseException) -> bool:
    name = type(exc).__name__
    text = str(exc)
    return (
        isinstance(exc, PermissionError)
        or name in ("NoCredentialsError", "PartialCredentialsError", "ClientAuthenticationError",
                    "DefaultCredentialsError", "RefreshError")
        or any(word in text for word in ("AccessDenied", "InvalidAccessKeyId", "403", "401",
                                         "SignatureDoesNotMatch", "credentials"))
    )  # fmt: skip


@contextlib.contextmanager
def access(location: str) -> Iterator[None]:
    """Turns what reading ``location`` raises into one ScalecloudError: missing, no
    credentials or access, or unreadable."""
    try:
        yield
    except ScalecloudError:
        raise
    except FileNotFoundError as exc:
        raise missing(location) from exc
    except Exception as exc:
        kind = scheme(location)
        if kind in SCHEMES and _credentials_problem(exc):
            raise ScalecloudError(
                f"could not read {location}: no credentials or no access "
                f"({type(exc).__name__}: {_first_line(exc)})",
                SCHEMES[kind][2],
            ) from exc
        raise ScalecloudError(
            f"could not read {location}: {type(exc).__name__}: {_first_line(exc)}",
            "check the path or URL (--set data=...)",
        ) from exc


def missing(location: str) -> ScalecloudError:
    what = "data" if is_url(location) else "data file"
    return ScalecloudError(
        f"{what} {location} does not exist",
        "give a Parquet file or folder, a CSV, .npy or Zarr path, or an s3://, gs:// or "
        "abfs:// URL (--set data=...)",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def join(fs: Any, path: str) -> str:
    """``path`` of ``fs`` as a location again (the URL with its scheme, or the local path)."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if protocol in ("file", "local") else f"{protocol}://{path}"

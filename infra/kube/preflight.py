"""Checks made before anything is created: the Pulumi CLI and its version, the environment.

Each failure is a ScalecloudError whose hint is the fix. Nothing here writes state.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from scalecloud.infra.errors import ScalecloudError

MIN_PULUMI_CLI = (3, 150, 0)
PULUMI_INSTALL_HINT = (
    "let scalecloud install it into its state directory: scalecloud up --install-pulumi "
    "(or answer yes when asked), or install it yourself: curl -fsSL https://get.pulumi.com "
    "| sh (https://www.pulumi.com/docs/install/)"
)
INSTALL_DIR = "pulumi-cli"  # under scalecloud's state directory; bin/pulumi inside


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(p) for p in match.groups()) if match else (0, 0, 0)


def pulumi_cli_path(home: Path | None = None) -> str | None:
    """Where the Pulumi CLI is: on PATH, in ~/.pulumi/bin (its installer's place), or in
    scalecloud's state directory ``home`` (``--install-pulumi``'s place); None if nowhere.
    The one lookup that preflight and the stacks share."""
    path = shutil.which("pulumi")
    places = [Path.home() / ".pulumi" / "bin" / "pulumi"]
    if home is not None:
        places.append(home / INSTALL_DIR / "bin" / "pulumi")
    for place in places:
        if path is None and place.is_file() and os.access(place, os.X_OK):
            path = str(place)
    return path


def install_pulumi_cli(home: Path) -> str:
    """Download the Pulumi CLI matching the installed SDK into ``home``/pulumi-cli (the
    SDK's ``PulumiCommand.install``); its path, or an error saying how to do it by hand."""
    from pulumi import automation as auto

    root = home / INSTALL_DIR
    try:
        auto.PulumiCommand.install(root=str(root))
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise ScalecloudError(
            f"could not install the Pulumi CLI into {root}: {reason}",
            "install it yourself: curl -fsSL https://get.pulumi.com | sh "
            "(https://www.pulumi.com/docs/install/)",
        ) from exc
    return str(root / "bin" / "pulumi")


def find_pulumi_cli(home: Path | None = None) -> tuple[str, str]:
    """The path and version of the Pulumi CLI, or the error that says how to install it."""
    path = pulumi_cli_path(home)
    if path is None:
        raise ScalecloudError("the Pulumi CLI (pulumi) is not installed", PULUMI_INSTALL_HINT)
    try:
        found = subprocess.run(
            [path, "version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise ScalecloudError(
            f"the Pulumi CLI at {path} does not run: {exc}", PULUMI_INSTALL_HINT
        ) from exc
    if _version_tuple(found) < MIN_PULUMI_CLI:
        need = ".".join(map(str, MIN_PULUMI_CLI))
        raise ScalecloudError(
            f"the Pulumi CLI at {path} is {found}; scalecloud needs {need} or newer",
            "upgrade it: pulumi self-update, or curl -fsSL https://get.pulumi.com | sh",
        )
    return path, found


def has_env(*names: str) -> bool:
    return any(os.environ.get(n) for n in names)


def cli_json(command: list[str], timeout: float = 120.0) -> Any | None:
    """The parsed JSON a cloud CLI prints, or None when the tool is missing or fails."""
    import json

    if shutil.which(command[0]) is None:
        return None
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        return json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def caller_cidr(timeout: float = 10.0) -> str:
    """This machine's public address as a /32, for ``--expose me``."""
    import ipaddress
    import urllib.request

    try:
        with urllib.request.urlopen("https://checkip.amazonaws.com", timeout=timeout) as reply:
            address = ipaddress.ip_address(reply.read().decode().strip())
    except (OSError, ValueError) as exc:
        raise ScalecloudError(
            f"could not find this machine's public address: {exc}",
            "give it yourself, e.g. --expose 198.51.100.7/32",
        ) from exc
    return f"{address}/{32 if address.version == 4 else 128}"


def check_cidr(text: str) -> str:
    import ipaddress

    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ScalecloudError(
            f"invalid --expose {text!r}", "give a CIDR such as 198.51.100.7/32, or: --expose me"
        ) from exc
    if network.prefixlen == 0:
        raise ScalecloudError(
            f"--expose {text} would open the scheduler to everyone",
            "give your own address, e.g. --expose me or --expose 198.51.100.7/32",
        )
    return str(network)

"""Google Cloud preflight: both logins, the project, and what a GKE cluster assumes.

Two logins are in play, and ``up`` needs both. Pulumi's gcp provider uses the
application-default credentials (ADC); the kubeconfig runs ``gke-gcloud-auth-plugin``,
which uses the gcloud CLI's active account. Either may exist without the other, so each
is checked, and the hint lists exactly the commands for what is missing. Then the project
must have the Kubernetes Engine API enabled and the ``default`` network (GKE puts the
cluster on it; scalecloud has no network option). Nothing here writes state.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube.preflight import cli_call, one_line

NETWORK = "default"  # the network GKE uses when the cluster names none
# What a gcloud error says when its login, not the query, is at fault.
_LOGIN_ERRORS = ("gcloud auth login", "reauthentication", "invalid_grant", "not logged in",
                 "no credentialed accounts", "refresh token")  # fmt: skip
_NOT_FOUND = ("was not found", "notfound", "404")
_API_DISABLED = ("has not been used in project", "service_disabled", "it is disabled")


def gcloud_config_dir() -> Path:
    return Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")


def gcp_project() -> str | None:
    """The project from the environment or gcloud's active configuration."""
    for var in ("GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        if os.environ.get(var):
            return os.environ[var]
    config_dir = gcloud_config_dir()
    active = os.environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME") or "default"
    with suppress(OSError):
        active = (config_dir / "active_config").read_text().strip() or active
    config = config_dir / "configurations" / f"config_{active}"
    with suppress(OSError):
        for line in config.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "project" and value.strip():
                return value.strip()
    return None


def has_adc() -> bool:
    """Application-default credentials: a key file, gcloud's ADC file, or a token."""
    adc = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or str(
        gcloud_config_dir() / "application_default_credentials.json"
    )
    return Path(adc).is_file() or bool(os.environ.get("GOOGLE_OAUTH_ACCESS_TOKEN"))


def active_account() -> str | None:
    """The gcloud CLI's active account (what gke-gcloud-auth-plugin logs in as), or None."""
    accounts, why = cli_call(
        ["gcloud", "auth", "list", "--filter=status:ACTIVE", "--format=json"], timeout=60
    )
    if why is not None:
        raise ScalecloudError(
            f"could not ask gcloud for its login: {one_line(why)}",
            "check that gcloud works: gcloud auth list (reinstall it from "
            "https://cloud.google.com/sdk/docs/install if it does not run)",
        )
    names = [a.get("account") for a in accounts or [] if isinstance(a, dict)]
    return next((n for n in names if n), None)


def check_logins() -> str:
    """Both logins and a project, or one error naming every missing piece and its command.
    Returns the project."""
    missing: list[str] = []
    commands: list[str] = []
    if active_account() is None:
        missing.append("no active gcloud account (the kubeconfig's gke-gcloud-auth-plugin uses it)")
        commands.append("gcloud auth login")
    if not has_adc():
        missing.append("no application-default credentials (Pulumi uses them)")
        commands.append("gcloud auth application-default login")
    project = gcp_project()
    if project is None:
        missing.append("no project set")
        commands.append("gcloud config set project PROJECT_ID")
    if missing:
        raise ScalecloudError(
            "Google Cloud is not ready for scalecloud: " + "; ".join(missing),
            "run: " + " && ".join(commands)
            + (" (or, with a service-account key: gcloud auth activate-service-account "
               "--key-file KEY and GOOGLE_APPLICATION_CREDENTIALS=KEY)"
               if "gcloud auth login" in commands else ""),
        )  # fmt: skip
    assert project is not None
    return project


def _query_failed(what: str, project: str, why: str, command: str) -> ScalecloudError:
    """A query that neither confirmed nor denied: a refusal that says why, never a pass."""
    lower = why.lower()
    if any(s in lower for s in _LOGIN_ERRORS):
        hint = "your gcloud login has expired: gcloud auth login, then run up again"
    else:
        hint = f"nothing was created; fix the cause (network, permissions) and run up again, or check yourself: {command}"
    return ScalecloudError(f"could not check {what} in project {project}: {one_line(why)}", hint)


def check_gke_prerequisites(project: str) -> None:
    """The Kubernetes Engine API is enabled and the default network exists in ``project``."""
    command = ["gcloud", "services", "list", "--enabled", "--project", project,
               "--filter=config.name=container.googleapis.com", "--format=json"]  # fmt: skip
    enabled, why = cli_call(command, timeout=60)
    if why is not None:
        raise _query_failed("the Kubernetes Engine API", project, why, " ".join(command))
    if not enabled:
        raise ScalecloudError(
            f"the Kubernetes Engine API is not enabled in project {project}",
            f"enable it: gcloud services enable container.googleapis.com --project {project}",
        )
    command = ["gcloud", "compute", "networks", "describe", NETWORK, "--project", project,
               "--format=json"]  # fmt: skip
    _, why = cli_call(command, timeout=60)
    if why is None:
        return
    lower = why.lower()
    if any(s in lower for s in _API_DISABLED):
        raise ScalecloudError(
            f"the Compute Engine API is not enabled in project {project}",
            f"enable it: gcloud services enable compute.googleapis.com --project {project}",
        )
    if any(s in lower for s in _NOT_FOUND):
        raise ScalecloudError(
            f"project {project} has no network named {NETWORK!r} (GKE puts the cluster on it)",
            f"create it: gcloud compute networks create {NETWORK} --subnet-mode=auto "
            f"--project {project}",
        )
    raise _query_failed(f"the network {NETWORK!r}", project, why, " ".join(command))

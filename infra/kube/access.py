"""``up --data``: the buckets the Dask workers may read (or write), through the cloud's
workload identity, with no key copied into the cluster.

The workers run under one Kubernetes ServiceAccount (:data:`SERVICE_ACCOUNT`) in the
cluster's namespace; each cloud maps it to an identity of its own that holds grants on the
named buckets only:

- GKE: Workload Identity; a Google service account that the ServiceAccount may act as
  (``roles/iam.workloadIdentityUser``), with ``roles/storage.objectViewer`` (with
  ``--data-write``: ``roles/storage.objectUser``) on each bucket. GCS IAM grants a whole
  bucket: a prefix in the URL is not enforced.
- EKS: EKS Pod Identity; an IAM role trusted by ``pods.eks.amazonaws.com``, associated with
  the ServiceAccount, whose policy allows ``s3:GetObject`` under each prefix and
  ``s3:ListBucket`` of that prefix (with ``--data-write``: put and delete objects there).
- AKS: workload identity; a user-assigned managed identity, federated with the
  ServiceAccount's token, with ``Storage Blob Data Reader`` (``--data-write``:
  ``Contributor``) on each container. Azure scopes roles to a container: a prefix is not
  enforced.

This module holds the checks and the pure builders (policies, names, plan rows); the cloud
modules declare the resources. Nothing here imports Pulumi or a cloud SDK.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.storage import AZURE_HOST, StoreURL, parse_store_url

# The functions below take a KubeSpec as ``spec`` (typed Any: infra/kube/spec.py reaches
# the registry, which imports this module).
KubeSpec = Any

SERVICE_ACCOUNT = "scalecloud-data"  # the Kubernetes ServiceAccount of the Dask workers

GCS_READ_ROLE = "roles/storage.objectViewer"
GCS_WRITE_ROLE = "roles/storage.objectUser"  # objects: create, delete, get, list, update
GKE_IDENTITY_ROLE = "roles/iam.workloadIdentityUser"
GKE_ANNOTATION = "iam.gke.io/gcp-service-account"

S3_READ_ACTIONS = ("s3:GetObject",)
S3_WRITE_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
EKS_POD_IDENTITY_ADDON = "eks-pod-identity-agent"
EKS_POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"

# Built-in Azure roles: (name, role definition GUID, the same in every tenant).
AZURE_READER = ("Storage Blob Data Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1")
AZURE_WRITER = ("Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe")
AZURE_AUDIENCE = "api://AzureADTokenExchange"
AZURE_ANNOTATION = "azure.workload.identity/client-id"


def check_data(provider: Any, data: Any, write: bool, clouds: Sequence[str]) -> dict[str, Any]:
    """``--data`` URLs checked for ``provider`` (a ProviderDescriptor; ``clouds`` name those
    that take --data) and normalised (``data`` and, when given, ``data_write``), before
    anything exists; every refusal is one line with a hint."""
    urls = (data,) if isinstance(data, str) else tuple(data or ())
    if write and not urls:
        raise ScalecloudError(
            "--data-write needs --data", "name the buckets, e.g. --data gs://my-bucket/out"
        )
    if not provider.data_scheme:
        hint = (
            "minikube's pods have no cloud identity to grant; leave --data out"
            if provider.kubernetes
            else "local workers read buckets with this machine's own credentials: leave --data out"
        )
        raise ScalecloudError(f"--data applies to {', '.join(clouds)}, not {provider.name}", hint)
    parsed = [parse_store_url(u, "--data", (provider.data_scheme,)) for u in urls]
    for url in parsed:
        if url.scheme == "abfs" and not (url.account and url.resource_group):
            raise ScalecloudError(
                f"--data {url}: Azure grants need the storage account and its resource group",
                f"write abfs://{url.bucket}@{url.account or 'ACCOUNT'}{AZURE_HOST}/"
                f"{url.prefix or 'PREFIX'}?resource_group=GROUP (the storage account's)",
            )
    found: dict[str, Any] = {"data": list(dict.fromkeys(str(u) for u in parsed))}
    if write:
        found["data_write"] = True
    return found


def grants(spec: KubeSpec) -> list[StoreURL]:
    """The buckets (containers) and prefixes of ``spec.data``."""
    return [parse_store_url(u, "--data") for u in spec.data]


def gcp_account_id(cluster: str) -> str:
    """The Google service account's id: 6-30 characters, unique per cluster name."""
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:6]
    return f"sc-{cluster[:20].rstrip('-')}-{digest}"


def gke_member(project: str, namespace: str) -> str:
    """The Workload Identity principal of the workers' ServiceAccount."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{SERVICE_ACCOUNT}]"


def s3_policy(urls: Sequence[StoreURL], write: bool) -> str:
    """The IAM policy of the workers' role: objects under each prefix, the listing of that
    prefix, nothing else; writes only with ``write``."""
    actions = [*S3_READ_ACTIONS, *(S3_WRITE_ACTIONS if write else ())]
    statements: list[dict[str, Any]] = []
    for url in urls:
        objects = f"arn:aws:s3:::{url.bucket}/{url.prefix}/*" if url.prefix else None
        statements.append(
            {"Effect": "Allow", "Action": actions,
             "Resource": objects or f"arn:aws:s3:::{url.bucket}/*"}
        )  # fmt: skip
        listing: dict[str, Any] = {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:aws:s3:::{url.bucket}",
        }
        if url.prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [url.prefix, f"{url.prefix}/*"]}}
        statements.append(listing)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def pod_identity_trust() -> str:
    """The trust policy of a role that EKS Pod Identity hands to pods."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": EKS_POD_IDENTITY_PRINCIPAL},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )


def azure_role(write: bool) -> tuple[str, str]:
    return AZURE_WRITER if write else AZURE_READER


def azure_container_scope(subscription: str, url: StoreURL) -> str:
    """The resource ID of an Azure container: what a role assignment is scoped to."""
    return (
        f"/subscriptions/{subscription}/resourceGroups/{url.resource_group}/providers/"
        f"Microsoft.Storage/storageAccounts/{url.account}/blobServices/default/"
        f"containers/{url.bucket}"
    )


def federated_subject(namespace: str) -> str:
    return f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"


@dataclass
class DataAccess:
    """What a cloud program hands to the Dask component for ``--data``: the annotations
    of the workers' ServiceAccount (values may be Outputs), and the cloud resources the
    workers must wait for (the grants, the identity association)."""

    annotations: dict[str, Any] = field(default_factory=dict)
    depends_on: list[Any] = field(default_factory=list)


def service_account_manifest(spec: KubeSpec, annotations: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": SERVICE_ACCOUNT, "namespace": spec.namespace,
            "labels": dict(spec.labels), "annotations": dict(annotations),
        },
    }  # fmt: skip


def plan_grants(spec: KubeSpec) -> list[dict[str, str]]:
    """``plan``'s account of ``--data``: who gets what on which bucket."""
    rows = []
    who_by_scheme = {
        "gs": f"Google service account {gcp_account_id(spec.name)} (Workload Identity)",
        "s3": f"IAM role {spec.name}-data (EKS Pod Identity)",
        "abfs": f"managed identity {spec.name}-data (federated workload identity)",
    }
    for url in grants(spec):
        if url.scheme == "s3":
            what = ", ".join([*S3_READ_ACTIONS, *(S3_WRITE_ACTIONS if spec.data_write else ())])
            what += ", s3:ListBucket"
            scope = f"s3://{url.root}/*" if url.prefix else f"s3://{url.bucket}"
            note = "prefix enforced" if url.prefix else "whole bucket"
        else:
            gcs = url.scheme == "gs"
            what = (
                (GCS_WRITE_ROLE if spec.data_write else GCS_READ_ROLE)
                if gcs
                else azure_role(spec.data_write)[0]
            )
            scope = f"{url.scheme}://{url.bucket}" + (f"@{url.account}" if url.account else "")
            note = "whole bucket" if gcs else "whole container"
            if url.prefix:
                note += f"; the prefix {url.prefix!r} is not enforced (no prefix scope in IAM)"
        rows.append({
            "who": f"{who_by_scheme[url.scheme]} as {spec.namespace}/{SERVICE_ACCOUNT}",
            "what": what, "where": scope, "note": note,
        })  # fmt: skip
    return rows

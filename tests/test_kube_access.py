"""``up --data``: the programs grant the workers exactly the named buckets, keylessly.

Each cloud's real program runs under the mock runtime; the tests assert on every resource
declared: which buckets the IAM resources name (only those), read-only roles and actions
unless --data-write, no key or secret resource anywhere, and the worker pods running as
the ServiceAccount the identity is bound to. Without --data none of it exists. Bad --data
is refused before anything exists.
"""

from __future__ import annotations

import json
import re

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.kube import access
from scalecloud.infra.kube.plan import PLAN_PROJECT, PLAN_SUBSCRIPTION, Declared, declare
from scalecloud.infra.kube.spec import kube_spec
from scalecloud.infra.registry import build_spec, respec
from test_cli_errors import assert_one_line_error
from test_pulumi_project import config, run_project, shape  # noqa: F401 (a fixture)

pytest.importorskip("pulumi")

NS = "scalecloud-exp-1"
AZ = ".dfs.core.windows.net"
DATA = {
    "gcp": ["gs://inputs-one/exp/a", "gs://inputs-two"],
    "aws": ["s3://inputs-one/exp/a", "s3://inputs-two"],
    "azure": [f"abfs://inputs-one@acct01{AZ}/exp/a?resource_group=rg-a",
              f"abfs://inputs-two@acct02{AZ}?resource_group=rg-b"],
}  # fmt: skip
IDENTITY_TYPES = (
    "gcp:serviceaccount/", "gcp:storage/bucketIAM", "aws:eks/podIdentityAssociation",
    "aws:eks/addon", "azure-native:managedidentity:", "azure-native:authorization:",
    "kubernetes:core/v1:ServiceAccount", ":DataAccess",
)  # fmt: skip


def declared_for(provider: str, data: list[str] | None = None, write: bool = False):
    spec = build_spec(provider, "exp-1", adapt="1:3", data=data, data_write=write)
    return declare(kube_spec(spec))


def of_type(declared: list[Declared], typ: str) -> list[Declared]:
    return [d for d in declared if d.type == typ]


def no_keys(declared: list[Declared]) -> None:
    """No resource that makes or holds a long-lived credential."""
    keyish = [d.type for d in declared
              if d.type in ("gcp:serviceaccount/key:Key", "aws:iam/accessKey:AccessKey",
                            "kubernetes:core/v1:Secret")
              or "accesskey" in d.type.lower() or "storageaccountkey" in d.type.lower()]  # fmt: skip
    assert keyish == []
    text = json.dumps([d.inputs for d in declared]).lower()
    for word in ("privatekey", "secretaccesskey", "accountkey", "connectionstring"):
        assert word not in text


def workers_run_as_the_service_account(declared: list[Declared]) -> Declared:
    (sa,) = of_type(declared, "kubernetes:core/v1:ServiceAccount")
    assert sa.inputs["metadata"]["name"] == access.SERVICE_ACCOUNT
    assert sa.inputs["metadata"]["namespace"] == NS
    (cluster,) = of_type(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster")
    assert cluster.inputs["spec"]["worker"]["spec"]["serviceAccountName"] == access.SERVICE_ACCOUNT
    assert sa.urn in cluster.dependencies  # the pods start once their identity exists
    return sa


@pytest.mark.parametrize("write", [False, True])
def test_gke_grants_the_named_buckets_through_workload_identity(write):
    declared = declared_for("gcp", DATA["gcp"], write)
    no_keys(declared)
    (account,) = of_type(declared, "gcp:serviceaccount/account:Account")
    email = f"{account.inputs['accountId']}@{PLAN_PROJECT}.iam.gserviceaccount.com"
    grants = of_type(declared, "gcp:storage/bucketIAMMember:BucketIAMMember")
    assert sorted(g.inputs["bucket"] for g in grants) == ["inputs-one", "inputs-two"]
    role = "roles/storage.objectUser" if write else "roles/storage.objectViewer"
    assert {(g.inputs["role"], g.inputs["member"]) for g in grants} == {
        (role, f"serviceAccount:{email}")
    }
    (binding,) = of_type(declared, "gcp:serviceaccount/iAMMember:IAMMember")
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert binding.inputs["member"] == (
        f"serviceAccount:{PLAN_PROJECT}.svc.id.goog[{NS}/{access.SERVICE_ACCOUNT}]"
    )
    assert binding.inputs["serviceAccountId"].endswith(f"/serviceAccounts/{email}")
    (cluster,) = of_type(declared, "gcp:container/cluster:Cluster")
    assert cluster.inputs["workloadIdentityConfig"] == {
        "workloadPool": f"{PLAN_PROJECT}.svc.id.goog"
    }
    for pool in of_type(declared, "gcp:container/nodePool:NodePool"):
        assert pool.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    sa = workers_run_as_the_service_account(declared)
    assert sa.inputs["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": email}


def statements(policy: str) -> list[dict]:
    return json.loads(policy)["Statement"]


@pytest.mark.parametrize("write", [False, True])
def test_eks_role_allows_only_the_named_prefixes_through_pod_identity(write):
    declared = declared_for("aws", DATA["aws"], write)
    no_keys(declared)
    (role,) = [d for d in of_type(declared, "aws:iam/role:Role") if d.name == "exp-1-data"]
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    (policy,) = [
        d for d in of_type(declared, "aws:iam/rolePolicy:RolePolicy") if d.name == "exp-1-data"
    ]
    found = statements(policy.inputs["policy"])
    resources = sorted(str(s["Resource"]) for s in found)
    assert resources == [
        "arn:aws:s3:::inputs-one", "arn:aws:s3:::inputs-one/exp/a/*",
        "arn:aws:s3:::inputs-two", "arn:aws:s3:::inputs-two/*",
    ]  # fmt: skip
    actions = {a for s in found for a in s["Action"]}
    writes = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
    assert actions == {"s3:GetObject", "s3:ListBucket", *(writes if write else ())}
    for s in found:
        if s["Action"] == ["s3:ListBucket"] and s["Resource"].endswith("inputs-one"):
            assert s["Condition"] == {"StringLike": {"s3:prefix": ["exp/a", "exp/a/*"]}}
    assert all("*" not in s["Resource"].split(":::")[1].split("/")[0] for s in found)
    (association,) = [
        d
        for d in of_type(declared, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if d.name == "exp-1-data"
    ]
    assert association.inputs["namespace"] == NS
    assert association.inputs["serviceAccount"] == access.SERVICE_ACCOUNT
    assert association.inputs["roleArn"] == "arn:aws:iam::000000000000:role/exp-1-data"
    assert association.inputs["clusterName"] == "scalecloud-exp-1"
    (addon,) = of_type(declared, "aws:eks/addon:Addon")
    assert addon.inputs["addonName"] == "eks-pod-identity-agent"
    workers_run_as_the_service_account(declared)
    (cluster,) = of_type(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster")
    assert association.urn in cluster.dependencies


@pytest.mark.parametrize("write", [False, True])
def test_aks_identity_is_federated_and_granted_only_the_named_containers(write):
    declared = declared_for("azure", DATA["azure"], write)
    no_keys(declared)
    (cluster,) = of_type(declared, "azure-native:containerservice:ManagedCluster")
    assert cluster.inputs["oidcIssuerProfile"] == {"enabled": True}
    assert cluster.inputs["securityProfile"] == {"workloadIdentity": {"enabled": True}}
    (identity,) = of_type(declared, "azure-native:managedidentity:UserAssignedIdentity")
    (federated,) = of_type(declared, "azure-native:managedidentity:FederatedIdentityCredential")
    assert federated.inputs["subject"] == f"system:serviceaccount:{NS}:{access.SERVICE_ACCOUNT}"
    assert federated.inputs["audiences"] == ["api://AzureADTokenExchange"]
    assert federated.inputs["issuer"] == "https://exp-1-aks.oic.plan.invalid/"
    assignments = of_type(declared, "azure-native:authorization:RoleAssignment")
    base = f"/subscriptions/{PLAN_SUBSCRIPTION}/resourceGroups"
    assert sorted(a.inputs["scope"] for a in assignments) == [
        f"{base}/rg-a/providers/Microsoft.Storage/storageAccounts/acct01/blobServices/default/containers/inputs-one",
        f"{base}/rg-b/providers/Microsoft.Storage/storageAccounts/acct02/blobServices/default/containers/inputs-two",
    ]  # fmt: skip
    guid = (access.AZURE_WRITER if write else access.AZURE_READER)[1]
    for a in assignments:
        assert a.inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{guid}")
        assert a.inputs["principalId"] == "principal-id-of-exp-1-data"
        assert a.inputs["principalType"] == "ServicePrincipal"
    sa = workers_run_as_the_service_account(declared)
    assert sa.inputs["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": "client-id-of-exp-1-data"
    }
    assert federated.inputs["resourceName"] == identity.inputs["resourceName"]
    (dask,) = of_type(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster")
    labels = dask.inputs["spec"]["worker"]["metadata"]["labels"]
    assert labels == {"azure.workload.identity/use": "true"}


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure", "minikube"])
def test_without_data_there_is_no_identity_at_all(provider):
    declared = declared_for(provider)
    # On EKS the Cluster Autoscaler has its own Pod Identity role: nothing else does.
    autoscaler = ("exp-1-pod-identity", "exp-1-autoscaler")
    assert [d.type for d in declared if (d.type.endswith(IDENTITY_TYPES) or
            any(t in d.type for t in IDENTITY_TYPES)) and d.name not in autoscaler] == []  # fmt: skip
    no_keys(declared)
    (dask,) = of_type(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster")
    assert "serviceAccountName" not in dask.inputs["spec"]["worker"]["spec"]
    assert "metadata" not in dask.inputs["spec"]["worker"]
    for d in declared:
        assert not {"workloadIdentityConfig", "oidcIssuerProfile", "securityProfile"} & set(
            d.inputs
        )
        assert "workloadMetadataConfig" not in d.inputs.get("nodeConfig", {})


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_the_dask_cluster_with_data_validates_against_the_crd_and_kubernetes(provider):
    from test_kube_schemas import as_ints, validate_crd, validate_k8s

    declared = declared_for(provider, DATA[provider][:1])
    (dask,) = of_type(declared, "kubernetes:kubernetes.dask.org/v1:DaskCluster")
    validate_crd({"apiVersion": dask.inputs["apiVersion"], "kind": dask.inputs["kind"],
                  "metadata": dask.inputs["metadata"], "spec": as_ints(dask.inputs["spec"])})  # fmt: skip
    pod = as_ints(dask.inputs["spec"]["worker"]["spec"])
    validate_k8s({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w"}, "spec": pod})
    (sa,) = of_type(declared, "kubernetes:core/v1:ServiceAccount")
    validate_k8s({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa.inputs["metadata"]})


def test_data_is_recorded_in_the_spec_and_kept_by_respec():
    spec = build_spec("gcp", "exp-1", data=["gs://inputs-one/exp/", "gs://inputs-one/exp"],
                      data_write=True)  # fmt: skip
    assert spec.extra["data"] == ["gs://inputs-one/exp"] and spec.extra["data_write"] is True
    again = respec(spec.to_dict(), "gcp", "exp-2")
    assert again.extra["data"] == spec.extra["data"] and again.extra["data_write"] is True
    assert kube_spec(again).data == ("gs://inputs-one/exp",)
    assert "data" not in respec(spec.to_dict(), "local", "exp-3").extra  # local takes none


def test_plan_lists_who_gets_what_on_which_bucket():
    from scalecloud.infra.kube.plan import plan_report

    report = plan_report(kube_spec(build_spec("aws", "exp-1", data=DATA["aws"])))
    rows = report["data_access"]
    assert [r["where"] for r in rows] == ["s3://inputs-one/exp/a/*", "s3://inputs-two"]
    assert all("PutObject" not in r["what"] and NS in r["who"] for r in rows)
    assert plan_report(kube_spec(build_spec("aws", "exp-1")))["data_access"] == []


@pytest.mark.parametrize(
    ("provider", "data", "write", "fragment"),
    [
        ("local", ["gs://inputs-one"], False, "--data applies to gcp, aws, azure, not local"),
        ("minikube", ["gs://inputs-one"], False, "not minikube"),
        ("gcp", ["s3://inputs-one"], False, "is not a gs:// URL"),
        ("aws", ["gs://inputs-one"], False, "is not a s3:// URL"),
        ("aws", ["s3://Inputs"], False, "invalid bucket name 'Inputs'"),
        ("azure", [f"abfs://inputs@acct01{AZ}/x"], False, "resource group"),
        ("gcp", None, True, "--data-write needs --data"),
    ],
)
def test_bad_data_is_refused_before_anything_exists(provider, data, write, fragment):
    with pytest.raises(ScalecloudError, match=re.escape(fragment)):
        build_spec(provider, "exp-1", data=data, data_write=write)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--data", "gs://inputs-one"], "not local"),
        (["--provider", "gcp", "--data", "s3://inputs-one"], "is not a gs:// URL"),
        (["--provider", "minikube", "--data", "gs://inputs-one"], "not minikube"),
    ],
)
def test_cli_refuses_bad_data_in_one_line_and_creates_nothing(cli, args, fragment):
    result = cli("up", *args)
    assert result.code == 1
    assert_one_line_error(result, fragment)
    assert cli.records() == [] and not (cli.home / "stacks").exists()


def test_stack_config_data_declares_what_the_cli_would(config):  # noqa: F811 (the fixture)
    config(provider="aws", adapt="1:3", data=json.dumps(DATA["aws"]), dataWrite="true")
    from_config = run_project("exp-1")
    from_cli = declared_for("aws", DATA["aws"], write=True)
    assert shape(from_config) == shape(from_cli)
    assert of_type(from_config, "aws:eks/podIdentityAssociation:PodIdentityAssociation")

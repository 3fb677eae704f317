"""Cloud prerequisites and logins checked before anything exists, and AWS leftovers that
are really there (issue 11, points 8-10), against fake cloud CLIs on PATH.

The fakes are shell scripts that answer the exact commands scalecloud runs, keep their
state in files, and carry out the commands the hints name (``gcloud auth login``,
``gcloud services enable ...``), so a test can follow a hint and see that it is enough.
What they cannot show: that the real CLIs print the same (their documented output is what
they imitate).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scalecloud.infra.aws import AwsProvider
from scalecloud.infra.azure import AzureProvider
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.gcp import GcpProvider
from scalecloud.infra.kube.spec import kube_spec
from scalecloud.infra.spec import ClusterSpec
from scalecloud.infra.state import StateStore
from test_kube_driver import FakePulumi, assert_refused, fake_tool

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell scripts as tools")

# A gcloud that keeps its login, project, enabled APIs and networks in files, and the auth
# plugin the GKE kubeconfig runs, which (like the real one) gets its token from gcloud's
# active account through `gcloud config config-helper`.
GCLOUD = r"""#!/bin/sh
S="$FAKE_CLOUD"; C="$HOME/.config/gcloud"
case "$*" in
  "auth list --filter=status:ACTIVE --format=json")
    if [ -f "$S/account" ]; then read -r A < "$S/account"; echo "[{\"account\": \"$A\", \"status\": \"ACTIVE\"}]"
    else echo "No credentialed accounts." >&2; echo '[]'; fi;;
  "auth login") echo me@example.com > "$S/account";;
  "auth application-default login") /bin/mkdir -p "$C"; echo '{"type": "authorized_user"}' > "$C/application_default_credentials.json";;
  "config set project "*) /bin/mkdir -p "$C/configurations"; printf '[core]\nproject = %s\n' "$4" > "$C/configurations/config_default";;
  "config config-helper --format=json")
    if [ -f "$S/account" ]; then echo '{"credential": {"access_token": "ya29.fake"}}'
    else echo "ERROR: (gcloud.config.config-helper) You do not currently have an active account selected." >&2; exit 1; fi;;
  "services list --enabled --project demo --filter=config.name=container.googleapis.com --format=json")
    if [ -f "$S/offline" ]; then echo "ERROR: gcloud crashed (ConnectionError): HTTPSConnectionPool: Max retries exceeded" >&2; exit 1; fi
    if [ -f "$S/api" ]; then echo '[{"config": {"name": "container.googleapis.com"}}]'; else echo '[]'; fi;;
  "services enable container.googleapis.com --project demo") : > "$S/api";;
  "compute networks describe default --project demo --format=json")
    if [ -f "$S/network" ]; then echo '{"name": "default", "autoCreateSubnetworks": true}'
    else printf "ERROR: (gcloud.compute.networks.describe) Could not fetch resource:\n - The resource 'projects/demo/global/networks/default' was not found\n" >&2; exit 1; fi;;
  "compute networks create default --subnet-mode=auto --project demo") : > "$S/network";;
  *) echo "fake gcloud: unexpected: $*" >&2; exit 64;;
esac
"""
AUTH_PLUGIN = """#!/bin/sh
gcloud config config-helper --format=json >/dev/null || exit 1
echo '{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "status": {"token": "ya29.fake"}}'
"""


@pytest.fixture
def bare(cli, tmp_path):
    """The CLI with no cloud tools, no credentials, and an empty home directory (as in
    test_kube_driver.py)."""
    bin_dir, home = tmp_path / "bin", tmp_path / "user"
    bin_dir.mkdir()
    home.mkdir()
    cli.env.update(PATH=str(bin_dir), HOME=str(home))
    for var in list(cli.env):
        if var.startswith(("AWS_", "GOOGLE_", "CLOUDSDK_", "ARM_", "AZURE_")):
            del cli.env[var]
    cli.bin_dir = bin_dir
    return cli


def tool(bin_dir: Path, name: str, text: str) -> None:
    path = bin_dir / name
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def gcloud(tmp_path, monkeypatch):
    """This process with only the fake gcloud, its auth plugin and pulumi on PATH."""
    bin_dir, state, home = tmp_path / "bin", tmp_path / "cloud", tmp_path / "user"
    for folder in (bin_dir, state, home):
        folder.mkdir()
    tool(bin_dir, "gcloud", GCLOUD)
    tool(bin_dir, "gke-gcloud-auth-plugin", AUTH_PLUGIN)
    fake_tool(bin_dir, "pulumi", "v3.200.0")
    for var in list(os.environ):
        if var.startswith(("GOOGLE_", "CLOUDSDK_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FAKE_CLOUD", str(state))
    return state


def gke_spec():
    return kube_spec(ClusterSpec(provider="gcp", name="g1"))


def test_following_the_gcp_hints_one_by_one_ends_in_a_working_kubeconfig(gcloud, tmp_path):
    """From nothing (gcloud installed only) to a kubeconfig whose auth plugin gets a token:
    each refusal's hint, run as written, fixes what it names, and preflight passes only
    when the kubeconfig's login works too (with ADC alone it used to pass)."""
    from scalecloud.infra.kube.plan import declare

    provider = GcpProvider(StateStore(tmp_path / "home"))
    refusals = []
    for _ in range(6):
        try:
            provider.preflight(gke_spec())
            break
        except ScalecloudError as exc:
            refusals.append(f"{exc.message} | {exc.hint}")
            command = exc.hint.split(": ", 1)[1].split(" (", 1)[0].replace("PROJECT_ID", "demo")
            subprocess.run(command, shell=True, check=True, env=os.environ)
    else:
        pytest.fail("\n".join(refusals))
    assert len(refusals) == 3, refusals
    logins, api, network = refusals
    assert "no active gcloud account" in logins and "no application-default credentials" in logins
    assert (
        "run: gcloud auth login && gcloud auth application-default login && gcloud config "
        "set project PROJECT_ID" in logins
    )
    assert "gcloud services enable container.googleapis.com --project demo" in api
    assert "gcloud compute networks create default --subnet-mode=auto --project demo" in network
    # The kubeconfig the GKE program declares: its exec plugin, run as kubectl would.
    kubernetes = next(d for d in declare(gke_spec()) if d.type == "pulumi:providers:kubernetes")
    user = json.loads(kubernetes.inputs["kubeconfig"])["users"][0]["user"]["exec"]
    ran = subprocess.run([user["command"], *user["args"]], capture_output=True, text=True)
    assert ran.returncode == 0 and json.loads(ran.stdout)["status"]["token"], ran.stderr


def test_adc_alone_is_refused_and_the_hint_asks_only_for_the_gcloud_login(
    gcloud, tmp_path, monkeypatch
):
    adc = Path(os.environ["HOME"]) / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text("{}")
    monkeypatch.setenv("GOOGLE_PROJECT", "demo")
    with pytest.raises(ScalecloudError) as caught:
        GcpProvider(StateStore(tmp_path / "home")).preflight(gke_spec())
    assert "no active gcloud account" in caught.value.message
    assert caught.value.hint.startswith("run: gcloud auth login (")
    assert "application-default login" not in caught.value.hint


def test_a_gcp_query_that_fails_is_a_refusal_that_says_why(gcloud, tmp_path, monkeypatch):
    (gcloud / "account").write_text("me@example.com")
    (gcloud / "offline").touch()
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.fake")
    monkeypatch.setenv("GOOGLE_PROJECT", "demo")
    with pytest.raises(ScalecloudError) as caught:
        GcpProvider(StateStore(tmp_path / "home")).preflight(gke_spec())
    assert "could not check the Kubernetes Engine API in project demo" in caught.value.message
    assert "Max retries exceeded" in caught.value.message
    assert "gcloud services list --enabled --project demo" in caught.value.hint


@pytest.mark.parametrize(
    ("ready", "fragments"),
    [
        (["adc"], ["no active gcloud account", "Hint: run: gcloud auth login ("]),
        (["account", "adc"], ["Kubernetes Engine API is not enabled in project demo",
                              "gcloud services enable container.googleapis.com --project demo"]),
        (["account", "adc", "api"], ["project demo has no network named 'default'",
                                     "gcloud compute networks create default --subnet-mode=auto"]),
    ],
)  # fmt: skip
def test_gcp_up_is_refused_before_anything_exists(bare, ready, fragments):
    tool(bare.bin_dir, "gcloud", GCLOUD)
    tool(bare.bin_dir, "gke-gcloud-auth-plugin", AUTH_PLUGIN)
    fake_tool(bare.bin_dir, "pulumi", "v3.200.0")
    state = bare.home.parent / "cloud"
    state.mkdir()
    for name in set(ready) - {"adc"}:
        (state / name).write_text("me@example.com")
    if "adc" in ready:
        bare.env["GOOGLE_OAUTH_ACCESS_TOKEN"] = "ya29.fake"
    bare.env.update(FAKE_CLOUD=str(state), GOOGLE_PROJECT="demo")
    assert_refused(bare, bare("up", "--provider", "gcp"), *fragments)


# -- AWS: the vCPU quota before up, and what is really left after down -----------------

# An AWS CLI whose quotas, instance states and tagged resources are files in $FAKE_CLOUD:
# a file named by a quota code holds its value, one named by a resource id its state.
AWS = r"""#!/bin/sh
S="$FAKE_CLOUD"
missing() { echo "An error occurred ($1) when calling the $2 operation: $3" >&2; exit 254; }
case "$*" in
  "service-quotas get-service-quota --service-code ec2 --quota-code "*)
    [ -f "$S/denied" ] && missing AccessDeniedException GetServiceQuota "not authorized to perform: servicequotas:GetServiceQuota"
    [ -f "$S/$6" ] || missing NoSuchResourceException GetServiceQuota "The specified service quota does not exist."
    read -r V < "$S/$6"; echo "{\"Quota\": {\"QuotaCode\": \"$6\", \"Value\": $V}}";;
  "service-quotas get-aws-default-service-quota --service-code ec2 --quota-code "*)
    echo "{\"Quota\": {\"QuotaCode\": \"$6\", \"Value\": 5.0}}";;
  "ec2 describe-instance-types --instance-types m7i.large "*)
    echo '{"InstanceTypes": [{"InstanceType": "m7i.large", "VCpuInfo": {"DefaultVCpus": 2}}]}';;
  "ec2 describe-instance-types "*) missing InvalidInstanceType DescribeInstanceTypes "The following supplied instance types do not exist: [$4]";;
  "resourcegroupstaggingapi get-resources --region us-east-1 --tag-filters Key=scalecloud-cluster,Values=a1 --output json")
    read -r T < "$S/tagged"; echo "$T";;
  "resourcegroupstaggingapi get-resources "*) echo '{"ResourceTagMappingList": []}';;
  "ec2 describe-instances --instance-ids "*)
    [ -f "$S/$4" ] || missing InvalidInstanceID.NotFound DescribeInstances "The instance ID '$4' does not exist"
    read -r V < "$S/$4"; echo "{\"Reservations\": [{\"Instances\": [{\"InstanceId\": \"$4\", \"State\": {\"Name\": \"$V\"}}]}]}";;
  "ec2 describe-volumes --volume-ids "*)
    [ -f "$S/$4" ] || missing InvalidVolume.NotFound DescribeVolumes "The volume '$4' does not exist."
    read -r V < "$S/$4"; echo "{\"Volumes\": [{\"VolumeId\": \"$4\", \"State\": \"$V\"}]}";;
  "elbv2 describe-load-balancers "*) missing LoadBalancerNotFound DescribeLoadBalancers "One or more load balancers not found";;
  "ec2 describe-security-groups "*) missing RequestExpired DescribeSecurityGroups "Request has expired.";;
  *) echo "fake aws: unexpected: $*" >&2; exit 64;;
esac
"""


def arns(*resources: str) -> str:
    return json.dumps({"ResourceTagMappingList": [
        {"ResourceARN": f"arn:aws:{r}", "Tags": []} for r in resources
    ]})  # fmt: skip


@pytest.fixture
def aws_cloud(tmp_path, monkeypatch):
    bin_dir, state = tmp_path / "bin", tmp_path / "cloud"
    bin_dir.mkdir()
    state.mkdir()
    tool(bin_dir, "aws", AWS)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_CLOUD", str(state))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKE")
    return state


def test_aws_down_reports_only_resources_that_are_still_there(aws_cloud, tmp_path):
    """The tagging API still lists a terminated instance and a deleted load balancer:
    those are gone. A volume in use is a leftover; a security group whose lookup fails and
    a type scalecloud cannot look up stay leftovers too, marked unverified."""
    cli = FakePulumi()
    provider = AwsProvider(StateStore(tmp_path / "home"), pulumi_command=cli)
    provider._delete_dask_first = lambda name, kspec, on_event: None
    # A cluster that up made: its stack (through the stand-in CLI) and its record.
    spec = ClusterSpec(provider="aws", name="a1")
    kspec = kube_spec(spec)
    provider.stacks.stack(kspec, provider.stack_env(kspec)).up(color="never")
    provider.store.put("a1", {"name": "a1", "provider": "aws", "state": "running", "created": 0.0,
                              "spec": spec.to_dict(), "kube": kspec.to_dict()})  # fmt: skip
    (aws_cloud / "i-1").write_text("terminated")
    (aws_cloud / "i-2").write_text("shutting-down")
    (aws_cloud / "vol-1").write_text("in-use")
    (aws_cloud / "tagged").write_text(arns(
        "ec2:us-east-1:1:instance/i-1", "ec2:us-east-1:1:instance/i-2",
        "ec2:us-east-1:1:volume/vol-1", "ec2:us-east-1:1:security-group/sg-1",
        "elasticloadbalancing:us-east-1:1:loadbalancer/net/k8s-a1/0f1e",
        "ec2:us-east-1:1:key-pair/key-1",
    ))  # fmt: skip
    with pytest.raises(ScalecloudError) as caught:
        provider.down("a1", lambda e: None)
    message = caught.value.message
    assert "volume/vol-1," in message
    assert "security-group/sg-1 (not verified: An error occurred (RequestExpired)" in message
    assert "key-pair/key-1 (not verified: scalecloud cannot look up ec2 key-pair)" in message
    assert "i-1" not in message and "i-2" not in message and "loadbalancer" not in message
    assert provider.store.get("a1")["state"] == "leftovers"
    # The volume is deleted too; the tagging API still lists everything but the group.
    (aws_cloud / "vol-1").write_text("deleted")
    (aws_cloud / "tagged").write_text(arns(
        "ec2:us-east-1:1:instance/i-1", "ec2:us-east-1:1:instance/i-2",
        "ec2:us-east-1:1:volume/vol-1", "ec2:us-east-1:1:instance/i-3",
    ))  # fmt: skip
    events = []
    provider.down("a1", events.append)
    assert provider.store.get("a1") is None
    assert any("reports nothing labelled" in e.message for e in events)


def aws_refused(bare, files: dict[str, str], *args: str):
    state = bare.home.parent / "cloud"
    state.mkdir()
    for name, text in files.items():
        (state / name).write_text(text)
    tool(bare.bin_dir, "aws", AWS)
    fake_tool(bare.bin_dir, "pulumi", "v3.200.0")
    bare.env.update(FAKE_CLOUD=str(state), AWS_ACCESS_KEY_ID="AKIAFAKE")
    return bare("up", "--provider", "aws", *args)


@pytest.mark.parametrize(
    ("files", "args", "fragments"),
    [
        ({"L-1216C47A": "16"}, ["--max-nodes", "5"],
         ["'Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances' (L-1216C47A) in "
          "us-east-1 is 16 vCPUs; up needs 20: --max-nodes 5 × m6i.xlarge (4 vCPUs)",
          "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code "
          "L-1216C47A --desired-value 20 --region us-east-1", "or lower --max-nodes to 4"]),
        # --spot: the workers count against the spot quota, the scheduler's node against
        # the on-demand one (here its default, 5, once lowered to 0).
        ({"L-34B43A08": "64", "L-1216C47A": "0"}, ["--spot", "--max-nodes", "3"],
         ["(L-1216C47A) in us-east-1 is 0 vCPUs; up needs 2: the scheduler node 1 × m6i.large",
          "--desired-value 2"]),
        ({"L-34B43A08": "8"}, ["--spot", "--max-nodes", "3"],
         ["'All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests' (L-34B43A08)",
          "lower --max-nodes to 2"]),
        ({"L-DB2E81BA": "0"}, ["--gpu", "1", "--max-nodes", "2"],
         ["'Running On-Demand G and VT instances' (L-DB2E81BA) in us-east-1 is 0 vCPUs; up "
          "needs 8: --max-nodes 2 × g4dn.xlarge (4 vCPUs)", "--quota-code L-DB2E81BA"]),
        ({"denied": ""}, [],
         ["could not read the EC2 vCPU quota L-1216C47A in us-east-1: An error occurred "
          "(AccessDeniedException)", "servicequotas:GetServiceQuota"]),
        ({}, ["--machine-type", "m99.huge"], ["EC2 has no instance type 'm99.huge' in us-east-1"]),
    ],
)  # fmt: skip
def test_aws_up_is_refused_when_the_vcpu_quota_is_short(bare, files, args, fragments):
    assert_refused(bare, aws_refused(bare, files, *args), *fragments)


def test_the_quota_check_passes_what_fits_and_asks_ec2_for_unknown_types(aws_cloud, tmp_path):
    provider = AwsProvider(StateStore(tmp_path / "home"))

    def spec(**extra):
        return kube_spec(ClusterSpec(provider="aws", name="a1", extra=extra))

    (aws_cloud / "L-1216C47A").write_text("16")
    provider.check_credentials(spec(max_nodes=4))  # 16 of 16 vCPUs
    provider.check_credentials(spec(machine_type="m7i.large", max_nodes=8))  # 8 nodes of 2 vCPUs
    with pytest.raises(ScalecloudError, match=re.escape("up needs 18: --max-nodes 9 × m7i.large")):
        provider.check_credentials(spec(machine_type="m7i.large", max_nodes=9))
    (aws_cloud / "L-1216C47A").unlink()  # never adjusted: the default quota (5) applies
    with pytest.raises(ScalecloudError, match=r"is 5 vCPUs; up needs 8"):
        provider.check_credentials(spec(max_nodes=2))


# -- Azure: the resource provider AKS needs ----------------------------------------------

AZ = r"""#!/bin/sh
case "$*" in
  "provider show --namespace Microsoft.ContainerService --query registrationState --output json --subscription sub-1")
    [ -f "$FAKE_CLOUD/offline" ] && { echo "HTTPSConnectionPool(host='management.azure.com', port=443): Max retries exceeded" >&2; exit 1; }
    read -r V < "$FAKE_CLOUD/state"; echo "\"$V\"";;
  *) echo "fake az: unexpected: $*" >&2; exit 64;;
esac
"""


@pytest.mark.parametrize(
    ("state", "fragments"),
    [
        ("NotRegistered", ["Microsoft.ContainerService is NotRegistered in the subscription",
                           "az provider register --namespace Microsoft.ContainerService"]),
        ("Registering", ["still being registered", "wait a few minutes"]),
        ("offline", ["could not check that Microsoft.ContainerService is registered: "
                     "HTTPSConnectionPool", "az provider show --namespace"]),
    ],
)  # fmt: skip
def test_azure_up_is_refused_until_aks_is_registered(bare, state, fragments):
    cloud = bare.home.parent / "cloud"
    cloud.mkdir()
    (cloud / ("offline" if state == "offline" else "state")).write_text(state)
    tool(bare.bin_dir, "az", AZ)
    fake_tool(bare.bin_dir, "pulumi", "v3.200.0")
    bare.env.update(FAKE_CLOUD=str(cloud), ARM_CLIENT_ID="c", ARM_TENANT_ID="t",
                    ARM_SUBSCRIPTION_ID="sub-1")  # fmt: skip
    assert_refused(bare, bare("up", "--provider", "azure"), *fragments)


def test_azure_preflight_passes_once_registered(tmp_path, monkeypatch):
    (tmp_path / "state").write_text("Registered")
    tool(tmp_path, "az", AZ)
    fake_tool(tmp_path, "pulumi", "v3.200.0")
    monkeypatch.setenv("PATH", str(tmp_path))
    for var, value in (("FAKE_CLOUD", str(tmp_path)), ("ARM_CLIENT_ID", "c"),
                       ("ARM_TENANT_ID", "t"), ("ARM_SUBSCRIPTION_ID", "sub-1")):  # fmt: skip
        monkeypatch.setenv(var, value)
    AzureProvider(StateStore(tmp_path / "home")).preflight(
        kube_spec(ClusterSpec(provider="azure", name="z1"))
    )

"""The Pulumi stack driver (PulumiProvider) and the preflight checks, offline.

The Automation API runs the ``pulumi`` CLI for every operation. Here a PulumiCommand
subclass stands in for it: it records each call, emulates a file backend (stack files,
resources, a lock left by an interrupted update) and writes engine events to the event
log the API tails. What these tests cannot show: that the real CLI and clouds behave
like the fake (the cloud-marked tests in test_kube_live.py do that where they can run).
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.gcp import GcpProvider
from scalecloud.infra.kube.readiness import Readiness
from scalecloud.infra.spec import ClusterSpec
from scalecloud.infra.state import StateStore

auto = pytest.importorskip("pulumi.automation")
from pulumi.automation._cmd import CommandResult  # noqa: E402
from pulumi.automation.errors import create_command_error  # noqa: E402
from semver import VersionInfo  # noqa: E402

RESOURCES = ("scalecloud:gcp:GkeCluster", "gcp:container/cluster:Cluster",
             "gcp:container/nodePool:NodePool")  # fmt: skip


class FakePulumi(auto.PulumiCommand):
    """Records calls and answers like the CLI would on a file backend."""

    def __init__(self) -> None:  # no version probe: there is no binary
        self.command = "pulumi"
        self.version = VersionInfo.parse("3.200.0")
        self.calls: list[list[str]] = []
        self.envs: list[dict[str, str]] = []
        self.stacks: dict[str, list[str]] = {}
        self.locked: set[str] = set()
        self.fail_destroy = 0
        self.leave_behind: list[str] = []
        self.fail_up = False

    def _stack_file(self, env, name) -> Path:
        root = Path(env["PULUMI_BACKEND_URL"].removeprefix("file://"))
        return root / ".pulumi" / "stacks" / "scalecloud" / f"{name}.json"

    @staticmethod
    def _events(args, urns, op) -> None:
        """Engine events as the CLI writes them; the cancel event ends the log."""
        if "--event-log" not in args:
            return
        with Path(args[args.index("--event-log") + 1]).open("a") as log:
            for seq, urn in enumerate(urns):
                meta = {"op": op, "urn": urn, "type": urn.split("::")[2], "provider": ""}
                for key, n in (("resourcePreEvent", 2 * seq), ("resOutputsEvent", 2 * seq + 1)):
                    log.write(json.dumps({"sequence": n, "timestamp": 0, key: {"metadata": meta}}))
                    log.write("\n")
            log.write(json.dumps({"sequence": 999, "timestamp": 0, "cancelEvent": {}}) + "\n")

    def run(self, args, cwd, additional_env, on_output=None, on_error=None):
        args = list(args)
        self.calls.append(args)
        self.envs.append(dict(additional_env))
        name = args[args.index("--stack") + 1] if "--stack" in args else args[-1]
        verb = args[0] if args[0] != "stack" else f"stack {args[1]}"

        def fail(message: str):
            raise create_command_error(CommandResult(stdout="", stderr=message, code=255))

        out = ""
        if verb == "up":
            if self.fail_up:
                self._events(args, [], "create")
                self.locked.add(name)
                fail("error: update failed: quota exceeded")
            urns = [
                f"urn:pulumi:{name}::scalecloud::{t}::{name}-{i}" for i, t in enumerate(RESOURCES)
            ]
            self._events(args, urns, "create")
            self.stacks[name] = urns
            path = self._stack_file(additional_env, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}")
        elif verb == "stack output":
            outputs = {
                "kubeconfig": "apiVersion: v1\nkind: Config\n",
                "namespace": f"scalecloud-{name}",
            }
            if "--show-secrets" not in args:
                outputs["kubeconfig"] = "[secret]"
            out = json.dumps(outputs)
        elif verb == "stack history":
            out = json.dumps([{"kind": "update", "startTime": "2026-11-25T12:00:00.000000Z",
                               "message": "", "environment": {}, "config": {}, "result": "succeeded"}])  # fmt: skip
        elif verb == "cancel":
            if name not in self.locked:
                fail("error: no stack update in progress")
            self.locked.discard(name)
        elif verb == "refresh":
            if name in self.locked:
                fail("error: the stack is locked")
        elif verb == "destroy":
            if name in self.locked:
                self._events(args, [], "delete")
                fail("error: the stack is locked")
            if self.fail_destroy:
                self._events(args, [], "delete")
                self.fail_destroy -= 1
                self.locked.add(name)  # killed half-way: lock and pending deletes remain
                self.stacks[name] = self.stacks.get(name, [])[1:]
                fail("error: interrupted")
            self._events(args, self.stacks.get(name, []), "delete")
            self.stacks[name] = list(self.leave_behind)
        elif verb == "stack export":
            resources = [{"urn": u, "type": u.split("::")[2]} for u in self.stacks.get(name, [])]
            resources.insert(0, {"urn": "urn:stack", "type": "pulumi:pulumi:Stack"})
            out = json.dumps({"version": 3, "deployment": {"resources": resources}})
        elif verb == "stack rm":
            self.stacks.pop(name, None)
            self._stack_file(additional_env, name).unlink(missing_ok=True)
        return CommandResult(stdout=out, stderr="", code=0)

    def verbs(self) -> list[str]:
        return [c[0] if c[0] != "stack" else f"stack {c[1]}" for c in self.calls]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_PROJECT", "demo-project")
    fake = FakePulumi()
    provider = GcpProvider(StateStore(tmp_path / "home"), pulumi_command=fake)
    provider.tools = ()  # no gke-gcloud-auth-plugin here
    provider.check_credentials = lambda spec: None
    # No cluster behind the fake: kr8s's view of it is canned too.
    fake.live = {"nodes": 2, "scheduler_ready": True, "dask_cluster": True,
                 "workers": [{"name": "w-1", "phase": "Running"}, {"name": "w-2", "phase": "Pending"}]}  # fmt: skip
    provider._live = lambda name, kspec: fake.live
    # What up waits for after Pulumi: the Dask pods, as the fake cluster reports them.
    fake.readiness = [Readiness(scheduler_ready=True, workers_ready=1, workers=1)]
    fake.reached = []
    provider._readiness = lambda name, kspec: (
        fake.readiness.pop(0) if len(fake.readiness) > 1 else fake.readiness[0]
    )
    provider._reach = lambda info: fake.reached.append(info.name) or True
    fake.images = []  # the registry: every image exists
    provider._image_exists = lambda image: fake.images.append(image) or True
    provider._logs = lambda name, kspec, problem: ["pip: No matching distribution", "exit 1"]
    provider._delete_dask_first = lambda name, kspec, on_event: fake.calls.append(["delete-dask"])
    fake.cloud_left = []
    provider.cloud_leftovers = lambda kspec: fake.cloud_left
    return provider, fake


def spec(name: str = "t1") -> ClusterSpec:
    return ClusterSpec(provider="gcp", name=name, adapt=(1, 4), extra={"spot": True})


def test_up_runs_one_stack_on_a_private_file_backend(fake):
    provider, cli = fake
    events = []
    info = provider.up(spec(), events.append)
    assert info.state == "running" and info.provider == "gcp"
    assert cli.verbs()[:2] == ["stack select", "up"]
    up_env = cli.envs[cli.verbs().index("up")]
    home = provider.store.home
    assert up_env["PULUMI_BACKEND_URL"] == f"file://{home / 'pulumi'}"
    assert up_env["GOOGLE_PROJECT"] == "demo-project" and up_env["GOOGLE_ZONE"] == "us-central1-a"
    passphrase = home / "pulumi" / "passphrase"
    assert up_env["PULUMI_CONFIG_PASSPHRASE"] == passphrase.read_text().strip()
    assert len(up_env["PULUMI_CONFIG_PASSPHRASE"]) >= 32
    for private in (passphrase, home / "clusters" / "t1.kubeconfig"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    progress = [e.data for e in events if e.kind == "resources"]
    assert progress[-1] == {"done": 3, "total": 3}
    record = provider.store.get("t1")
    assert record["state"] == "running" and record["kube"]["spot"] is True
    assert record["outputs"] == {"namespace": "scalecloud-t1"}  # the kubeconfig is not in it
    # The passphrase is made once: a second cluster reuses it.
    provider.up(spec("t2"), events.append)
    assert cli.envs[-1]["PULUMI_CONFIG_PASSPHRASE"] == up_env["PULUMI_CONFIG_PASSPHRASE"]


def test_up_of_a_running_cluster_changes_nothing(fake):
    provider, cli = fake
    first = provider.up(spec(), lambda e: None)
    calls = len(cli.calls)
    again = provider.up(spec(), lambda e: None)
    assert again.created == first.created and len(cli.calls) == calls


def test_status_shows_nodes_workers_image_and_cost(fake):
    provider, cli = fake
    provider.up(spec(), lambda e: None)
    info = provider.status("t1")
    assert info.state == "running" and info.adapt == (1, 4)
    assert [w.address for w in info.workers] == ["w-1"]  # running pods only
    assert info.details["nodes"] == [
        1,
        2,
    ]  # 3 workers fit on a node and info.details["live_nodes"] == 2
    assert info.details["spot"] is True
    assert info.details["image"].startswith("official Dask image")
    low, high = info.details["hourly_cost_range"]
    assert 0 < low < high and info.hourly_cost == low
    cli.live = dict(cli.live, dask_cluster=False)
    assert provider.status("t1").state == "idle-stopped"
    cli.live = None
    assert provider.status("t1").state == "unreachable"
    provider.up(ClusterSpec(provider="gcp", name="t3", extra={"image": "reg.example/ml:2"}), print)
    assert provider.status("t3").details["image"] == "reg.example/ml:2"
    assert provider.status("t3").scheduler_address.startswith("port-forward to ")
    cli.live = {"nodes": 1, "scheduler_ready": True, "dask_cluster": True, "workers": [],
                "load_balancer": "34.1.2.3"}  # fmt: skip
    exposed = provider.status("t3")
    assert exposed.scheduler_address == "tcp://34.1.2.3:8786"
    assert exposed.dashboard_url == "http://34.1.2.3:8787/status"


def test_up_brings_back_an_idle_stopped_cluster_and_refuses_one_being_destroyed(fake):
    provider, cli = fake
    first = provider.up(spec(), lambda e: None)
    cli.live = dict(cli.live, dask_cluster=False)  # the operator's idle timeout struck
    ups = [c for c in cli.calls if c[0] == "up"]
    events = []

    def back_up(event):
        events.append(event)
        cli.live = dict(cli.live, dask_cluster=True)  # the update recreates it

    again = provider.up(spec(), back_up)
    new_ups = [c for c in cli.calls if c[0] == "up"][len(ups) :]
    assert len(new_ups) == 1 and "--refresh" in new_ups[0]
    assert again.state == "running" and again.created == first.created
    assert any("idle-stopped; updating its stack" in e.message for e in events)
    record = provider.store.get("t1")
    provider.store.put("t1", dict(record, state="destroying"))
    with pytest.raises(ScalecloudError, match="being torn down"):
        provider.up(spec(), lambda e: None)


def test_scale_updates_the_stack_with_the_new_range(fake):
    provider, cli = fake
    provider.up(spec(), lambda e: None)
    ups = cli.verbs().count("up")
    provider.scale("t1", None, (2, 8))
    assert cli.verbs().count("up") == ups + 1
    kube = provider.store.get("t1")["kube"]
    assert (kube["workers_min"], kube["workers_max"]) == (2, 8)
    provider.scale("t1", 3, None)
    assert provider.status("t1").adapt is None
    with pytest.raises(ScalecloudError, match="not running"):
        provider.scale("nope", 1, None)


def test_down_destroys_checks_and_removes_everything_and_is_idempotent(fake):
    provider, cli = fake
    provider.up(spec(), lambda e: None)
    start = len(cli.calls)
    events = []
    provider.down("t1", events.append)
    verbs = cli.verbs()[start:]
    assert verbs.index("delete-dask") < verbs.index("refresh") < verbs.index("destroy")
    assert verbs.index("destroy") < verbs.index("stack export")
    assert verbs[-1] == "stack rm"
    refresh = cli.calls[start + verbs.index("refresh")]
    assert "--clear-pending-creates" in refresh
    assert provider.store.get("t1") is None and "t1" not in cli.stacks
    assert not (provider.store.clusters_dir / "t1.kubeconfig").exists()
    assert any("held nothing" in e.message for e in events)
    calls = len(cli.calls)
    provider.down("t1", lambda e: None)
    assert len(cli.calls) == calls


def test_down_resumes_a_half_finished_destroy(fake):
    provider, cli = fake
    provider.up(spec(), lambda e: None)
    cli.fail_destroy = 1
    with pytest.raises(ScalecloudError, match="resumes where this stopped"):
        provider.down("t1", lambda e: None)
    assert provider.store.get("t1")["state"] == "destroying" and "t1" in cli.locked
    start = len(cli.calls)
    provider.down("t1", lambda e: None)
    verbs = cli.verbs()[start:]
    assert verbs.index("cancel") < verbs.index("refresh") < verbs.index("destroy")
    assert provider.store.get("t1") is None and "t1" not in cli.stacks


def test_down_does_not_cancel_an_up_still_running_elsewhere(fake):
    import subprocess

    import psutil

    provider, cli = fake
    provider.up(spec(), lambda e: None)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # another terminal's up, half-way: its record and its stack lock
        record = provider.store.get("t1")
        owner = {"pid": other.pid, "started": psutil.Process(other.pid).create_time()}
        provider.store.put("t1", {**record, "state": "creating", "owner": owner})
        cli.locked.add("t1")
        start = len(cli.calls)
        with pytest.raises(
            ScalecloudError, match=f"being created by another scalecloud .pid {other.pid}"
        ):
            provider.down("t1", lambda e: None)
        assert cli.calls[start:] == [] and "t1" in cli.locked
        assert provider.store.get("t1")["state"] == "creating"
    finally:
        other.kill()
        other.wait()
    provider.down("t1", lambda e: None)  # its up is gone: the lock is stale, down resumes
    assert "cancel" in cli.verbs()[start:] and provider.store.get("t1") is None


def test_down_refuses_to_forget_what_destroy_left(fake):
    provider, cli = fake
    provider.up(spec(), lambda e: None)
    cli.leave_behind = ["urn:pulumi:t1::scalecloud::gcp:container/nodePool:NodePool::t1-workers"]
    with pytest.raises(
        ScalecloudError, match="still holds: gcp:container/nodePool:NodePool t1-workers"
    ):
        provider.down("t1", lambda e: None)
    assert provider.store.get("t1") is not None and "t1" in cli.stacks


def test_down_asks_the_cloud_and_keeps_the_record_while_it_reports_leftovers(fake):
    provider, cli = fake
    provider.up(spec(), lambda e: None)
    cli.cloud_left = ["arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/a1"]
    with pytest.raises(
        ScalecloudError, match="still reports for 't1': arn:aws:elasticloadbalancing"
    ):
        provider.down("t1", lambda e: None)
    assert provider.store.get("t1")["state"] == "leftovers" and "t1" not in cli.stacks
    cli.cloud_left = []
    start = len(cli.calls)
    events = []
    provider.down("t1", events.append)  # re-checks without a stack to destroy
    assert "destroy" not in cli.verbs()[start:] and provider.store.get("t1") is None
    assert any("reports nothing labelled" in e.message for e in events)
    cli.cloud_left = None
    provider.up(spec("t4"), lambda e: None)
    events = []
    provider.down("t4", events.append)  # cannot ask: says so, and finishes
    assert any(e.kind == "warning" and "could not ask gcp" in e.message for e in events)


def script(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_cloud_leftover_queries_read_each_clouds_cli(tmp_path, monkeypatch):
    from scalecloud.infra.aws import AwsProvider
    from scalecloud.infra.azure import AzureProvider
    from scalecloud.infra.kube.spec import kube_spec

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("GOOGLE_PROJECT", "demo")
    store = StateStore(tmp_path / "home")
    aws_spec = kube_spec(ClusterSpec(provider="aws", name="t1"))
    assert AwsProvider(store).cloud_leftovers(aws_spec) is None  # no aws CLI: cannot tell
    script(
        tmp_path,
        "aws",
        """case "$*" in
  *"Key=scalecloud-cluster,Values=t1"*) echo '{"ResourceTagMappingList": [{"ResourceARN": "arn:aws:ec2:us-east-1:1:vpc/vpc-1"}]}';;
  *"Key=kubernetes.io/cluster/scalecloud-t1,Values=owned"*) echo '{"ResourceTagMappingList": [{"ResourceARN": "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/a1"}]}';;
  "ec2 describe-vpcs --vpc-ids vpc-1 --region us-east-1 --output json") echo '{"Vpcs": [{"VpcId": "vpc-1"}]}';;
  "elb describe-load-balancers --load-balancer-names a1 --region us-east-1 --output json") echo '{"LoadBalancerDescriptions": [{}]}';;
  *) exit 3;;
esac
""",
    )
    assert AwsProvider(store).cloud_leftovers(aws_spec) == [
        "arn:aws:ec2:us-east-1:1:vpc/vpc-1", "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/a1"
    ]  # fmt: skip
    script(
        tmp_path,
        "gcloud",
        """case "$*" in
  *"container clusters list --filter=resourceLabels.scalecloud-cluster=t1 --project demo"*) echo '[{"name": "t1-gke"}]';;
  *"forwarding-rules"*"description~scalecloud-t1/"*) echo '[]';;
  *"disks list"*) echo '[{"name": "pvc-1"}]';;
  *) exit 3;;
esac
""",
    )
    gcp_spec = kube_spec(ClusterSpec(provider="gcp", name="t1"))
    assert GcpProvider(store).cloud_leftovers(gcp_spec) == ["cluster t1-gke", "disk pvc-1"]
    script(
        tmp_path,
        "az",
        """case "$*" in
  "resource list --tag scalecloud-cluster=t1 --output json") echo '[]';;
  "group exists --name scalecloud-t1 --output json") echo 'false';;
  *) exit 3;;
esac
""",
    )
    azure_spec = kube_spec(ClusterSpec(provider="azure", name="t1"))
    assert AzureProvider(store).cloud_leftovers(azure_spec) == []
    script(tmp_path, "az", "exit 1\n")  # not logged in
    assert AzureProvider(store).cloud_leftovers(azure_spec) is None


def test_a_failed_up_is_recorded_and_down_cleans_it(fake):
    provider, cli = fake
    cli.fail_up = True
    with pytest.raises(ScalecloudError, match="quota exceeded") as caught:
        provider.up(spec(), lambda e: None)
    assert "scalecloud down --name t1" in caught.value.hint
    assert provider.store.get("t1")["state"] == "creating"
    cli.fail_up = False
    cli.stacks["t1"] = []  # the update had created nothing
    Path(cli._stack_file(cli.envs[-1], "t1")).parent.mkdir(parents=True, exist_ok=True)
    cli._stack_file(cli.envs[-1], "t1").write_text("{}")
    provider.down("t1", lambda e: None)
    assert provider.store.get("t1") is None


# -- preflight, through the real CLI ------------------------------------------------------


@pytest.fixture
def bare(cli, tmp_path):
    """The CLI with no pulumi, no cloud tools and an empty home directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    home = tmp_path / "user"
    home.mkdir()
    cli.env.update(PATH=str(bin_dir), HOME=str(home))  # gcloud etc. live in /usr/bin here
    for var in list(cli.env):
        if var.startswith(("AWS_", "GOOGLE_", "CLOUDSDK_", "ARM_", "AZURE_")):
            del cli.env[var]
    cli.bin_dir = bin_dir
    return cli


def fake_tool(bin_dir: Path, name: str, output: str = "") -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(0o755)


def assert_refused(cli, result, *fragments: str) -> None:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 1 and len(lines) == 1, result.err
    assert lines[0].startswith("Error: ") and " Hint: " in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    # Nothing was created: no record, no Pulumi backend, no passphrase.
    assert cli.records() == []
    assert not (cli.home / "pulumi").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell scripts stand in for tools")
def test_up_without_the_pulumi_cli_fails_with_the_install_hint_and_creates_nothing(bare):
    result = bare("up", "--provider", "gcp")
    assert_refused(bare, result, "the Pulumi CLI (pulumi) is not installed", "get.pulumi.com",
                   "scalecloud up --install-pulumi")  # fmt: skip


def test_a_pulumi_cli_in_the_state_directory_serves_preflight_and_the_stacks(bare):
    """--install-pulumi's place: preflight finds it, and the stacks run that same CLI."""
    from scalecloud.infra.kube.preflight import find_pulumi_cli

    installed = bare.home / "pulumi-cli" / "bin"
    installed.mkdir(parents=True)
    fake_tool(installed, "pulumi", "v3.200.0")
    path, found = find_pulumi_cli(bare.home)
    assert path == str(installed / "pulumi") and found == "v3.200.0"
    provider = GcpProvider(StateStore(bare.home))
    provider._use_pulumi_cli()
    assert Path(provider.stacks.pulumi_command.command) == installed / "pulumi"
    result = bare("up", "--provider", "aws")  # past the CLI check: now the AWS CLI is missing
    assert_refused(bare, result, "aws is not installed")


def test_an_old_pulumi_cli_is_refused(bare):
    fake_tool(bare.bin_dir, "pulumi", "v3.99.0")
    result = bare("up", "--provider", "aws")
    assert_refused(bare, result, "is v3.99.0; scalecloud needs 3.150.0 or newer", "self-update")


@pytest.mark.parametrize(
    ("provider", "tools", "fragments"),
    [
        ("gcp", ["gcloud", "gke-gcloud-auth-plugin"], ["application-default credentials", "gcloud auth application-default login"]),
        ("gcp", ["gcloud"], ["gke-gcloud-auth-plugin is not installed", "gcloud components install"]),
        ("gcp", ["gke-gcloud-auth-plugin"], ["gcloud is not installed", "cloud.google.com/sdk"]),
        ("aws", ["aws"], ["no AWS credentials", "aws configure"]),
        ("aws", [], ["aws is not installed", "AWS CLI"]),
        ("azure", ["az"], ["no Azure credentials", "az login"]),
        ("azure", [], ["az is not installed", "install-azure-cli"]),
        ("minikube", [], ["minikube is not installed", "minikube.sigs.k8s.io"]),
    ],
)  # fmt: skip
def test_missing_tools_and_credentials_are_refused_before_any_state(
    bare, provider, tools, fragments
):
    fake_tool(bare.bin_dir, "pulumi", "v3.200.0")
    for tool in tools:
        fake_tool(bare.bin_dir, tool, "[]")  # gcloud auth list: no account
    assert_refused(bare, bare("up", "--provider", provider), *fragments)


def test_a_missing_extra_names_the_pip_command(monkeypatch):
    import importlib.util

    from scalecloud.infra.kube.spec import require_extra

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pulumi_azure_native" else real(name, *a),
    )
    with pytest.raises(ScalecloudError) as caught:
        require_extra("azure")
    assert "pulumi_azure_native" in caught.value.message
    assert caught.value.hint == 'install it with: pip install "scalecloud[azure]"'
    require_extra("gcp")  # installed here


def test_cloud_flags_are_refused_for_the_local_provider(cli):
    result = cli("up", "--spot", "--region", "eu-west-1")
    assert_refused(cli, result, "--region, --spot apply to the Kubernetes providers only")


def test_status_and_submit_of_an_unreachable_cloud_cluster_through_the_cli(bare):
    import time

    from scalecloud.infra.kube.spec import kube_spec

    cluster = ClusterSpec(provider="gcp", name="s1", adapt=(1, 4), extra={"spot": True})
    record = {"name": "s1", "provider": "gcp", "state": "running", "created": time.time(),
              "spec": cluster.to_dict(), "kube": kube_spec(cluster).to_dict(), "prepared": {}}  # fmt: skip
    StateStore(bare.home).put("s1", record)
    status = bare("status", "--json", check=True).json()[0]
    assert status["state"] == "unreachable" and status["provider"] == "gcp"
    assert status["details"]["nodes"] == [1, 2] and status["details"]["spot"] is True
    text = bare("status", check=True).out
    assert "USD/hour" in text and "official Dask image" in text and "1-2 × e2-standard-4" in text
    submit = bare("submit", "kmeans", "--set", "n_blocks=1")
    assert submit.code == 1 and "cannot reach the scheduler Service of 's1'" in submit.err
    # env goes through the port-forward too, never dialing status's "port-forward to ..."
    env = bare("env", "--name", "s1")
    assert env.code == 1 and "cluster 's1' is unreachable" in env.err, env.err
    assert "port-forward to" not in env.err and "Traceback" not in env.err
    down = bare("down", "--name", "s1")  # no pulumi here: refused, and the record is kept
    assert down.code == 1 and "Pulumi CLI" in down.err and bare.records() == ["s1.json"]
    (bare.home / "clusters" / "s1.json").unlink()  # the fixture's cleanup needs pulumi too


def test_minikube_is_started_when_stopped_and_left_as_found(tmp_path, monkeypatch):
    from scalecloud.infra.minikube import MinikubeProvider

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log, state = tmp_path / "minikube.log", tmp_path / "minikube.state"
    state.write_text("Stopped")
    script(bin_dir, "minikube", f"""echo "$*" >> {log}
case "$1" in
  status) cat {state};;
  start) echo Running > {state};;
  stop) echo Stopped > {state};;
esac
""")  # fmt: skip
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    cli = FakePulumi()
    provider = MinikubeProvider(StateStore(tmp_path / "home"), pulumi_command=cli)
    provider._live = lambda name, kspec: {"nodes": 1, "scheduler_ready": True,
                                         "dask_cluster": True, "workers": []}  # fmt: skip
    provider._delete_dask_first = lambda name, kspec, on_event: None
    provider._readiness = lambda name, kspec: Readiness(True, 1, 1)
    provider._reach = lambda info: True
    provider._image_exists = lambda image: True
    provider.cloud_leftovers = lambda kspec: []
    provider.up(ClusterSpec(provider="minikube", name="m1", workers=1), lambda e: None)
    assert provider.store.get("m1")["prepared"] == {"started_minikube": True}
    assert log.read_text().splitlines()[-1] == "start"
    provider.down("m1", lambda e: None)
    assert log.read_text().splitlines()[-1] == "stop" and state.read_text().strip() == "Stopped"
    # Running before: running after.
    state.write_text("Running")
    seen = len(log.read_text().splitlines())
    provider.up(ClusterSpec(provider="minikube", name="m2", workers=1), lambda e: None)
    provider.down("m2", lambda e: None)
    assert log.read_text().splitlines()[seen:] == ["status --format {{.Host}}"]
    assert state.read_text().strip() == "Running"


class FakeService:
    """A kr8s Service as the API returns it: its raw object, and port-forwards on demand."""

    def __init__(self, raw: dict) -> None:
        self.raw = raw
        self.forwards: list[int] = []

    def portforward(self, remote_port: int, local_port: str = "auto"):
        from contextlib import contextmanager

        @contextmanager
        def forward():
            self.forwards.append(remote_port)
            yield 40000 + len(self.forwards)

        return forward()


def test_connect_port_forwards_or_with_expose_uses_the_load_balancer(fake, monkeypatch):
    import kr8s
    from kr8s.objects import Service
    from scalecloud.infra.kube.live import load_balancer_host

    provider, _ = fake
    service = FakeService({"status": {"loadBalancer": {}}})
    monkeypatch.setattr(kr8s, "api", lambda **kwargs: SimpleNamespace())  # takes .timeout
    monkeypatch.setattr(Service, "get", staticmethod(lambda *args, **kwargs: service))

    info = provider.up(spec("private"), lambda e: None)
    with provider.connect(info) as local:
        assert local.scheduler_address == "tcp://127.0.0.1:40001"
        assert local.dashboard_url == "http://127.0.0.1:40002/status"
    assert service.forwards == [8786, 8787]

    exposed = ClusterSpec(provider="gcp", name="open", extra={"expose_cidr": "203.0.113.7/32"})
    info = provider.up(exposed, lambda e: None)
    # No address from the cloud yet: still the port-forward.
    with provider.connect(info) as local:
        assert local.scheduler_address.startswith("tcp://127.0.0.1:")
    service.raw = {"status": {"loadBalancer": {"ingress": [{"ip": "34.1.2.3"}]}}}
    service.forwards.clear()
    with provider.connect(info) as direct:
        assert direct.scheduler_address == "tcp://34.1.2.3:8786"
        assert direct.dashboard_url == "http://34.1.2.3:8787/status"
    assert service.forwards == []
    assert (
        load_balancer_host(
            {"status": {"loadBalancer": {"ingress": [{"hostname": "a.elb.amazonaws.com"}]}}}
        )
        == "a.elb.amazonaws.com"
    )


def test_the_stacks_run_the_pulumi_cli_that_preflight_found(tmp_path, monkeypatch):
    """Preflight accepts ~/.pulumi/bin/pulumi off PATH; the stacks must then run that one
    (the Automation API alone looks on PATH only)."""
    home = tmp_path / "user"
    cli = home / ".pulumi" / "bin" / "pulumi"
    cli.parent.mkdir(parents=True)
    cli.write_text("#!/bin/sh\necho v3.210.0\n")
    cli.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    provider = GcpProvider(StateStore(tmp_path / "state"))
    provider._use_pulumi_cli()
    assert provider.stacks.pulumi_command is not None
    assert provider.stacks.pulumi_command.command == str(cli)


def test_install_pulumi_puts_the_sdks_cli_in_the_state_directory(tmp_path, monkeypatch):
    """The download itself needs the network (PulumiCommand.install from get.pulumi.com):
    here it is replaced by one that writes a CLI where the SDK's installer would."""
    from pulumi import automation as auto

    import scalecloud
    from scalecloud.cluster import needs_pulumi_cli, pulumi_cli

    monkeypatch.setenv("SCALECLOUD_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    roots = []

    def fake_install(cls, root=None, version=None, skip_version_check=False):
        roots.append(root)
        Path(root, "bin").mkdir(parents=True)
        fake_tool(Path(root, "bin"), "pulumi", "v3.200.0")

    assert pulumi_cli() is None and needs_pulumi_cli("gcp") and not needs_pulumi_cli("local")
    monkeypatch.setattr(auto.PulumiCommand, "install", classmethod(fake_install))
    events = []
    path = scalecloud.install_pulumi(on_event=events.append)
    assert roots == [str(tmp_path / "state" / "pulumi-cli")]
    assert path == pulumi_cli() == str(tmp_path / "state" / "pulumi-cli" / "bin" / "pulumi")
    assert not needs_pulumi_cli("gcp") and events[0].kind == "step"

    def offline(cls, root=None, version=None, skip_version_check=False):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(auto.PulumiCommand, "install", classmethod(offline))
    with pytest.raises(
        ScalecloudError,
        match=r"could not install the Pulumi CLI into .*: Temporary failure in name resolution",
    ) as caught:
        scalecloud.install_pulumi(on_event=events.append)
    assert "get.pulumi.com" in caught.value.hint

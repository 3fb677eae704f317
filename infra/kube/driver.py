"""The Pulumi stack driver behind the gcp, aws, azure and minikube providers.

:class:`PulumiProvider` implements the Provider protocol with the Pulumi Automation API:
an inline program (``infra/<provider>.py``), a local file backend inside scalecloud's state
directory (no Pulumi account), one stack per cluster name, secrets encrypted with a
passphrase generated once and kept with 0600 permissions. Every precondition (Pulumi CLI,
the SDK extra, credentials, tools) is checked before any state is written. ``down``
cancels a stuck update, refreshes, destroys, checks that the stack holds nothing, removes
the stack and the record; it is idempotent and resumes a half-finished destroy.

Subclasses (one per provider module) say how to check credentials and how to reach the
cluster; the program itself comes from :data:`scalecloud.infra.plan.PROGRAMS`.
"""

from __future__ import annotations

import shutil
import time
from contextlib import suppress
from pathlib import Path
from typing import Any, ClassVar

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.infra.kube.live import status_rows
from scalecloud.infra.kube.preflight import find_pulumi_cli
from scalecloud.infra.kube.reach import DASHBOARD_PORT, SCHEDULER_PORT, KubeReach
from scalecloud.infra.kube.spec import KubeSpec, kube_spec, require_extra
from scalecloud.infra.kube.stack import StackBackend, engine_events, last_line
from scalecloud.infra.provider import ClusterInfo, ClusterState, WorkerInfo
from scalecloud.infra.spec import ClusterSpec
from scalecloud.infra.state import StateStore, owner_alive, owner_stamp

PROJECT = "scalecloud"


class PulumiProvider(KubeReach):
    """A Dask cluster on Kubernetes, declared by a Pulumi program and driven by its stack."""

    name: ClassVar[str]
    # Command-line tools the user needs besides pulumi: (binary, install hint).
    tools: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self, store: StateStore | None = None, pulumi_command: Any = None) -> None:
        self.store = store or StateStore()
        # A PulumiCommand (tests pass one that records arguments); None: the CLI on PATH.
        self.pulumi_command = pulumi_command
        self.stacks = StackBackend(self.store, pulumi_command)

    # -- what each provider module says ----------------------------------------------

    def check_credentials(self, spec: KubeSpec) -> None:
        """Raise ScalecloudError with the login command when credentials are missing."""

    def prepare(self, spec: KubeSpec, on_event: EventFn) -> dict[str, Any]:
        """Bring up what the program assumes (minikube starts it); runs after preflight.
        What it returns is kept in the record and handed to ``release``."""
        del spec, on_event  # Unused.
        return {}

    def release(self, record: dict[str, Any], on_event: EventFn) -> None:
        """Undo ``prepare`` after destroy (minikube stops it if scalecloud started it)."""
        del record, on_event  # Unused.

    def stack_env(self, spec: KubeSpec) -> dict[str, str]:
        """Environment for the cloud SDK's provider plugin (region, project)."""
        del spec  # Unused.
        return {}

    # -- the Provider protocol -------------------------------------------------------

    def preflight(self, spec: KubeSpec) -> None:
        """Every check ``up`` makes before writing any state; each error says the fix."""
        require_extra(spec.provider)
        self._use_pulumi_cli()
        for tool, hint in self.tools:
            if shutil.which(tool) is None:
                raise ScalecloudError(
                    f"{tool} is not installed (the {self.name} provider needs it)", hint
                )
        self.check_credentials(spec)

    def _check_image(self, spec: KubeSpec, on_event: EventFn) -> None:
        """Before anything exists: the image's tag must be in its registry."""
        from scalecloud.infra.image import official_image

        image = spec.image or official_image()
        found = self._image_exists(image)
        if found is None:
            on_event(Event("warning", f"could not check that {image} exists (a private "
                                      "registry, or no network); pods fail if it does not"))  # fmt: skip
        elif not found:
            why = (
                "the official Dask images appear only once conda-forge has the release, "
                "and only for the Pythons they are built for; "
                if not spec.image
                else ""
            )
            raise ScalecloudError(
                f"the image {image} does not exist in its registry",
                f"{why}build and push one: scalecloud image --push REGISTRY/NAME, then "
                "up --image REGISTRY/NAME:TAG",
            )

    def _image_exists(self, image: str) -> bool | None:
        from scalecloud.infra.kube.imagecheck import image_exists

        return image_exists(image)

    def up(self, spec: ClusterSpec, on_event: EventFn) -> ClusterInfo:
        existing = self.status(spec.name)
        if existing is not None and existing.state == ClusterState.RUNNING:
            return existing
        if existing is not None and existing.state in (
            ClusterState.DESTROYING,
            ClusterState.LEFTOVERS,
        ):
            raise ScalecloudError(
                f"cluster {spec.name!r} is being torn down",
                f"finish that first: scalecloud down --name {spec.name}",
            )
        kspec = kube_spec(spec)
        self.preflight(kspec)
        self._check_image(kspec, on_event)
        prepared = self.prepare(kspec, on_event)
        if existing is not None:
            # Half made, unreachable, or its DaskCluster removed by the idle timeout:
            # the same stack again, refreshed first, brings it back to the spec.
            on_event(
                Event("info", f"cluster {spec.name!r} is {existing.state}; updating its stack")
            )
            created = existing.created
            # What an earlier attempt set up (minikube started) is still to be undone.
            before = (self.store.get(spec.name) or {}).get("prepared") or {}
            prepared = {key: prepared.get(key) or before.get(key) for key in {*prepared, *before}}
        else:
            created = time.time()
        record = {
            "name": spec.name, "provider": self.name, "state": "creating",
            "created": created, "spec": spec.to_dict(), "kube": kspec.to_dict(),
            "image": kspec.image or "official", "prepared": prepared,
            "owner": owner_stamp(),  # a down elsewhere must not cancel this up
        }  # fmt: skip
        with self.store.lock():
            self.store.put(spec.name, record)  # down finds a half-made cluster by it
        on_event(Event("step", f"creating stack {spec.name!r} ({self.name}); this takes minutes"))
        stack = self.stacks.stack(kspec, self.stack_env(kspec))
        try:
            result = stack.up(
                on_event=engine_events(on_event), color="never", refresh=existing is not None
            )
        except BaseException as exc:
            record.pop("owner", None)  # this up runs no more: down may take the stack over
            with self.store.lock():
                self.store.put(spec.name, record)
            if not isinstance(exc, Exception):
                raise  # Ctrl-C, SIGTERM
            raise ScalecloudError(
                f"pulumi up of {spec.name!r} failed: {last_line(exc)}",
                f"what was created is recorded; remove it with: scalecloud down --name {spec.name}",
            ) from exc
        outputs = {k: v.value for k, v in result.outputs.items()}
        kubeconfig = outputs.pop("kubeconfig", None)
        if kubeconfig:
            self.stacks.write_private(self.stacks.kubeconfig_path(spec.name), kubeconfig)
        record.update(state="running", outputs=outputs)
        record.pop("owner", None)
        with self.store.lock():
            self.store.put(spec.name, record)
        info = self.status(spec.name, live_check=False)
        assert info is not None
        self._wait_for_dask(info, kspec, on_event)
        info = self.status(spec.name)
        assert info is not None
        return info

    def status(self, name: str, live_check: bool = True) -> ClusterInfo | None:
        record = self.store.get(name)
        if record is None:
            return None
        from scalecloud.infra.kube.prices import estimate

        spec = ClusterSpec.from_dict(record["spec"])
        kspec = KubeSpec.from_dict(record["kube"])
        cost = estimate(kspec)
        where = f"{kspec.namespace}/{kspec.scheduler_service}"
        state = ClusterState(record.get("state", ClusterState.CREATING))
        running = state == ClusterState.RUNNING and live_check
        live = self._live(name, kspec) if running else None
        workers: tuple[WorkerInfo, ...] = ()
        if running:
            if live is None:
                state = ClusterState.UNREACHABLE
            elif not live["dask_cluster"]:
                state = ClusterState.IDLE_STOPPED  # the operator removed it; nodes still cost
            memory = kspec.memory_per_worker or 0
            workers = tuple(
                WorkerInfo(w["name"], kspec.threads_per_worker, memory)
                for w in (live or {}).get("workers", [])
                if w["phase"] == "Running"
            )
        scheduler = f"port-forward to {where}:{SCHEDULER_PORT}"
        dashboard = f"port-forward to {where}:{DASHBOARD_PORT} (scalecloud dashboard)"
        if live and live.get("load_balancer"):  # --expose, and the cloud gave an address
            scheduler = f"tcp://{live['load_balancer']}:{SCHEDULER_PORT}"
            dashboard = f"http://{live['load_balancer']}:{DASHBOARD_PORT}/status"
        return ClusterInfo(
            name=name, provider=self.name, state=state, workers=workers,
            scheduler_address=scheduler, dashboard_url=dashboard,
            spec=spec, created=float(record["created"]),
            adapt=(kspec.workers_min, kspec.workers_max) if kspec.adaptive else None,
            idle_timeout=kspec.idle_timeout, hourly_cost=cost["hourly_min"],
            details={
                "nodes": [kspec.min_nodes, kspec.max_nodes], "machine_type": kspec.machine_type,
                "region": kspec.region, "spot": kspec.spot,
                "image": kspec.image or "official Dask image + pinned EXTRA_PIP_PACKAGES",
                "hourly_cost_range": [cost["hourly_min"], cost["hourly_max"]],
                "namespace": kspec.namespace, "stack": name,
                "live_nodes": live["nodes"] if live else None,
                "scheduler_ready": live.get("scheduler_ready") if live else None,
                "workers_ready": live.get("workers_ready") if live else None,
                "problems": live.get("problems", []) if live else [],
                "kubeconfig": str(self.stacks.kubeconfig_path(name)),
            },
            rows=status_rows(kspec, cost, live),
        )  # fmt: skip

    def scale(self, name: str, workers: int | None, adapt: tuple[int, int] | None) -> None:
        record = self.store.get(name)
        if record is None or record.get("state") != "running":
            raise ScalecloudError(
                f"cluster {name!r} is not running", f"start it with: scalecloud up --name {name}"
            )
        low, high = adapt if adapt else (workers, workers)
        kspec = KubeSpec.from_dict(record["kube"]).with_(workers_min=low, workers_max=high)
        kspec = kspec.with_(max_nodes=max(kspec.max_nodes, kspec.min_nodes))
        self.preflight(kspec)
        try:
            self.stacks.stack(kspec, self.stack_env(kspec)).up(color="never")
        except Exception as exc:
            raise ScalecloudError(
                f"scaling {name!r} failed: {last_line(exc)}", "see: scalecloud status"
            ) from exc
        record["kube"] = kspec.to_dict()
        with self.store.lock():
            self.store.put(name, record)

    def down(self, name: str, on_event: EventFn) -> None:
        record = self.store.get(name)
        if record is None and not self.stacks.exists(name):
            return
        if (
            record is not None
            and record.get("state") == "creating"
            and owner_alive(record.get("owner"))
        ):  # its lock is held by a live up: cancelling it would break that up half-way
            raise ScalecloudError(
                f"cluster {name!r} is being created by another scalecloud (pid "
                f"{record['owner']['pid']}); down would cancel it half-way",
                "wait for that up to finish, or stop it (Ctrl-C there), then run down again",
            )
        self._use_pulumi_cli()
        # Destroy runs no program, so a stack whose record is lost needs only its name.
        kspec = KubeSpec.from_dict(record["kube"]) if record else KubeSpec(self.name, name)
        if record is not None:
            record["state"] = "destroying"
            with self.store.lock():
                self.store.put(name, record)
        if self.stacks.exists(name):
            stack = self.stacks.stack(kspec, self.stack_env(kspec))
            events = engine_events(on_event)
            # A previous up or destroy killed half-way leaves a lock and pending operations.
            with suppress(Exception):
                stack.cancel()
            if record is not None:  # even a half-made cluster may have its DaskCluster
                self._delete_dask_first(name, kspec, on_event)
            on_event(Event("step", f"refreshing {name!r} (objects the cluster removed itself)"))
            with suppress(Exception):  # an unreachable cluster must not block destroy
                stack.refresh(clear_pending_creates=True, color="never")
            on_event(Event("step", f"destroying {name!r}"))
            try:
                stack.destroy(on_event=events, color="never")
            except Exception as exc:
                raise ScalecloudError(
                    f"destroying {name!r} failed: {last_line(exc)}",
                    f"run scalecloud down --name {name} again; it resumes where this stopped",
                ) from exc
            left = self.stacks.leftovers(stack)
            if left:
                raise ScalecloudError(
                    f"after destroy, the stack of {name!r} still holds: {', '.join(left)}",
                    f"run scalecloud down --name {name} again, or delete them in the console",
                )
            stack.workspace.remove_stack(name)
        self._check_cloud(name, kspec, record, on_event)
        if record is not None:
            self.release(record, on_event)
        self.stacks.kubeconfig_path(name).unlink(missing_ok=True)
        with self.store.lock():
            self.store.remove(name)
        on_event(
            Event("info", f"stack {name!r} is destroyed and removed; it held nothing after destroy")
        )

    def _use_pulumi_cli(self) -> None:
        """The stacks run the Pulumi CLI that preflight found (on PATH, or in
        ~/.pulumi/bin where its installer puts it): one lookup for both."""
        if self.pulumi_command is not None:
            return
        from pulumi import automation as auto

        path, _ = find_pulumi_cli(self.store.home)
        if shutil.which("pulumi") == path:
            return  # on PATH: the Automation API finds the same one
        root = Path(path).parent.parent  # PulumiCommand runs ROOT/bin/pulumi
        self.pulumi_command = auto.PulumiCommand(root=str(root), skip_version_check=True)
        self.stacks.pulumi_command = self.pulumi_command

    def cloud_leftovers(self, spec: KubeSpec) -> list[str] | None:
        """What the cloud still reports for the cluster's label after destroy; None when it
        cannot be asked (its CLI is missing or fails)."""
        del spec  # Unused.
        return []

    def _check_cloud(
        self, name: str, kspec: KubeSpec, record: dict[str, Any] | None, on_event: EventFn
    ) -> None:
        """The claim "nothing is left", checked against the cloud itself, not only the state."""
        on_event(
            Event("step", f"asking {self.name} for anything labelled scalecloud-cluster={name}")
        )
        found = self.cloud_leftovers(kspec)
        if found is None:
            on_event(
                Event("warning", f"could not ask {self.name} what is left; check its console "
                      f"for the label scalecloud-cluster={name}")
            )  # fmt: skip
        elif found:
            if record is not None:
                record["state"] = "leftovers"
                with self.store.lock():
                    self.store.put(name, record)
            raise ScalecloudError(
                f"{self.name} still reports for {name!r}: {', '.join(found[:5])}"
                + (f" and {len(found) - 5} more" if len(found) > 5 else ""),
                f"deletions can lag a minute: run scalecloud down --name {name} again to "
                "re-check, or delete them in the console",
            )
        else:
            on_event(Event("info", f"{self.name} reports nothing labelled for {name!r}"))

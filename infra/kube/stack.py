"""The Pulumi stacks behind the Kubernetes providers: a local file backend in scalecloud's
state directory (no Pulumi account), one stack per cluster, secrets under a passphrase made
once and readable by this user only; and Pulumi engine events turned into scalecloud's."""

from __future__ import annotations

import os
import secrets
from contextlib import suppress
from pathlib import Path
from typing import Any

from scalecloud.infra.events import Event, EventFn
from scalecloud.infra.kube.spec import KubeSpec
from scalecloud.infra.state import StateStore

PROJECT = "scalecloud"


class StackBackend:
    """The stacks of one state directory; ``pulumi_command`` None means the Pulumi CLI
    on PATH (tests pass a PulumiCommand that records its arguments)."""

    def __init__(self, store: StateStore, pulumi_command: Any = None) -> None:
        self.store = store
        self.pulumi_command = pulumi_command

    @property
    def backend_dir(self) -> Path:
        return self.store.home / "pulumi"

    def kubeconfig_path(self, name: str) -> Path:
        return self.store.clusters_dir / f"{name}.kubeconfig"

    @staticmethod
    def write_private(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o600)

    def passphrase(self) -> str:
        """The stack secrets' passphrase: generated once, readable by this user only."""
        path = self.backend_dir / "passphrase"
        if not path.exists():
            self.backend_dir.mkdir(parents=True, exist_ok=True)
            with suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def exists(self, name: str) -> bool:
        # Project-scoped layout (file backends made by Pulumi 3.61+), then the legacy one.
        stacks = self.backend_dir / ".pulumi" / "stacks"
        return any(
            (folder / f"{name}{suffix}").exists()
            for folder in (stacks / PROJECT, stacks)
            for suffix in (".json", ".json.gz")
        )

    def stack(self, spec: KubeSpec, env: dict[str, str]) -> Any:
        from pulumi import automation as auto
        from scalecloud.infra.kube.plan import program_of

        program = program_of(spec.provider)
        backend = f"file://{self.backend_dir}"
        self.backend_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase(),
            "PULUMI_BACKEND_URL": backend,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            **env,
        }
        options = auto.LocalWorkspaceOptions(
            env_vars=env,
            secrets_provider="passphrase",
            project_settings=auto.ProjectSettings(
                name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=backend)
            ),
            pulumi_command=self.pulumi_command,
        )
        return auto.create_or_select_stack(
            stack_name=spec.name, project_name=PROJECT, program=lambda: program(spec), opts=options
        )

    @staticmethod
    def leftovers(stack: Any) -> list[str]:
        """What the stack's state still holds after destroy (providers aside)."""
        deployment = stack.export_stack().deployment or {}
        return [
            f"{r.get('type')} {r.get('urn', '').split('::')[-1]}"
            for r in deployment.get("resources") or []
            if not r.get("type", "").startswith(("pulumi:pulumi:Stack", "pulumi:providers:"))
        ]


def last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


def engine_events(on_event: EventFn) -> Any:
    """Pulumi engine events as ``resources`` progress events (done of total seen so far)."""
    seen: set[str] = set()
    done: set[str] = set()

    def handle(event: Any) -> None:
        pre, out, failed = (
            event.resource_pre_event,
            event.res_outputs_event,
            event.res_op_failed_event,
        )
        if pre is not None and not pre.metadata.type.startswith("pulumi:pulumi:Stack"):
            seen.add(pre.metadata.urn)
        elif out is not None:
            done.add(out.metadata.urn)
        elif failed is not None:
            on_event(
                Event(
                    "warning",
                    f"{failed.metadata.type} {failed.metadata.urn.split('::')[-1]} failed",
                )
            )
            return
        else:
            return
        on_event(Event("resources", data={"done": len(done & seen), "total": len(seen)}))

    return handle

"""The lifecycle of one cluster, shared by ``Cluster`` and ``Run.rerun``: start or reuse
it, hold its port-forwards, run a prepared request on it, tear down what was started.

Teardown runs after an exception or a KeyboardInterrupt too, with SIGINT and SIGTERM held
off until it ends; a half-made cluster (``up`` failed or was interrupted) is torn down.
"""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Self

from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.events import Event, EventFn
from scalecloud.infra.provider import ClusterInfo, Provider
from scalecloud.infra.registry import descriptor, get_provider, resolve_cluster
from scalecloud.infra.spec import ClusterSpec
from scalecloud.session import event_sink, interruptible, shielded

if TYPE_CHECKING:
    from scalecloud.workloads.runner import PreparedRun, RunOutcome


class ClusterSession:
    """A cluster held by this process; see :class:`scalecloud.Cluster` for the contract."""

    def _setup(
        self, spec: ClusterSpec, provider: Provider, keep: bool, reuse: bool,
        events: EventFn,
    ) -> None:  # fmt: skip
        self.spec = spec
        self.name = spec.name
        self.keep = keep
        self.reuse = reuse
        self._provider = provider
        self._events = events
        self._info: ClusterInfo | None = None
        self._reachable: ClusterInfo | None = None
        self._started = False
        self._forwards = ExitStack()
        self._signals = ExitStack()
        self._clients: list[Any] = []

    @classmethod
    def from_spec(
        cls, spec: ClusterSpec, *, keep: bool = False, reuse: bool = True,
        progress: bool = True, on_event: EventFn | None = None,
    ) -> Self:  # fmt: skip
        """A cluster for a spec already built (``registry.build_spec`` or ``respec``)."""
        self = cls.__new__(cls)
        self._setup(spec, get_provider(spec.provider), keep, reuse, event_sink(progress, on_event))
        return self

    @classmethod
    def attach(
        cls, name: str | None = None, *, progress: bool = True, on_event: EventFn | None = None
    ) -> Self:
        """The cluster called ``name`` (default: the only one, else ``default``), as it
        is, kept on exit. Raises ScalecloudError when there is none.

        Example::

            with scalecloud.Cluster.attach("exp-1") as cluster:
                cluster.submit("kmeans")
        """
        provider, found = resolve_cluster(name)
        info = provider.status(found)
        if info is None:
            raise ScalecloudError(
                f"no cluster named {found!r}", f"start it with: scalecloud up --name {found}"
            )
        self = cls.__new__(cls)
        self._setup(info.spec, provider, True, True, event_sink(progress, on_event))
        self._info = info
        return self

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Start the cluster, or reuse a running one of this name; returns self."""
        existing = self._provider.status(self.name)
        if existing is not None and not self.reuse:
            raise ScalecloudError(
                f"a cluster named {self.name!r} already exists, and this run would tear it down",
                f"submit to it with --name {self.name}, or choose another name",
            )
        # Whatever up creates is this object's to tear down, even if up fails half-way.
        self._started = existing is None or not existing.running
        with interruptible():
            self._info = self._provider.up(self.spec, self._events)
        return self

    @property
    def started(self) -> bool:
        """Whether this object started the cluster (rather than finding it running)."""
        return self._started

    def __enter__(self) -> Self:
        # For the whole block SIGTERM ends it as Ctrl-C does, so that __exit__ still runs.
        self._signals.enter_context(interruptible())
        if self._info is None:
            try:
                self.start()
            except BaseException:
                try:
                    half_made = self._provider.status(self.name) is not None
                    if self._started and not self.keep and half_made:
                        self.down()  # up failed or was interrupted after creating something
                finally:
                    self._signals.close()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.keep:
                self.close()
            else:
                self.down()
        finally:
            self._signals.close()

    def down(self) -> None:
        """Tear the cluster down and check nothing of it is left (safe to repeat)."""
        with shielded():
            self.close()
            self._events(Event("step", f"tearing down {self.name!r}"))
            self._provider.down(self.name, self._events)
        self._info = None

    def close(self) -> None:
        """Close this object's clients and port-forwards; the cluster keeps running."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._forwards.close()
        self._reachable = None

    # -- what it is ---------------------------------------------------------------------

    @property
    def info(self) -> ClusterInfo:
        """The cluster as its provider reports it now."""
        info = self._provider.status(self.name)
        if info is None:
            raise ScalecloudError(
                f"cluster {self.name!r} is not running",
                f"start it with: scalecloud up --name {self.name}",
            )
        self._info = info
        return info

    @property
    def down_summary(self) -> str:
        """What ``down`` verified for this provider."""
        return descriptor(self._provider.name).down_summary

    def reachable(self, *, running: bool = True) -> ClusterInfo:
        """The cluster's info with addresses this machine can dial, opening the
        port-forwards on first use and holding them until :meth:`close`; with
        ``running``, an error when the cluster is not running."""
        if self._reachable is None:
            info = self.info
            self._reachable = self._forwards.enter_context(self._provider.connect(info))
        if running and not self._reachable.running:
            raise not_running(self._reachable)
        return self._reachable

    @property
    def dashboard_url(self) -> str | None:
        return self.reachable().dashboard_url

    def check_run(self, prepared: PreparedRun) -> None:
        """Refuse a prepared run this cluster cannot serve, before anything is created or
        recorded: data its workers read themselves, given as a local path, where the
        workers do not share this machine's files (a cloud or minikube); a script whose
        folder (with its --ship paths) is too large to send to workers elsewhere."""
        from scalecloud.workloads.runner import local_data
        from scalecloud.workloads.shipping import needs_shipping, user_code

        found = descriptor(self.spec.provider)
        if prepared.script is not None and needs_shipping(found.same_environment):
            user_code(prepared.script, prepared.ship)  # over the limit: an error, here
        if found.shares_local_files:
            return
        for param, path in local_data(prepared):
            store = found.data_scheme or "s3"
            raise ScalecloudError(
                f"{param}={path} is a file on this machine, which the workers of "
                f"{found.name} cluster {self.name!r} cannot read",
                f"upload it first: scalecloud data push {path} {store}://BUCKET/PREFIX, then "
                f"--set {param}={store}://BUCKET/PREFIX/{path.rstrip('/').rsplit('/', 1)[-1]} "
                "(or give an s3://, gs:// or abfs:// URL)",
            )

    def execute(
        self, prepared: PreparedRun, *, strict_versions: bool = False,
        rerun_of: str | None = None,
    ) -> RunOutcome:  # fmt: skip
        """Run a prepared request on the cluster, recorded; SIGTERM ends it as Ctrl-C."""
        from scalecloud.workloads.runner import execute

        self.check_run(prepared)
        with interruptible():
            return execute(  # execute says it when the cluster is not running
                prepared, self.reachable(running=False), self._events,
                strict_versions=strict_versions, rerun_of=rerun_of,
            )  # fmt: skip


def not_running(info: ClusterInfo) -> ScalecloudError:
    return ScalecloudError(
        f"cluster {info.name!r} is {info.state}",
        f"clean it up with: scalecloud down --name {info.name}; then scalecloud up",
    )


def fresh_name(prefix: str = "run") -> str:
    """A cluster name for a run of its own, e.g. ``run-3fa9c1``."""
    return f"{prefix}-{secrets.token_hex(3)}"

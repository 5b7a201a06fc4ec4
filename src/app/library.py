"""The embedding API: run zombiewatch inside the executor of the agent system.

One entry point, :class:`ZombieWatch` (``from zombiewatch import ZombieWatch, Settings``)::

    settings = Settings.for_embedding(namespace="agents", kafka_brokers="kafka:9092")
    async with ZombieWatch(settings) as watch:
        manifest = watch.build_job_manifest(...)        # the Job to create
        if await watch.charge_trigger_budget(task_id, frontmatter):  # False: budget spent
            watch.job_spawned(task_id=..., job_name=..., assignee=..., started_at=...)
            await watch.notify_spawned(task_id=..., job_name=..., started_at=...,
                                       target_vault=frontmatter.get("target_vault"))
        ...
        watch.heartbeat(task_id)                         # the agent showed life
        watch.result_observed(task_id)                   # the agent reported

It starts and stops inside the host's running event loop, watches the
namespace, and publishes zombie failures on its own; the doctrine helpers of
the dispatch path publish through the same producer. It speaks plain Python:
a helper returns when its commands are committed and raises a
:class:`~zombiewatch.app.errors.ZombieWatchError` otherwise (the hierarchy is in
:mod:`zombiewatch.app.errors`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType

from returns.result import Failure

from zombiewatch.app.container import Container
from zombiewatch.app.errors import NotStartedError, PublishFailedError, StartFailedError
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import Settings
from zombiewatch.app.sweeping import SweepStats
from zombiewatch.domain import doctrine, manifest
from zombiewatch.domain.budget import BudgetSpent, trigger_budget
from zombiewatch.domain.commands import Command, FailureReport
from zombiewatch.domain.config import EffectiveConfig, ResolvedConfig, resolve
from zombiewatch.domain.ports import CommandPublisher


class ZombieWatch:
    """zombiewatch embedded in a host process (start/stop in the host's loop)."""

    build_job_manifest = staticmethod(manifest.build_job_manifest)
    """The agent Job manifest of SPEC §9 (a plain dict for the API)."""

    job_name = staticmethod(manifest.job_name)
    """The Job name of SPEC §9: ``<assignee>-<task id prefix>-<yyyymmddHHMMSS>``."""

    def __init__(self, settings: Settings, *, container: Container | None = None) -> None:
        """Build every part, unstarted.

        Settings the adapters refuse (a kubeconfig that cannot be read) raise
        :class:`~zombiewatch.app.errors.StartFailedError` here, the cause chained.
        """
        self._container = container or Container()
        self._container.settings.override(settings)
        self._vault = settings.vault
        try:
            self._runtime = Runtime(self._container)
        except Exception as exc:  # the client libraries' own types: one type for the host
            raise StartFailedError("setup", f"{type(exc).__name__}: {exc}") from exc
        self._started = False

    async def start(self) -> None:
        """Start watching; :class:`~zombiewatch.app.errors.StartFailedError` if a part cannot.

        The parts already started are stopped again before it raises.
        """
        await self._runtime.start()
        self._started = True

    async def wait_synced(self, timeout: float = 30.0) -> bool:
        """Wait until the Job, Pod and Config informers have listed once; False on timeout.

        Until then ``config_for`` and ``accepts_task_type`` answer from an empty cache.
        (Without the Config CRD installed the Config informer never syncs: False.)
        """
        informers = self._runtime.informers
        try:
            async with asyncio.timeout(timeout):
                await informers.wait_synced()
                await informers.configs.wait_synced()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._runtime.stop()

    async def __aenter__(self) -> ZombieWatch:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # What the host tells us -------------------------------------------------

    def job_spawned(
        self, *, task_id: str, job_name: str, assignee: str, started_at: datetime | None = None
    ) -> None:
        """Right after creating the Job: judge it even if the Job never shows up."""
        self._runtime.book.register(task_id=task_id, job_name=job_name, assignee=assignee,
                                    started_at=started_at or self._runtime.clock.now())

    def heartbeat(self, task_id: str) -> None:
        """The task's agent showed life (keeps a Job past its deadline alive for a while)."""
        self._runtime.book.heartbeat(task_id, at=self._runtime.clock.now())

    def result_observed(self, task_id: str) -> None:
        """The agent published its result: its current Job is not a zombie."""
        self._runtime.book.result_observed(task_id, at=self._runtime.clock.now())

    # Doctrine helpers of the dispatch path -----------------------------------

    # Each returns once its commands are committed; otherwise it raises
    # PublishFailedError (not known to be committed: call it again), or
    # NotStartedError before start() and after stop().

    async def increment_trigger_count(self, task_id: str, *,
                                      target_vault: str | None = None) -> None:
        """``trigger_count += 1`` before a spawn (the old executor's dispatch; today's
        charges the scoped budget: :meth:`charge_trigger_budget`)."""
        await self._publish_commands([doctrine.increment_trigger_count(
            task_id, target_vault=target_vault)])

    async def charge_trigger_budget(self, task_id: str,
                                    frontmatter: Mapping[str, object]) -> bool:
        """Before a spawn, as today's executor: False when the task's budget in its scope
        is spent (spawn nothing; nothing was written), True once the one write charging it
        is committed (:mod:`zombiewatch.domain.budget`). ``frontmatter`` is the task's as
        the dispatch read it; the write names the task's own ``target_vault``."""
        charge = trigger_budget(task_id, frontmatter)
        if isinstance(charge, BudgetSpent):
            return False
        await self._publish_commands([charge])
        return True

    async def notify_spawned(self, *, task_id: str, job_name: str, started_at: datetime,
                             target_vault: str | None = None) -> None:
        """``spawn_notification: true``, ``current_job``, ``job_started_at``; with the
        task's own ``target_vault`` when it has one."""
        await self._publish_commands([doctrine.spawn_notification(
            task_id=task_id, job_name=job_name, started_at=started_at,
            target_vault=target_vault)])

    async def report_type_mismatch(
        self, *, task_id: str, job_name: str, prior_assignee: str, detail: str
    ) -> None:
        """Escalate at once: the assigned agent does not accept the task's type."""
        failure = doctrine.type_mismatch_failure(
            task_id=task_id, job_name=job_name, prior_assignee=prior_assignee, detail=detail,
            at=self._runtime.clock.now())
        await self._publish_failures([failure])

    # What the cluster's Config objects say ------------------------------------

    def config_for(self, assignee: str) -> EffectiveConfig | None:
        """The assignee's effective Config (validated, defaults filled in), if it has one:
        ``<assignee>-<vault>`` first, then ``<assignee>`` (``Settings.vault``; SPEC §8)."""
        return self._configs().config_for(assignee)

    def accepts_task_type(self, assignee: str, task_type: str) -> bool:
        """False when the assignee's Config lists task types and ``task_type`` is not one."""
        return self._configs().accepts_task_type(assignee, task_type)

    def _configs(self) -> ResolvedConfig:
        return resolve(self._runtime.cache.configs(), vault=self._vault)

    # Operations --------------------------------------------------------------

    def ready(self) -> tuple[bool, str]:
        return self._runtime.ready()

    def metrics_text(self) -> bytes:
        """Prometheus exposition of this instance's metrics (for the host's endpoint)."""
        return self._runtime.metrics.render()

    async def sweep_now(self) -> SweepStats:
        """Sweep at once instead of waiting for the next tick."""
        return await self._runtime.sweep_now()

    async def _publish_commands(self, commands: list[Command]) -> None:
        if isinstance(result := await self._publisher().publish_commands(commands), Failure):
            raise PublishFailedError(result.failure())

    async def _publish_failures(self, failures: list[FailureReport]) -> None:
        if isinstance(result := await self._publisher().publish_failures(failures), Failure):
            raise PublishFailedError(result.failure())

    def _publisher(self) -> CommandPublisher:
        if not self._started:
            raise NotStartedError("ZombieWatch is not started")
        return self._runtime.publisher

"""The daemon's lifecycle: start the parts in order, stop them in reverse, within a budget.

Order matters: the HTTP server comes first (liveness from the start), then
leadership, the publisher (not connected yet), the reporter and the
informers, and the sweeper last (it waits for the informers to sync). On
stop: no new events (informers), no new sweeps, the publish in progress is
finished, the producer flushed and closed, the Lease released, the server
closed — all within ``STOP_BUDGET_SECONDS`` so SIGTERM ends the process in
under 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Coroutine
from typing import Any

from returns.result import Success

from zombiewatch.adapters.kafka.connection import ClientRole, KafkaHealth
from zombiewatch.adapters.kafka.publishing import KafkaCommandPublisher
from zombiewatch.adapters.kubernetes.cluster import ClusterInformers
from zombiewatch.app.container import Container
from zombiewatch.app.detection import DetectionService
from zombiewatch.app.http import OpsServer
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.sweeping import Sweeper, SweepStats
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.ports import Clock, ClusterCache, CommandPublisher, LeaderStatus

log = logging.getLogger(__name__)

LEADERSHIP_POLL_SECONDS = 0.2
"""How quickly a new leader notices it leads (and sweeps)."""

STOP_BUDGET_SECONDS = 9.0
"""SIGTERM must end the process within 10 s (SPEC §10); keep a second in hand."""


class Runtime:
    """A started daemon: its parts, its background tasks and its readiness."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.metrics: Metrics = container.metrics()
        self.clock: Clock = container.clock()
        self.book: InFlightBook = container.book()
        self.cache: ClusterCache = container.cache()
        self.publisher: CommandPublisher | None = None
        self.leader: LeaderStatus | None = None
        self.reporter: Reporter | None = None
        self.detection: DetectionService | None = None
        self.sweeper: Sweeper | None = None
        self.informers: ClusterInformers | None = None
        self.server: OpsServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started_resources: list[Any] = []

    async def start(self) -> None:
        c = self.container
        settings = c.settings()
        if settings.serve_http:
            self.server = c.ops_server(ready=self.ready)
            await self.server.start()
        self.leader = await self._init(c.leader)
        self.publisher = await self._init(c.publisher)
        self.reporter = await _provided(c.reporter)
        self.detection = await _provided(c.detection)
        self.informers = await self._init(c.informers)
        self.sweeper = await _provided(c.sweeper)
        self._spawn(self.reporter.run(), "reporter")
        self._spawn(self.sweeper.run(), "sweeper")
        self._spawn(self._follow_leadership(), "leadership")
        log_event(log, logging.INFO, "started", namespace=settings.namespace,
                  leader_election=settings.leader.enabled,
                  listen=f"{settings.listen_host}:{self.server.port}" if self.server else None)

    async def _init(self, provider: Any) -> Any:
        value = await _provided(provider)
        self._started_resources.append(provider)
        return value

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"zombiewatch-{name}")
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    @staticmethod
    def _task_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s died", task.get_name(), exc_info=task.exception())

    async def _follow_leadership(self) -> None:
        """React to becoming leader: sweep at once and connect the producer.

        Detections made as a follower were dropped (only the leader publishes),
        so the new leader sweeps immediately instead of waiting for its tick.
        The producer connects only while leading: connecting initialises the
        shared transactional id and would fence the current leader. A fenced
        producer stays down until this instance starts a new term.
        """
        was_leading = False
        while True:
            leading = self.leader is not None and self.leader.is_leader()
            became_leader = leading and not was_leading
            was_leading = leading
            publisher = self.publisher
            if became_leader:
                if self.reporter is not None:
                    self.reporter.start_term()
                if self.sweeper is not None:
                    self.sweeper.request_sweep()
                connected = True
                if isinstance(publisher, KafkaCommandPublisher):
                    # A fresh term: take the transactional id.
                    connected = isinstance(await publisher.start(), Success)
                if self.reporter is not None and connected:
                    # Before the first publish needs it; without a producer the first
                    # publish recalls it (one clear error, not two, when Kafka refuses us).
                    await self.reporter.recall_history()
            elif leading and isinstance(publisher, KafkaCommandPublisher) and not (
                publisher.started or publisher.fenced
            ):
                # Reconnect after a broker outage or refused credentials, with backoff,
                # but never after being fenced: another instance took the id, and taking
                # it back would ping-pong between the two.
                await publisher.reconnect()
            await asyncio.sleep(LEADERSHIP_POLL_SECONDS)

    def ready(self) -> tuple[bool, str]:
        """``/readyz``: informers synced and, while leading, the producer usable.

        The body says why not: the publisher's problem names the missing ACL or
        the refused credentials. A refused read-back only degrades the leader
        (at-least-once across a crash), so it is said but stays ready.
        """
        if not self.cache.synced():
            return False, "informers not synced"
        leading = self.leader is not None and self.leader.is_leader()
        publisher = self.publisher
        if leading and isinstance(publisher, KafkaCommandPublisher):
            problem = publisher.problem
            if not publisher.started:
                why = f": {problem.kind.value}: {problem.message}" if problem else ""
                return False, f"leader without a connected producer{why}"
            if problem is not None:
                return False, f"leader, publishing fails: {problem.kind.value}: {problem.message}"
        if not leading:
            return True, "ready (follower)"
        health: KafkaHealth = self.container.kafka_health()
        if (refused := health.problem(ClientRole.HISTORY)) is not None:
            return True, (f"ready (leader); the read-back at the start of this term failed: "
                          f"{refused.kind.value}: {refused.message}")
        return True, "ready (leader)"

    async def sweep_now(self) -> SweepStats:
        """One sweep right now, then report what it found (tests, embedding hosts)."""
        if self.sweeper is None or self.reporter is None:
            raise RuntimeError("not started")
        stats = self.sweeper.sweep_once()
        await self.reporter.flush()
        return stats

    async def stop(self) -> None:
        try:
            async with asyncio.timeout(STOP_BUDGET_SECONDS):
                await self._stop_in_order()
        except TimeoutError:
            log_event(log, logging.ERROR, "stop_budget_exceeded", seconds=STOP_BUDGET_SECONDS)
        log_event(log, logging.INFO, "stopped")

    async def _stop_in_order(self) -> None:
        c = self.container
        if self.informers is not None:
            await _shutdown(c.informers)
        if self.detection is not None:
            self.detection.close()
        if self.reporter is not None:
            self.reporter.stop()
        for task in self._tasks:
            if task.get_name() != "zombiewatch-reporter":
                task.cancel()
        # The reporter finishes the publish in progress, then returns.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.reporter is not None:
            await self.reporter.close()
        for provider in reversed(self._started_resources):
            if provider is not c.informers:
                with contextlib.suppress(Exception):
                    await _shutdown(provider)
        if self.server is not None:
            await self.server.stop()
        await _shutdown(c.api_client)


async def _provided(provider: Any) -> Any:
    """The provider's object; providers depending on async resources return awaitables."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    return value


async def _shutdown(provider: Any) -> None:
    """Shut a resource down, whether it is sync or async."""
    result = provider.shutdown()
    if inspect.isawaitable(result):
        await result

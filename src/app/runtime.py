"""The daemon's lifecycle: start the parts in order, stop them in reverse, within a budget.

Every part is built (unstarted) from the container when the ``Runtime`` is
made; :meth:`Runtime.start` runs their ``start()`` in order on an
``AsyncExitStack`` and pushes each ``stop()``, so stopping unwinds in reverse:
no new events (informers), no new sweeps, the publish in progress finished,
the producer flushed and closed, the Lease released, the HTTP server closed,
the API client closed — all within ``STOP_BUDGET_SECONDS`` so SIGTERM ends the
process in under 10 s. Order on start: the API client, the HTTP server
(liveness from the start), leadership, the publisher (not connected: only a
leader connects), the reporter, sweeper and leadership tasks, the informers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine

from returns.result import Success

from zombiewatch.adapters.kafka.connection import ClientRole, KafkaHealth
from zombiewatch.adapters.kubernetes.cluster import ClusterInformers
from zombiewatch.app.confirming import Confirmation
from zombiewatch.app.container import Container
from zombiewatch.app.detection import DetectionService
from zombiewatch.app.errors import StartFailedError
from zombiewatch.app.feedpart import TaskFeedPart, feed_detail
from zombiewatch.app.http import OpsServer
from zombiewatch.app.leadership import Leadership
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.shadow import ShadowComparer
from zombiewatch.app.sweeping import Sweeper, SweepStats
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.ports import Clock, ClusterCache, CommandPublisher, Lifecycle, StartError

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 5.0
"""While leading without a connected producer (the broker was down), try again this often."""

STOP_BUDGET_SECONDS = 9.0
"""SIGTERM must end the process within 10 s (SPEC §10); keep a second in hand."""


class Runtime:
    """A daemon's parts, their background tasks and its readiness."""

    def __init__(self, container: Container) -> None:
        c = container
        self.container = c
        self.settings = c.settings()
        self.metrics: Metrics = c.metrics()
        self.clock: Clock = c.clock()
        self.book: InFlightBook = c.book()
        self.cache: ClusterCache = c.cache()
        self.api_client: Lifecycle = c.api_client()
        self.event_recorder: Lifecycle = c.event_recorder()
        self.leader: Leadership = c.leader()
        self.publisher: CommandPublisher = c.publisher()
        self.kafka_health: KafkaHealth = c.kafka_health()
        self.task_feed: TaskFeedPart = c.task_feed()
        self.confirmer: Confirmation = c.confirmer()
        self.reporter: Reporter = c.reporter()
        self.detection: DetectionService = c.detection()
        self.sweeper: Sweeper = c.sweeper()
        self.informers: ClusterInformers = c.informers()
        c.holdings()  # registers zombiewatch_held_entries
        self.shadow: ShadowComparer | None = c.shadow()
        """Shadow mode's comparison with the executor (None when live)."""
        self.server: OpsServer = c.ops_server(ready=self.ready)
        self.tasks: tuple[asyncio.Task[None], ...] = ()
        """The background tasks (reporter, sweeper, leadership) once started."""
        self._stack = contextlib.AsyncExitStack()

    async def start(self) -> None:
        """Start every part in order; :class:`StartFailedError` (all undone) if one cannot."""
        try:
            await self._start(self.api_client)
            await self._start(self.event_recorder)  # stopped after the tasks that record
            if self.settings.serve_http:
                await self._start(self.server)
            await self._start(self.leader)
            self._stack.push_async_callback(self.publisher.close)
            await self._start(self.task_feed)
            self.tasks = (
                self._spawn(self.reporter.run(), "reporter"),
                self._spawn(self.sweeper.run(), "sweeper"),
                self._spawn(self._follow_leadership(), "leadership"),
                self._spawn(self.confirmer.run(), "confirmer"),
                *((self._spawn(self.shadow.run(), "shadow"),) if self.shadow else ()),
            )
            self._stack.push_async_callback(self._stop_tasks, *self.tasks)
            await self._start(self.informers)
        except StartError as exc:  # undo what started, then tell
            await self._stack.aclose()
            raise StartFailedError(exc.component, exc.message) from exc
        except BaseException:  # a bug: undo what started, then tell
            await self._stack.aclose()
            raise
        log_event(log, logging.INFO, "started", namespace=self.settings.namespace,
                  leader_election=self.settings.leader.enabled, shadow=self.settings.shadow,
                  listen=(f"{self.settings.listen_host}:{self.server.port}"
                          if self.settings.serve_http else None))

    async def _start(self, part: Lifecycle) -> None:
        await part.start()
        self._stack.push_async_callback(part.stop)

    def _spawn(self, coro: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"zombiewatch-{name}")
        task.add_done_callback(_log_death)
        return task

    async def _stop_tasks(
        self, reporter: asyncio.Task[None], *others: asyncio.Task[None]
    ) -> None:
        """No new detections; the reporter finishes the publish in progress, then returns."""
        self.detection.close()
        self.reporter.stop()
        for task in others:
            task.cancel()
        await asyncio.gather(reporter, *others, return_exceptions=True)
        await self.reporter.close()

    async def _follow_leadership(self) -> None:
        """React to becoming leader: sweep at once and connect the producer.

        Detections made as a follower were dropped (only the leader publishes),
        so the new leader sweeps immediately instead of waiting for its tick.
        The producer connects only while leading: connecting initialises the
        shared transactional id and would fence the current leader. A fenced
        producer stays down until this instance starts a new term; one that
        lost the broker is reconnected every ``RECONNECT_SECONDS``.
        """
        was_leading = False
        while True:
            # Subscribed before reading the state, so a change meanwhile is not missed.
            change = asyncio.ensure_future(self.leader.next_change())
            try:
                leading = self.leader.is_leader()
                if leading and not was_leading:
                    self.reporter.start_term()
                    self.sweeper.request_sweep()
                    # A fresh term: take the transactional id.
                    if isinstance(await self.publisher.start(), Success):
                        # Before the first publish needs it; without a producer the first
                        # publish recalls it (one clear error, not two, when Kafka refuses).
                        await self.reporter.recall_history()
                elif leading and not (self.publisher.started or self.publisher.fenced):
                    # Reconnect after a broker outage or refused credentials (the publisher
                    # backs off), but never after being fenced: another instance took the
                    # id, and taking it back would ping-pong between the two.
                    await self.publisher.reconnect()
                was_leading = leading
                degraded = leading and not (self.publisher.started or self.publisher.fenced)
                await asyncio.wait({change}, timeout=RECONNECT_SECONDS if degraded else None)
            finally:
                change.cancel()

    def ready(self) -> tuple[bool, str]:
        """``/readyz``: informers synced and, while leading, the producer usable.

        The body says why not: the publisher's problem names the missing ACL or
        the refused credentials. A refused read-back only degrades the leader
        (at-least-once across a crash), so it is said but stays ready. The task
        feed's state is always said, and never makes the daemon unready.
        """
        ready, why = self._ready()
        return ready, f"{why}; {feed_detail(self.task_feed.feed)}"

    def _ready(self) -> tuple[bool, str]:
        if not self.cache.synced():
            return False, "informers not synced"
        if self.shadow is not None:
            return True, "ready (shadow: publishing nothing)"
        if not self.leader.is_leader():
            return True, "ready (follower)"
        problem = self.publisher.problem
        if not self.publisher.started:
            why = f": {problem.kind.value}: {problem.message}" if problem else ""
            return False, f"leader without a connected producer{why}"
        if problem is not None:
            return False, f"leader, publishing fails: {problem.kind.value}: {problem.message}"
        if (refused := self.kafka_health.problem(ClientRole.HISTORY)) is not None:
            return True, (f"ready (leader); the read-back at the start of this term failed: "
                          f"{refused.kind.value}: {refused.message}")
        return True, "ready (leader)"

    async def sweep_now(self) -> SweepStats:
        """One sweep right now, then report what it found (tests, embedding hosts)."""
        stats = self.sweeper.sweep_once()
        await self.reporter.flush()
        return stats

    async def stop(self) -> None:
        try:
            async with asyncio.timeout(STOP_BUDGET_SECONDS):
                await self._stack.aclose()
        except TimeoutError:
            log_event(log, logging.ERROR, "stop_budget_exceeded", seconds=STOP_BUDGET_SECONDS)
        log_event(log, logging.INFO, "stopped")


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log_event(log, logging.ERROR, "task_died", exc_info=task.exception() or False,
                  task=task.get_name())

"""The durable dedupe layer, written after the commit: annotate, retry until it lands.

A committed failure whose annotation did not land (API server down, a crash
right after the commit) is kept here and retried on every sweep tick and every
flush. While it is owed the Job counts as reported (:meth:`Annotations.owes`,
a gate input): no TTL expires a debt, so the Job is never published twice
however long the API server stays away. After a restart the topic's read-back
owes it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from returns.result import Failure, Success

from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.domain.ports import AnnotateErrorKind, JobAnnotator
from zombiewatch.domain.reasons import ZombieReason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Unannotated:
    reason: ZombieReason
    reported_at: datetime


async def nothing_after(job_name: str) -> None:
    """The default after-annotation hook: nothing to do once the annotation landed."""


class Annotations:
    """Annotations owed to committed failures, written at most ``concurrency`` at a time."""

    def __init__(
        self, *, annotator: JobAnnotator, metrics: Metrics, namespace: str, concurrency: int = 16,
        on_annotated: Callable[[str], Awaitable[None]] = nothing_after,
    ) -> None:
        self._on_annotated = on_annotated  # after a Job's annotation landed (SPEC §14 reaping)
        self._annotator = annotator
        self._metrics = metrics
        self._namespace = namespace
        self._slots = asyncio.Semaphore(concurrency)
        self._owed: dict[str, _Unannotated] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    def owe(self, job_name: str, *, reason: ZombieReason, reported_at: datetime) -> None:
        """A failure for ``job_name`` is committed: annotate the Job (now, and until it lands)."""
        self._owed[job_name] = _Unannotated(reason, reported_at)
        self._start(job_name)

    def owes(self, job_name: str) -> bool:
        """A failure of ``job_name`` was committed and its annotation has not landed yet."""
        return job_name in self._owed

    def owe_unless_owed(self, job_name: str, *, reason: ZombieReason,
                        reported_at: datetime) -> None:
        """Like :meth:`owe`, keeping the reason already owed (the one read on the topic)."""
        if job_name not in self._owed:
            self._owed[job_name] = _Unannotated(reason, reported_at)
        self._start(job_name)

    @property
    def held(self) -> tuple[int, int]:
        """Annotations owed and patches in progress (a gauge)."""
        return len(self._owed), len(self._running)

    def retry(self) -> None:
        """Try again every annotation still owed (not one already in progress)."""
        for name in list(self._owed):
            self._start(name)

    async def close(self) -> None:
        """Wait for the annotations in progress (bounded)."""
        if self._running:
            await asyncio.wait(self._running.values(), timeout=5)

    def _start(self, job_name: str) -> None:
        if job_name in self._running:
            return
        task = asyncio.get_running_loop().create_task(self._annotate(job_name))
        self._running[job_name] = task
        task.add_done_callback(lambda _: self._running.pop(job_name, None))

    async def _annotate(self, job_name: str) -> None:
        async with self._slots:
            entry = self._owed.get(job_name)
            if entry is None:
                return
            result = await self._annotator.annotate_reported(
                namespace=self._namespace, job_name=job_name, reason=entry.reason,
                reported_at=entry.reported_at)
            match result:
                case Success(_):
                    self._owed.pop(job_name, None)
                    await self._on_annotated(job_name)
                case Failure(error) if error.kind is AnnotateErrorKind.NOT_FOUND:
                    self._owed.pop(job_name, None)
                    log_event(log, logging.DEBUG, "annotate_skipped", job=job_name,
                              why="job gone")
                case Failure(error):
                    self._metrics.annotate_errors.labels(kind=error.kind.value).inc()
                    log_event(log, logging.WARNING, "annotate_failed", job=job_name,
                              kind=error.kind.value, error=error.message)

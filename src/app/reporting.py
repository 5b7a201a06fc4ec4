"""From a zombie verdict to a committed failure, once per Job (SPEC §7).

Detections from the informer path and the sweeper land here. Each pending Job
is checked against both dedupe layers (memory, then the durable annotation),
published only while this instance leads, recorded in memory only after the
transaction committed, and then annotated. Pending detections are drained in
batches: a burst of a thousand failing pods becomes a few transactions, each
failure's pair still atomic, instead of a thousand round trips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from returns.result import Failure, Success

from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.commands import FailureReport
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.doctrine import DoctrineError, zombie_failure
from zombiewatch.domain.ports import (
    AnnotateErrorKind,
    Clock,
    ClusterCache,
    CommandPublisher,
    FailureHistory,
    JobAnnotator,
    LeaderStatus,
    PublishErrorKind,
)
from zombiewatch.domain.reasons import ZombieReason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """A Job judged a zombie, waiting to be reported."""

    task_id: str
    job_name: str
    verdict: Verdict
    path: str
    """``informer`` or ``sweeper``: which path saw it (logs, latency metric)."""
    elapsed: timedelta | None
    """Time since the Job started, when known (logged)."""
    seen_monotonic: float
    """When it was detected, on the monotonic clock, for the latency metric."""


@dataclass(frozen=True, slots=True)
class _Unannotated:
    reason: ZombieReason
    reported_at: datetime


class Reporter:
    """Owns the publish path: dedupe, leadership, transaction, record, annotate."""

    def __init__(
        self,
        *,
        publisher: CommandPublisher,
        annotator: JobAnnotator,
        cache: ClusterCache,
        leader: LeaderStatus,
        clock: Clock,
        dedupe: RecentFailures,
        book: InFlightBook,
        metrics: Metrics,
        namespace: str,
        history: FailureHistory | None = None,
        max_batch: int = 500,
        annotate_concurrency: int = 16,
    ) -> None:
        self._publisher = publisher
        self._annotator = annotator
        self._cache = cache
        self._leader = leader
        self._clock = clock
        self._dedupe = dedupe
        self._book = book
        self._metrics = metrics
        self._namespace = namespace
        self._history = history
        self._history_recalled = False
        self._max_batch = max_batch
        self._annotate_slots = asyncio.Semaphore(annotate_concurrency)
        self._pending: dict[str, Detection] = {}
        self._wakeup = asyncio.Event()
        self._unannotated: dict[str, _Unannotated] = {}
        self._annotations: set[asyncio.Task[None]] = set()
        self._annotating: set[str] = set()
        self._stopping = False
        # One flush at a time: the run loop's and sweep_now's may overlap, and a Job popped
        # by each (resubmitted meanwhile) would otherwise be admitted twice before either
        # commit records it in the dedupe memory.
        self._flushing = asyncio.Lock()

    def submit(self, detection: Detection) -> None:
        """Queue a detection; a Job already pending is queued once."""
        if detection.job_name not in self._pending:
            self._pending[detection.job_name] = detection
            self._wakeup.set()

    def already_reported(self, job_name: str, *, now: datetime) -> bool:
        """Either dedupe layer knows the Job (cheap; used by the sweeper to skip work)."""
        if self._dedupe.seen(job_name, now=now):
            return True
        job = self._cache.job(job_name)
        return job is not None and job.reported

    def set_dedupe_ttl(self, ttl: timedelta) -> None:
        """Follow the Configs: twice the longest ``zombieJobTimeoutSeconds`` (SPEC §7)."""
        if ttl != self._dedupe.ttl:
            self._dedupe.ttl = ttl

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Drain pending detections until :meth:`stop` (or cancellation)."""
        while not self._stopping:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self.flush()

    def start_term(self) -> None:
        """This instance just became leader: recall the topic before the next publish.

        Failures committed by a crashed predecessor (or by this process before a
        restart) whose annotation never landed are on the topic only.
        """
        self._history_recalled = False

    async def recall_history(self) -> bool:
        """Recall the topic now, ahead of the first publish of the term (if not done yet)."""
        if self._history_recalled:
            return True
        return await self._recall_history(self._clock.now())

    def stop(self) -> None:
        """Let :meth:`run` return after the batch in progress; nothing new is started."""
        self._stopping = True
        self._wakeup.set()

    async def flush(self) -> None:
        """Report everything pending now, in batches; also retry missing annotations."""
        async with self._flushing:
            while self._pending and not self._stopping:
                names = list(self._pending)[: self._max_batch]
                batch = [self._pending.pop(name) for name in names]
                await self._report(batch)
            self._retry_annotations()

    async def close(self) -> None:
        """Wait for the annotations started by committed publishes (bounded)."""
        if self._annotations:
            await asyncio.wait(self._annotations, timeout=5)

    async def _report(self, batch: Sequence[Detection]) -> None:
        now = self._clock.now()
        reports: list[tuple[Detection, FailureReport]] = []
        for detection in batch:
            report = self._admit(detection, now=now)
            if report is not None:
                reports.append((detection, report))
        if not reports:
            return
        if not self._history_recalled:
            if not await self._recall_history(now):
                return  # Kafka unreachable: publishing would fail too; the sweeper retries
            reports = [(d, r) for d, r in reports if not self._dedupe.seen(r.job_name, now=now)]
            if not reports:
                return
        result = await self._publisher.publish_failures([r for _, r in reports])
        match result:
            case Success(_):
                committed = time.monotonic()
                for detection, report in reports:
                    self._committed(detection, report, committed_monotonic=committed)
            case Failure(error):
                self._metrics.publish_errors.labels(kind=error.kind.value).inc()
                level = logging.ERROR if error.kind is PublishErrorKind.FENCED else logging.WARNING
                log_event(log, level, "publish_failed", kind=error.kind.value,
                          failures=len(reports), error=error.message)

    async def _recall_history(self, now: datetime) -> bool:
        """Learn the failures already on the topic; False when Kafka cannot be read now."""
        if self._history is None:
            self._history_recalled = True
            return True
        result = await self._history.reported_since(now - self._dedupe.ttl)
        match result:
            case Success(failures):
                repaired = 0
                for failure in failures:
                    self._dedupe.record(failure.job_name, now=now)
                    job = self._cache.job(failure.job_name)
                    if job is not None and not job.reported:
                        repaired += 1
                        self._unannotated[failure.job_name] = _Unannotated(
                            failure.reason, failure.at)
                        self._start_annotation(failure.job_name)
                log_event(log, logging.INFO, "history_recalled", failures=len(failures),
                          unannotated=repaired)
                self._history_recalled = True
                return True
            case Failure(error) if error.kind is PublishErrorKind.UNAVAILABLE:
                log_event(log, logging.WARNING, "history_unavailable", error=error.message)
                return False
            case Failure(error):
                # Not readable for good (e.g. no read ACL): carry on at-least-once; the
                # deterministic request ids still let consumers drop a re-publish.
                log_event(log, logging.WARNING, "history_refused", kind=error.kind.value,
                          error=error.message)
                self._history_recalled = True
                return True
        return False

    def _admit(self, detection: Detection, *, now: datetime) -> FailureReport | None:
        name = detection.job_name
        if self._dedupe.seen(name, now=now):
            self._metrics.dedupe_hits.labels(layer="memory").inc()
            log_event(log, logging.DEBUG, "zombie_dedupe", job=name, layer="memory")
            return None
        job = self._cache.job(name)
        if job is not None and job.reported:
            self._metrics.dedupe_hits.labels(layer="annotation").inc()
            log_event(log, logging.DEBUG, "zombie_dedupe", job=name, layer="annotation")
            self._dedupe.record(name, now=now)
            return None
        if job is None and not self._book.is_registered(name):
            # In-flight work is a labelled Job or a host registration (SPEC §6). A pod
            # whose owner Job is unknown is either early (the Job informer has not
            # listed yet: the sweeper judges it once synced) or orphaned (nothing to
            # annotate, so nothing would stop it being reported after every restart).
            log_event(log, logging.DEBUG, "detection_skipped", job=name, why="job unknown")
            return None
        if not self._leader.is_leader():
            return None
        try:
            return zombie_failure(
                task_id=detection.task_id, job_name=name, reason=detection.verdict.reason, at=now
            )
        except DoctrineError as exc:
            log_event(log, logging.ERROR, "failure_refused", job=name, error=str(exc))
            return None

    def _committed(
        self, detection: Detection, report: FailureReport, *, committed_monotonic: float
    ) -> None:
        self._dedupe.record(report.job_name, now=report.occurred_at)
        self._book.forget(report.job_name)
        latency = max(0.0, committed_monotonic - detection.seen_monotonic)
        self._metrics.failures_published.labels(
            reason=report.reason.value, path=detection.path).inc()
        self._metrics.detection_latency.labels(path=detection.path).observe(latency)
        elapsed = detection.elapsed.total_seconds() if detection.elapsed is not None else None
        log_event(log, logging.INFO, "failure_published", task=report.task_id,
                  job=report.job_name, reason=report.reason.value,
                  rule=detection.verdict.rule.value, path=detection.path, elapsed_s=elapsed,
                  latency_ms=round(latency * 1000, 1))
        self._unannotated[report.job_name] = _Unannotated(report.reason, report.occurred_at)
        self._start_annotation(report.job_name)

    def _retry_annotations(self) -> None:
        for name in list(self._unannotated):
            self._start_annotation(name)

    def _start_annotation(self, job_name: str) -> None:
        if job_name in self._annotating:
            return
        self._annotating.add(job_name)
        task = asyncio.get_running_loop().create_task(self._annotate(job_name))
        self._annotations.add(task)
        task.add_done_callback(self._annotations.discard)

    async def _annotate(self, job_name: str) -> None:
        try:
            await self._annotate_once(job_name)
        finally:
            self._annotating.discard(job_name)

    async def _annotate_once(self, job_name: str) -> None:
        async with self._annotate_slots:
            entry = self._unannotated.get(job_name)
            if entry is None:
                return
            result = await self._annotator.annotate_reported(
                namespace=self._namespace, job_name=job_name, reason=entry.reason,
                reported_at=entry.reported_at)
            match result:
                case Success(_):
                    self._unannotated.pop(job_name, None)
                case Failure(error) if error.kind is AnnotateErrorKind.NOT_FOUND:
                    self._unannotated.pop(job_name, None)
                    log_event(log, logging.DEBUG, "annotate_skipped", job=job_name,
                              why="job gone")
                case Failure(error):
                    self._metrics.annotate_errors.labels(kind=error.kind.value).inc()
                    log_event(log, logging.WARNING, "annotate_failed", job=job_name,
                              kind=error.kind.value, error=error.message)

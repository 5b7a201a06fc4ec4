"""From a zombie verdict to a committed failure, once per Job (SPEC §7).

Detections from the event path and the sweeper land here. Each pending Job
is checked against the gate's holds once more just before publishing (both
dedupe layers, a Job nobody knows, a completed or resolved one: the state may
have changed since it was detected), published only while this instance
leads, recorded in memory only after the transaction committed, and then
annotated. Pending detections are drained in batches: a burst of a thousand
failing pods becomes a few transactions, each failure's pair still atomic,
instead of a thousand round trips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from returns.result import Failure, Success

from zombiewatch.app.annotations import Annotations
from zombiewatch.app.confirming import Confirmer
from zombiewatch.app.judging import Detection, Judge
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.doctrine import DoctrineError, zombie_failure
from zombiewatch.domain.gate import Hold, hold_of
from zombiewatch.domain.ledger import LEDGER_MARGIN, DeliveredCommands, undelivered
from zombiewatch.domain.ports import (
    BrokerErrorKind,
    Clock,
    ClusterCache,
    CommandPublisher,
    FailureHistory,
    LeaderStatus,
)

log = logging.getLogger(__name__)

__all__ = ["Detection", "Reporter"]
_TRY_LATER = (BrokerErrorKind.UNAVAILABLE, BrokerErrorKind.UNAUTHENTICATED)
"""Read-back errors after which publishing would fail too: wait for the next attempt."""

_ZOMBIE_PARTS = frozenset(Operation)
"""Both commands of a zombie failure (update and increment)."""


MAX_BATCH: Final = 500
"""Failures per transaction: a burst becomes a few commits, each bounded in size."""


class Reporter:
    """Owns the publish path: gate, leadership, transaction, record, annotate."""

    def __init__(
        self,
        *,
        publisher: CommandPublisher,
        annotations: Annotations,
        judge: Judge,
        leader: LeaderStatus,
        clock: Clock,
        history: FailureHistory,
        metrics: Metrics,
        confirmer: Confirmer | None = None,
    ) -> None:
        self._publisher = publisher
        self._annotations = annotations
        self._judge = judge
        self._leader = leader
        self._clock = clock
        self._history = history
        self._metrics = metrics
        self._history_recalled = False
        self._confirmer = confirmer
        self._delivered = DeliveredCommands()
        self._ledger_stale_since: datetime | None = None
        """Set by a publish whose outcome is unknown: re-read the ledger before the next."""
        self._pending: dict[str, Detection] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False
        # One flush at a time: the run loop's and sweep_now's may overlap, and a Job popped
        # by each (resubmitted meanwhile) would otherwise be admitted twice before either
        # commit records it in the dedupe memory.
        self._flushing = asyncio.Lock()

    @property
    def _dedupe(self) -> RecentFailures:
        return self._judge.dedupe

    @property
    def _cache(self) -> ClusterCache:
        return self._judge.cache

    @property
    def _book(self) -> InFlightBook:
        return self._judge.book

    def submit(self, detection: Detection) -> None:
        """Queue a detection; a Job already pending is queued once."""
        if detection.job_name not in self._pending:
            self._pending[detection.job_name] = detection
            self._wakeup.set()

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
                names = list(self._pending)[:MAX_BATCH]
                batch = [self._pending.pop(name) for name in names]
                await self._report(batch)
            self._annotations.retry()

    async def close(self) -> None:
        """Wait for the annotations started by committed publishes (bounded)."""
        await self._annotations.close()

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
        elif self._ledger_stale_since is not None and not await self._reread_ledger(now):
            return  # outcome of the last attempt still unknown: never risk a second send
        reports = self._undelivered(reports, now=now)
        if not reports:
            return
        result = await self._publisher.publish_failures([r for _, r in reports])
        match result:
            case Success(_):
                committed = time.monotonic()
                for detection, report in reports:
                    self._committed(detection, report, committed_monotonic=committed)
            case Failure(error):
                # Some records may have reached the log (read_uncommitted consumers
                # applied them): the ledger decides before anything is sent again.
                stale = self._ledger_stale_since
                self._ledger_stale_since = now if stale is None else min(stale, now)
                self._metrics.publish_errors.labels(kind=error.kind.value).inc()
                level = logging.ERROR if error.kind is BrokerErrorKind.FENCED else logging.WARNING
                log_event(log, level, "publish_failed", kind=error.kind.value,
                          failures=len(reports), error=error.message)

    async def _recall_history(self, now: datetime) -> bool:
        """Learn the failures already on the topic; False when Kafka cannot be read now."""
        window = self._dedupe.ttl
        if self._confirmer is not None:  # far enough back to resume every repair in progress
            window = max(window, self._confirmer.policy.horizon)
        if await self._read_ledger(now - window, now=now, why="term"):
            self._history_recalled = True
            return True
        return False

    async def _reread_ledger(self, now: datetime) -> bool:
        """After a publish with an unknown outcome: read the ledger from that attempt on."""
        since = self._ledger_stale_since
        if since is None:
            return True
        return await self._read_ledger(since - LEDGER_MARGIN, now=now, why="retry")

    async def _read_ledger(self, since: datetime, *, now: datetime, why: str) -> bool:
        """Settle our transactions, then read the topic since ``since``; False: try later."""
        match await self._publisher.settle():
            case Failure(error):
                log_event(log, logging.WARNING, "ledger_unsettled", kind=error.kind.value,
                          why=why, error=error.message)
                return False
            case _:
                pass
        match await self._history.reported_since(since):
            case Success(reading):
                self._delivered.forget_before(now - self._dedupe.ttl)
                self._delivered.learn(reading.request_ids)
                if self._confirmer is not None:
                    self._confirmer.learn(reading, now=now)
                repaired = 0
                for failure in reading.failures:
                    if self._delivered.delivered(failure.job_name) != _ZOMBIE_PARTS:
                        continue  # half delivered: completed when the Job is judged again
                    self._dedupe.record(failure.job_name, now=now)
                    if self._needs_annotation(failure.job_name):
                        repaired += 1
                        self._annotations.owe(failure.job_name, reason=failure.reason,
                                              reported_at=failure.at)
                log_event(log, logging.INFO, "history_recalled", why=why,
                          failures=len(reading.failures), commands=len(reading.request_ids),
                          unannotated=repaired)
                self._ledger_stale_since = None
                return True
            case Failure(error) if error.kind in _TRY_LATER:
                log_event(log, logging.WARNING, "history_unavailable", kind=error.kind.value,
                          why=why, error=error.message)
                return False
            case Failure(error):
                # Not readable now (e.g. no Read ACL): carry on at-least-once; the
                # deterministic request ids still let consumers drop a re-publish.
                log_event(log, logging.WARNING, "history_refused", kind=error.kind.value,
                          why=why, error=error.message)
                self._ledger_stale_since = None
                return True
        return False

    def _needs_annotation(self, job_name: str) -> bool:
        job = self._cache.job(job_name)
        return job is not None and not job.reported

    def _undelivered(
        self, reports: Sequence[tuple[Detection, FailureReport]], *, now: datetime
    ) -> list[tuple[Detection, FailureReport]]:
        """Only what the ledger does not hold: whole failures, or the missing part of one."""
        kept: list[tuple[Detection, FailureReport]] = []
        for detection, report in reports:
            rest = undelivered(report, self._delivered.delivered(report.job_name))
            if rest is None:
                self._metrics.dedupe_hits.labels(layer="ledger").inc()
                log_event(log, logging.INFO, "failure_already_delivered", job=report.job_name)
                self._dedupe.record(report.job_name, now=now)
                if self._needs_annotation(report.job_name):
                    # The reason on the topic (learnt by the read) wins over today's verdict.
                    self._annotations.owe_unless_owed(report.job_name, reason=report.reason,
                                                      reported_at=now)
                continue
            if rest is not report:
                log_event(log, logging.INFO, "failure_completed", job=report.job_name,
                          missing=",".join(c.operation.value for c in rest.commands))
            kept.append((detection, rest))
        return kept

    def _admit(self, detection: Detection, *, now: datetime) -> FailureReport | None:
        name = detection.job_name
        held = hold_of(self._judge.inputs(name, now=now, task_id=detection.task_id))
        if held is Hold.RECENTLY_REPORTED:
            self._metrics.dedupe_hits.labels(layer="memory").inc()
            log_event(log, logging.DEBUG, "zombie_dedupe", job=name, layer="memory")
            return None
        if held is Hold.REPORTED:
            self._metrics.dedupe_hits.labels(layer="annotation").inc()
            log_event(log, logging.DEBUG, "zombie_dedupe", job=name, layer="annotation")
            self._dedupe.record(name, now=now)
            return None
        if held is not None:
            log_event(log, logging.DEBUG, "detection_skipped", job=name, why=held.value)
            return None
        if not self._leader.is_leader():
            return None
        try:
            report = zombie_failure(
                task_id=detection.task_id, job_name=name, reason=detection.verdict.reason, at=now
            )
        except DoctrineError as exc:
            log_event(log, logging.ERROR, "failure_refused", job=name, error=str(exc))
            return None
        # The baseline for repairs is read now, before the publish: after the commit the
        # feed may already show our own increment applied (SPEC §13, never bump twice).
        return report if self._confirmer is None else self._confirmer.with_baseline(report)

    def _committed(
        self, detection: Detection, report: FailureReport, *, committed_monotonic: float
    ) -> None:
        self._dedupe.record(report.job_name, now=report.occurred_at)
        self._delivered.learn_report(report, at=report.occurred_at)
        if self._confirmer is not None:
            self._confirmer.published(report)
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
        self._annotations.owe(report.job_name, reason=report.reason,
                              reported_at=report.occurred_at)

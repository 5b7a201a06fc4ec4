"""From a zombie verdict to a committed failure, once per Job (SPEC §7).

Detections from the event path and the sweeper land here, and each batch
reads as its steps: the **storm guard** (:mod:`zombiewatch.app.storm`: zombies
that share a cause are held as one incident, and released here when due), the
**gate** (each pending Job is checked against the gate's holds once more just
before publishing: both dedupe layers, a Job nobody knows, a completed or
resolved one; the state may have changed since it was detected, and only the
leader goes on), the **doctrine** (the failure's commands, with the baseline
its repair would need), the **ledger** (what the request topic does not hold
yet), the **publish** (one transaction), the **commit** (recorded in memory
only once committed, and said on the Job as a ``ZombieReported`` Event) and the
**annotation**.
The ledger, publish, commit and annotation are :class:`~zombiewatch.app.delivery.Delivery`'s.

Completed Jobs get the success clear here too (:meth:`Reporter.completed`): the
same leadership, ledger and publisher, so it is sent once per Job like a failure.

Pending detections are drained in batches: a burst of a thousand failing pods
becomes a few transactions, each failure's pair still atomic, instead of a
thousand round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from zombiewatch.app.confirming import Confirmation
from zombiewatch.app.delivery import Delivery
from zombiewatch.app.evidence import EventEvidence
from zombiewatch.app.judging import Detection, Judge
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import NO_CAUSE, Metrics
from zombiewatch.app.storm import HELD_PATH, StormWatch
from zombiewatch.domain.commands import FailureReport
from zombiewatch.domain.doctrine import DoctrineError, success_clear_due, zombie_failure
from zombiewatch.domain.gate import Hold, hold_of
from zombiewatch.domain.ports import Clock

log = logging.getLogger(__name__)

__all__ = ["MAX_BATCH", "Reporter"]

MAX_BATCH: Final = 500
"""Failures per transaction: a burst becomes a few commits, each bounded in size."""


class Reporter:
    """Owns the publish path: gate, doctrine, ledger, publish, commit, annotate."""

    def __init__(
        self,
        *,
        judge: Judge,
        delivery: Delivery,
        confirmation: Confirmation,
        clock: Clock,
        metrics: Metrics,
        storm: StormWatch,
        evidence: EventEvidence,
    ) -> None:
        self._judge = judge
        self._storm = storm
        self._evidence = evidence
        """Fills the never-started verdicts' detail and cause from their Events."""
        self._delivery = delivery
        self._confirmation = confirmation
        self._clock = clock
        self._metrics = metrics
        self._pending: dict[str, Detection] = {}
        self._completed: dict[str, str] = {}
        """Completed Jobs (name -> task id) whose success clear may be due."""
        self._wakeup = asyncio.Event()
        self._stopping = False
        # One flush at a time: the run loop's and sweep_now's may overlap, and a Job popped
        # by each (resubmitted meanwhile) would otherwise be admitted twice before either
        # commit records it in the dedupe memory.
        self._flushing = asyncio.Lock()

    @property
    def queued(self) -> tuple[int, int]:
        """Detections and success clears waiting for the next flush (a gauge)."""
        return len(self._pending), len(self._completed)

    def submit(self, detection: Detection) -> None:
        """Queue a detection; a Job already pending is queued once. The storm guard sees it
        at the flush, once the Events' evidence has named its cause."""
        if detection.job_name not in self._pending:
            self._pending[detection.job_name] = detection
            self._wakeup.set()

    def changed(self, job_name: str) -> None:
        """The Job is no zombie now: if the storm guard holds it, judge it again soon."""
        if self._storm.touch(job_name):
            self._wakeup.set()

    def completed(self, job_name: str, task_id: str) -> None:
        """A Job completed: clear its task's ``current_job`` if the task still names it."""
        if task_id and job_name not in self._completed:
            self._completed[job_name] = task_id
            self._wakeup.set()

    async def run(self) -> None:
        """Drain pending detections until :meth:`stop` (or cancellation); while the storm
        guard holds Jobs, wake up to judge them again."""
        while not self._stopping:
            timeout = self._storm.next_check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            self._wakeup.clear()
            await self.flush()

    def start_term(self) -> None:
        """This instance just became leader: recall the topic before the next publish.

        Failures committed by a crashed predecessor (or by this process before a
        restart) whose annotation never landed are on the topic only.
        """
        self._delivery.start_term()

    async def recall_history(self) -> bool:
        """Recall the topic now, ahead of the first publish of the term (if not done yet)."""
        return await self._delivery.recall(self._clock.now())

    def stop(self) -> None:
        """Let :meth:`run` return after the batch in progress; nothing new is started."""
        self._stopping = True
        self._wakeup.set()

    async def flush(self) -> None:
        """Report everything pending now (and the held Jobs the storm guard releases), in
        batches; also retry missing annotations."""
        async with self._flushing:
            for detection in self._storm.release():
                self._pending.setdefault(detection.job_name, detection)
            while self._pending and not self._stopping:
                names = list(self._pending)[:MAX_BATCH]
                batch = [self._pending.pop(name) for name in names]
                await self._report(batch)
            if self._completed and not self._stopping:
                await self._clear()
            self._delivery.retry_annotations()

    async def close(self) -> None:
        """Wait for the annotations started by committed publishes (bounded)."""
        await self._delivery.close()

    async def _report(self, batch: Sequence[Detection]) -> None:
        if self._delivery.leading():
            batch = await self._evidence.enrich(batch)  # before anything reads the verdict
            # The storm guard may hold a detection instead, judged with its cause (the
            # Events' too); what it releases comes back on the held path. A follower
            # publishes nothing, so it holds nothing.
            batch = [d for d in batch if d.path == HELD_PATH or self._storm.admit(d)]
        now = self._clock.now()
        admitted: dict[str, tuple[Detection, FailureReport]] = {}
        for detection in batch:
            report = self._admit(detection, now=now)  # gate, doctrine
            if report is not None:
                admitted[report.job_name] = (detection, report)
        if not admitted:
            return
        owed = await self._delivery.owed([r for _, r in admitted.values()], now=now)  # ledger
        if not owed:
            return
        if await self._delivery.publish(owed, now=now):  # publish
            committed = time.monotonic()
            for report in owed:
                self._committed(admitted[report.job_name][0], report,
                                committed_monotonic=committed)

    async def _clear(self) -> None:
        """Send the success clears due (SPEC §2): only while the caught-up task feed shows
        the task still naming the completed Job, once per Job (the ledger's), as leader.

        Dropped when nothing is due now: the sweeper offers every completed Job its task
        still names again on each tick, so a clear missed now (feed catching up, not
        leading, Kafka down) is sent later, and a restart needs no memory of it.
        """
        completed, self._completed = self._completed, {}
        tasks = self._judge.tasks
        if not self._delivery.leading() or not tasks.ready():
            return
        due = []
        for job_name, task_id in completed.items():
            try:
                command = success_clear_due(task_id=task_id, job_name=job_name,
                                            task=tasks.get(task_id))
            except DoctrineError as exc:
                log_event(log, logging.ERROR, "clear_refused", job=job_name, error=str(exc))
                continue
            if command is not None:
                due.append((job_name, command))
        for job_name in await self._delivery.clear(due, now=self._clock.now()):
            self._metrics.success_clears.inc()
            log_event(log, logging.INFO, "success_cleared", job=job_name,
                      task=completed[job_name])

    def _admit(self, detection: Detection, *, now: datetime) -> FailureReport | None:
        name = detection.job_name
        inputs = self._judge.inputs(name, now=now, task_id=detection.task_id)
        held = hold_of(inputs)
        if held is Hold.RECENTLY_REPORTED:
            self._metrics.dedupe_hits.labels(layer="memory").inc()
            log_event(log, logging.DEBUG, "zombie_dedupe", job=name, layer="memory")
            return None
        if held is Hold.REPORTED:
            self._metrics.dedupe_hits.labels(layer="annotation").inc()
            log_event(log, logging.DEBUG, "zombie_dedupe", job=name, layer="annotation")
            self._delivery.remember(name, now=now)
            return None
        if held is not None:
            log_event(log, logging.DEBUG, "detection_skipped", job=name, why=held.value)
            return None
        if not self._delivery.leading():
            return None
        try:
            report = zombie_failure(
                task_id=detection.task_id, job_name=name, reason=detection.verdict.reason,
                at=now, evidence=detection.verdict.evidence, detail=detection.verdict.detail,
                # The task's own vault, so only its controller applies it (SPEC §2).
                target_vault=inputs.task.target_vault if inputs.task is not None else None,
            )
        except DoctrineError as exc:
            log_event(log, logging.ERROR, "failure_refused", job=name, error=str(exc))
            return None
        # The baseline for repairs is read now, before the publish: after the commit the
        # feed may already show our own increment applied (SPEC §13, never bump twice).
        return self._confirmation.with_baseline(report)

    def _committed(
        self, detection: Detection, report: FailureReport, *, committed_monotonic: float
    ) -> None:
        self._confirmation.published(report)
        self._judge.published(report.job_name)
        latency = max(0.0, committed_monotonic - detection.seen_monotonic)
        cause = detection.verdict.cause
        self._metrics.failures_published.labels(
            reason=report.reason.value, path=detection.path,
            cause=cause.kind.value if cause is not None else NO_CAUSE).inc()
        self._metrics.detection_latency.labels(path=detection.path).observe(latency)
        elapsed = detection.elapsed.total_seconds() if detection.elapsed is not None else None
        log_event(log, logging.INFO, "failure_published", task=report.task_id,
                  job=report.job_name, reason=report.reason.value,
                  rule=detection.verdict.rule.value, path=detection.path, elapsed_s=elapsed,
                  latency_ms=round(latency * 1000, 1), detail=report.detail or None,
                  cause=cause.key if cause is not None else None)
        self._delivery.committed(report)  # recorded, the annotation owed, the Event queued

"""Shadow mode (``zombiewatch run --shadow``): judge as the daemon does, publish nothing,
and compare with what the agent system's executor publishes.

The container wires the null parts here instead of the real ones: a
:class:`VerdictRecorder` that keeps each failure the reporter would have
published (and when: its verdict time) and sends nothing, a
:class:`NullAnnotator` that writes nothing on the Job, and no reaping and no
Lease. Everything before the publish (the informers, the judge, the gate, the
dedupe, the ledger read-back of our own records) runs unchanged.

:class:`ShadowComparer` reads the executor's failure updates from the request
topic every ``CHECK_SECONDS`` and compares them with the recorded verdicts by
the domain's rule (:mod:`zombiewatch.domain.shadow`). Each Job's outcome is
counted once, when decided (``zombiewatch_shadow_jobs_total{outcome}``), with
the latency (executor's first send minus our verdict); every disagreement is
one ``shadow_disagreement`` log line (with ``storm=<cause>`` when the storm guard holds
the Job: it runs in shadow mode as it does live), and every repeated executor send of a Job
(its dedupe is in memory: a restart forgets it) one ``shadow_executor_repeat``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from prometheus_client import Counter, Histogram
from returns.result import Failure, Result, Success

from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.domain.causes import Cause
from zombiewatch.domain.commands import Command, FailureReport
from zombiewatch.domain.job_events import JobEvent
from zombiewatch.domain.ledger import LEDGER_MARGIN
from zombiewatch.domain.ports import (
    AnnotateError,
    Clock,
    ExecutorFailureSource,
    PublishError,
)
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.shadow import (
    DEFAULT_SETTLE,
    ExecutorFailure,
    OurVerdict,
    ShadowOutcome,
    ShadowRow,
    compare,
)

log = logging.getLogger(__name__)

CHECK_SECONDS = 30.0
"""How often the request topic is read for the executor's new failures."""

RETENTION = timedelta(hours=6)
"""Decided Jobs older than this are forgotten (memory stays bounded on a long trial)."""


class VerdictRecorder:
    """Implements ``CommandPublisher`` by keeping what would have been published: nothing is
    sent and no producer connects (no transactional id is taken, nobody is fenced)."""

    def __init__(self) -> None:
        self.verdicts: list[OurVerdict] = []
        """Each failure as the reporter would have published it, at its verdict time."""
        self.commands = 0
        """Commands of the host's dispatch path (embedded) swallowed: nothing is sent."""

    @property
    def started(self) -> bool:
        return True

    @property
    def fenced(self) -> bool:
        return False

    @property
    def problem(self) -> PublishError | None:
        return None

    async def start(self) -> Result[None, PublishError]:
        return Success(None)

    async def reconnect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish_failures(
        self, failures: Sequence[FailureReport]
    ) -> Result[None, PublishError]:
        """Keep each zombie failure as a verdict; a host's type mismatch (the dispatch path,
        embedded) is a helper command here: the comparison is about zombies."""
        for f in failures:
            if f.reason is ZombieReason.TYPE_MISMATCH:
                self.commands += len(f.commands)
            else:
                self.verdicts.append(OurVerdict(task_id=f.task_id, job_name=f.job_name,
                                                reason=f.reason, at=f.occurred_at))
        return Success(None)

    async def publish_commands(self, commands: Sequence[Command]) -> Result[None, PublishError]:
        self.commands += len(commands)
        return Success(None)

    async def settle(self) -> Result[None, PublishError]:
        return Success(None)

    def forget_before(self, moment: datetime) -> None:
        self.verdicts = [v for v in self.verdicts if v.at is None or v.at >= moment]


class NullAnnotator:
    """Implements ``JobAnnotator`` by writing nothing: the Job is left as the executor sees it
    (the in-memory dedupe still keeps a Job from being judged twice within its window)."""

    async def annotate_reported(
        self, *, namespace: str, job_name: str, reason: ZombieReason, reported_at: datetime
    ) -> Result[None, AnnotateError]:
        return Success(None)


class NullEventRecorder:
    """Implements ``JobEventRecorder`` (and ``Lifecycle``) by saying nothing: a shadow daemon
    leaves no Event on the Job, which the executor and the operator would read as ours."""

    def record(self, event: JobEvent) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def _nothing_held(_: str) -> Cause | None:
    """No storm guard to ask (a comparer on its own)."""
    return None


class ShadowMetrics:
    """The comparison's instruments."""

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.jobs = Counter(
            "zombiewatch_shadow_jobs",
            "Shadow mode: Jobs compared with the executor, by outcome (agreement, "
            "reason_disagreement, zombiewatch_only, executor_only).", ["outcome"], registry=r)
        self.latency = Histogram(
            "zombiewatch_shadow_latency_seconds",
            "Shadow mode: the executor's first failure send minus zombiewatch's verdict, "
            "per Job both reported (positive: zombiewatch first).",
            buckets=(-600, -120, -30, -10, -1, 0, 1, 10, 30, 120, 600), registry=r)
        self.executor_repeats = Counter(
            "zombiewatch_shadow_executor_repeats",
            "Shadow mode: failure updates the executor sent again for a Job it had reported.",
            registry=r)
        self.read_errors = Counter(
            "zombiewatch_shadow_read_errors",
            "Shadow mode: reads of the request topic that failed, by error kind.", ["kind"],
            registry=r)


class ShadowComparer:
    """Reads the executor's failures and compares them with the recorded verdicts."""

    def __init__(self, *, verdicts: VerdictRecorder, source: ExecutorFailureSource,
                 clock: Clock, metrics: Metrics, settle: timedelta = DEFAULT_SETTLE,
                 held: Callable[[str], Cause | None] = _nothing_held) -> None:
        self._verdicts = verdicts
        self._held = held
        """The storm incident holding a Job now, if one does (the guard runs in shadow mode
        as it does live: a held Job is one the executor reports and zombiewatch not yet)."""
        self._source = source
        self._clock = clock
        self._metrics = ShadowMetrics(metrics)
        self._settle = settle
        self._since: datetime | None = None
        """The end of the last read (the start of this instance at first)."""
        self._failures: dict[tuple[object, ...], ExecutorFailure] = {}
        self._counted: dict[tuple[str, str], int] = {}
        """Decided Jobs and how many executor sends were counted for each."""
        self.rows: tuple[ShadowRow, ...] = ()
        """The comparison as of the last tick (every Job seen, pending ones included)."""

    async def run(self, interval: float = CHECK_SECONDS) -> None:
        """Compare now (the first tick marks the start) and every ``interval`` until
        cancelled."""
        while True:
            await self.tick()
            await asyncio.sleep(interval)

    async def tick(self) -> None:
        """Read the executor's failures since the last read, compare, count what is decided."""
        now = self._clock.now()
        since = self._since if self._since is not None else now
        if self._since is None:
            self._since = now  # the first tick only marks the start: nothing before it
        match await self._source.executor_failures_since(since - LEDGER_MARGIN):
            case Failure(error):
                self._metrics.read_errors.labels(kind=error.kind.value).inc()
                log_event(log, logging.WARNING, "shadow_read_failed", kind=error.kind.value,
                          error=error.message)
                return
            case Success(failures):
                start = self._since
                for failure in failures:
                    if failure.sent_at >= start - LEDGER_MARGIN:
                        self._failures[_identity(failure)] = failure
        self._since = now
        self._forget_before(now - RETENTION)
        self.rows = compare(self._verdicts.verdicts, self._failures.values(), now=now,
                            settle=self._settle)
        for row in self.rows:
            self._count(row)

    def _count(self, row: ShadowRow) -> None:
        key = (row.task_id, row.job_name)
        counted = self._counted.get(key)
        if counted is None:
            if row.outcome is ShadowOutcome.PENDING:
                return
            self._counted[key] = row.executor_sends
            self._metrics.jobs.labels(outcome=row.outcome.value).inc()
            if row.latency is not None:
                self._metrics.latency.observe(row.latency.total_seconds())
            if row.outcome.disagrees:
                _log_disagreement(row, self._held(row.job_name))
            repeats = max(0, row.executor_sends - 1)
        else:
            repeats = row.executor_sends - counted
            self._counted[key] = row.executor_sends
        if repeats > 0:
            self._metrics.executor_repeats.inc(repeats)
            log_event(log, logging.INFO, "shadow_executor_repeat", task=row.task_id,
                      job=row.job_name, sends=row.executor_sends)

    def _forget_before(self, moment: datetime) -> None:
        old = [k for k, f in self._failures.items() if f.sent_at < moment]
        for k in old:
            del self._failures[k]
        self._verdicts.forget_before(moment)
        known = {(f.task_id, f.job_name) for f in self._failures.values()} | {
            (v.task_id, v.job_name) for v in self._verdicts.verdicts}
        for key in [k for k in self._counted if k not in known]:
            del self._counted[key]


def _identity(failure: ExecutorFailure) -> tuple[object, ...]:
    """One send: its request id (random per send) and what it says."""
    return (failure.request_id, failure.task_id, failure.job_name, failure.sent_at)


def _log_disagreement(row: ShadowRow, held: Cause | None) -> None:
    """One structured line per disagreement: both sides, their times and the latency, and
    the storm incident holding the Job when one does (``storm=<cause>``)."""
    ours = row.ours
    log_event(
        log, logging.WARNING, "shadow_disagreement", outcome=row.outcome.value,
        task=row.task_id, job=row.job_name,
        ours=ours.reason.value if ours is not None else None,
        ours_at=ours.at.isoformat() if ours is not None and ours.at is not None else None,
        executor=row.executor_reason.value if row.executor_reason is not None else None,
        executor_at=row.executor_at.isoformat() if row.executor_at is not None else None,
        executor_sends=row.executor_sends,
        latency_s=row.latency.total_seconds() if row.latency is not None else None,
        storm=held.key if held is not None else None)

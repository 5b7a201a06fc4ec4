"""Delivery: getting each failure onto the request topic once, and what is still owed.

The controller reads the request topic ``read_uncommitted`` and keeps no record
of request ids, so the topic itself is the ledger of what was delivered
(:mod:`zombiewatch.domain.ledger`). This service is the one place that reads it
and acts on it:

- at the start of a leadership term (:meth:`Delivery.start_term`), before the
  first publish, it recalls the topic over the recall window (the dedupe TTL,
  or the confirmation horizon when longer: far enough back to resume every
  repair in progress); after a publish whose outcome is unknown it re-reads
  the topic from that attempt on before anything is sent again. Each read
  first settles our own transactions (the producer's), teaches confirmation
  what is unconfirmed, records fully delivered failures as recently reported
  and owes the missing annotations;
- :meth:`Delivery.owed` answers which of the failures about to be published
  the topic does not hold yet (whole, or the missing part of one);
- :meth:`Delivery.publish` sends them as one transaction (the reporter asks
  :meth:`Delivery.leading` first), and :meth:`Delivery.committed` records a
  committed one and owes its Job the durable annotation;
- :meth:`Delivery.clear` sends the success clears of completed Jobs the topic
  does not hold yet (once per Job, by their deterministic request ids).

The rules (which commands are delivered, what is fully delivered, the ledger
margin) are the domain's; this module gathers their inputs and performs the
effects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from returns.result import Failure, Success

from zombiewatch.app.annotations import Annotations
from zombiewatch.app.confirming import Confirmation
from zombiewatch.app.job_events import JobEvents
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.domain.commands import FailureReport, UpdateFrontmatter
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.ledger import (
    LEDGER_MARGIN,
    DeliveredCommands,
    clear_request_id,
    undelivered,
)
from zombiewatch.domain.ports import (
    BrokerErrorKind,
    ClusterCache,
    CommandPublisher,
    FailureHistory,
    LeaderStatus,
)

log = logging.getLogger(__name__)

_TRY_LATER = (BrokerErrorKind.UNAVAILABLE, BrokerErrorKind.UNAUTHENTICATED)
"""Read-back errors after which publishing would fail too: wait for the next attempt."""


class Delivery:
    """The request topic as a ledger: recall, what is owed, publish, record, annotate."""

    def __init__(
        self,
        *,
        publisher: CommandPublisher,
        history: FailureHistory,
        leader: LeaderStatus,
        annotations: Annotations,
        cache: ClusterCache,
        dedupe: RecentFailures,
        confirmation: Confirmation,
        metrics: Metrics,
        events: JobEvents,
    ) -> None:
        self._events = events
        self._publisher = publisher
        self._history = history
        self._leader = leader
        self._annotations = annotations
        self._cache = cache
        self._dedupe = dedupe
        self._confirmation = confirmation
        self._metrics = metrics
        self._recalled = False
        self._delivered = DeliveredCommands()
        self._stale_since: datetime | None = None
        """Set by a publish whose outcome is unknown: re-read the ledger before the next."""

    def start_term(self) -> None:
        """A new leadership term: recall the topic before the next publish."""
        self._recalled = False

    def leading(self) -> bool:
        """Only the leader publishes."""
        return self._leader.is_leader()

    async def recall(self, now: datetime) -> bool:
        """Recall the topic now (once per term); False when Kafka cannot be read now."""
        if self._recalled:
            return True
        window = max(self._dedupe.ttl, self._confirmation.horizon)
        if await self._read(now - window, now=now, why="term"):
            self._recalled = True
            return True
        return False

    async def owed(self, reports: Sequence[FailureReport], *,
                   now: datetime) -> list[FailureReport]:
        """What the ledger does not hold of ``reports``: whole failures, or the missing part.

        Empty when the ledger cannot be read now (recall of the term, or the re-read
        after an unknown outcome): sending blind could deliver a failure twice.
        A failure already delivered is recorded as reported and its annotation owed.
        """
        if not await self._ledger_read(now):
            return []
        kept: list[FailureReport] = []
        for report in reports:
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
            kept.append(rest)
        return kept

    async def clear(self, clears: Sequence[tuple[str, UpdateFrontmatter]], *,
                    now: datetime) -> list[str]:
        """Send the success clears (``(job name, command)``) the ledger does not hold yet, in
        one transaction with their deterministic request ids; the Jobs cleared now.

        Like a failure, a clear is sent once per Job: the ledger (read at the start of the
        term and after an unknown outcome) remembers the ones a predecessor sent.
        """
        if not clears or not await self._ledger_read(now):
            return []
        due = [(job, command) for job, command in clears if not self._delivered.cleared(job)]
        if not due:
            return []
        ids = [clear_request_id(job) for job, _ in due]
        match await self._publisher.publish_commands([c for _, c in due], request_ids=ids):
            case Success(_):
                self._delivered.learn((request_id, now) for request_id in ids)
                return [job for job, _ in due]
            case Failure(error):
                self._unknown_outcome(now)
                self._metrics.publish_errors.labels(kind=error.kind.value).inc()
                log_event(log, logging.WARNING, "clear_failed", kind=error.kind.value,
                          clears=len(due), error=error.message)
        return []

    async def publish(self, reports: Sequence[FailureReport], *, now: datetime) -> bool:
        """Send ``reports`` as one transaction; True once committed."""
        match await self._publisher.publish_failures(list(reports)):
            case Success(_):
                return True
            case Failure(error):
                self._unknown_outcome(now)
                self._metrics.publish_errors.labels(kind=error.kind.value).inc()
                level = logging.ERROR if error.kind is BrokerErrorKind.FENCED else logging.WARNING
                log_event(log, level, "publish_failed", kind=error.kind.value,
                          failures=len(reports), error=error.message)
        return False

    async def _ledger_read(self, now: datetime) -> bool:
        """The ledger is current: recalled this term, re-read after an unknown outcome.

        False when it cannot be read now: sending blind could deliver a command twice.
        What our own publishes taught it is kept for the dedupe window only, as after a
        read: without that, one entry per failure and clear ever sent in the term.
        """
        self._delivered.forget_before(now - self._dedupe.ttl)
        if not self._recalled:
            # Kafka unreachable: publishing would fail too; the sweeper retries.
            return await self.recall(now)
        if self._stale_since is not None:
            # The outcome of the last attempt is still unknown: never risk a second send.
            return await self._read(self._stale_since - LEDGER_MARGIN, now=now, why="retry")
        return True

    def _unknown_outcome(self, now: datetime) -> None:
        """A publish failed: some records may have reached the log (read_uncommitted
        consumers applied them), so the ledger decides before anything is sent again."""
        stale = self._stale_since
        self._stale_since = now if stale is None else min(stale, now)

    def committed(self, report: FailureReport) -> None:
        """``report`` was committed: its commands are on the topic, the Job is recently
        reported, it is owed its durable annotation (started now, retried until it lands) and
        its ``ZombieReported`` Event is queued (never awaited).
        """
        self._dedupe.record(report.job_name, now=report.occurred_at)
        self._delivered.learn_report(report, at=report.occurred_at)
        self._annotations.owe(report.job_name, reason=report.reason,
                              reported_at=report.occurred_at)
        self._events.reported(report)

    def remember(self, job_name: str, *, now: datetime) -> None:
        """The Job carries its annotation: reported, for the in-memory layer too."""
        self._dedupe.record(job_name, now=now)

    @property
    def ledger_entries(self) -> int:
        """Request ids the ledger holds (a gauge)."""
        return len(self._delivered)

    def retry_annotations(self) -> None:
        self._annotations.retry()

    async def close(self) -> None:
        """Wait for the annotations started by committed publishes (bounded)."""
        await self._annotations.close()

    async def _read(self, since: datetime, *, now: datetime, why: str) -> bool:
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
                self._delivered.learn(reading.clears)
                self._confirmation.learn(reading, now=now)
                repaired = 0
                for failure in reading.failures:
                    if not self._delivered.fully_delivered(failure.job_name):
                        continue  # half delivered: completed when the Job is judged again
                    self._dedupe.record(failure.job_name, now=now)
                    if self._needs_annotation(failure.job_name):
                        repaired += 1
                        self._annotations.owe(failure.job_name, reason=failure.reason,
                                              reported_at=failure.at)
                log_event(log, logging.INFO, "history_recalled", why=why,
                          failures=len(reading.failures), commands=len(reading.request_ids),
                          unannotated=repaired)
                self._stale_since = None
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
                self._stale_since = None
                return True
        return False

    def _needs_annotation(self, job_name: str) -> bool:
        job = self._cache.job(job_name)
        return job is not None and not job.reported

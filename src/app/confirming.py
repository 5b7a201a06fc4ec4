"""Confirmation and repair of published failures (SPEC §13): the loop around the domain's rules.

Every failure the reporter commits is watched until the task feed shows its
task moved on (``current_job`` no longer the Job). The rules are the domain's
(:mod:`zombiewatch.domain.confirmation`: the :class:`Watchlist` of unconfirmed
failures, :func:`next_step`, the baseline); this module gathers their inputs
(the clock, the feed, leadership), re-publishes through the same publisher
(same request ids, a fresh ``requestTime``: the publisher stamps the time of
each send), logs, counts and says it on the Job (``ZombieDeliveryRepaired``,
``ZombieDeliveryGivenUp`` Events). Only the leader repairs. The state lives in memory
and is derived again at every leadership start from the ledger (the request
topic: which failures were sent, how often, when, and the ``trigger_count``
each increment was sent against) and the feed, so a restart or a new leader
picks up where the last one was; no local file.

The baseline of a failure (its task's ``trigger_count`` before our increment)
is read from the feed before the publish (:meth:`Confirmer.with_baseline`, from
the reporter's admission), never after the commit: by then the controller may
already have applied the increment and published the bumped task.

Without the task feed (``--task-events`` off) the container wires
:class:`NoConfirmation` instead: nothing could ever confirm.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram
from returns.result import Failure, Success

from zombiewatch.app.job_events import JobEvents
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.confirmation import (
    FEED_UNAVAILABLE,
    Confirmed,
    Forget,
    GiveUp,
    Repair,
    RepairPolicy,
    Unconfirmed,
    Wait,
    Watchlist,
    baseline,
    next_step,
)
from zombiewatch.domain.feed import FeedStatus
from zombiewatch.domain.ledger import LedgerReading
from zombiewatch.domain.ports import Clock, CommandPublisher, LeaderStatus
from zombiewatch.domain.tasks import TaskSource

log = logging.getLogger(__name__)

CHECK_SECONDS = 30.0
"""How often pending failures are judged (the feed itself lags up to a controller poll)."""


class ConfirmationMetrics:
    """The confirmation instruments (names are what the alerts use)."""

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.confirmed = Counter(
            "zombiewatch_failures_confirmed",
            "Published failures the task feed confirmed (the task's current_job moved on).",
            registry=r)
        self.republished = Counter(
            "zombiewatch_failures_republished",
            "Commands of unconfirmed failures published again, by part (update/increment).",
            ["part"], registry=r)
        self.unconfirmed = Gauge(
            "zombiewatch_failures_unconfirmed",
            "Published failures past the confirm window and not confirmed yet.", registry=r)
        self.given_up = Counter(
            "zombiewatch_failures_given_up",
            "Failures still unconfirmed after the last re-publish: the task may be parked.",
            registry=r)
        self.latency = Histogram(
            "zombiewatch_confirmation_latency_seconds",
            "From the first publish of a failure to the feed showing its task moved on.",
            buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 2400, 4800), registry=r)
        self.unreadable_baselines = Counter(
            "zombiewatch_failure_baselines_unreadable",
            "Increment records, per ledger read, whose trigger-count-before header could "
            "not be read (their failures are repaired with the update only).", registry=r)


_PARTS = {Operation.UPDATE_FRONTMATTER: "update", Operation.INCREMENT_FRONTMATTER: "increment"}


class Confirmation(Protocol):
    """What the reporter and the ledger read ask of confirmation (:class:`Confirmer`, or
    :class:`NoConfirmation` without the task feed)."""

    @property
    def horizon(self) -> timedelta:
        """How far back a new leader must read the ledger to resume every repair."""
        ...

    def with_baseline(self, report: FailureReport) -> FailureReport: ...

    def published(self, report: FailureReport) -> None: ...

    def learn(self, reading: LedgerReading, *, now: datetime) -> None: ...

    async def run(self, interval: float = CHECK_SECONDS) -> None: ...


class NoConfirmation:
    """Without the task feed nothing could ever confirm: failures are published and
    not watched (the behaviour before the feed existed)."""

    horizon = timedelta(0)

    def with_baseline(self, report: FailureReport) -> FailureReport:
        return report

    def published(self, report: FailureReport) -> None:
        return None

    def learn(self, reading: LedgerReading, *, now: datetime) -> None:
        return None

    async def run(self, interval: float = CHECK_SECONDS) -> None:
        return None


class Confirmer:
    """Unconfirmed failures, judged against the feed; repairs published while leading."""

    # Memory: one small entry per failure published within the horizon (520 min with
    # today's 60-minute expiry); entries leave when confirmed, given up or their task is unknown.

    def __init__(
        self,
        *,
        publisher: CommandPublisher,
        tasks: TaskSource,
        leader: LeaderStatus,
        clock: Clock,
        metrics: ConfirmationMetrics,
        policy: RepairPolicy,
        watchlist: Watchlist,
        events: JobEvents,
    ) -> None:
        self._events = events
        self._publisher = publisher
        self._tasks = tasks
        self._leader = leader
        self._clock = clock
        self._metrics = metrics
        self.policy = policy
        self._watchlist = watchlist

    @property
    def horizon(self) -> timedelta:
        return self.policy.horizon

    def with_baseline(self, report: FailureReport) -> FailureReport:
        """``report`` with its task's ``trigger_count`` now, before anything is published
        (:func:`~zombiewatch.domain.confirmation.baseline`; unknown unless the feed is usable)."""
        task = self._tasks.get(report.task_id) if self._tasks.ready() else None
        return replace(report, trigger_count_before=baseline(task, job_name=report.job_name))

    def published(self, report: FailureReport) -> None:
        """The reporter committed ``report`` (possibly only its missing part): watch it,
        from now (after the commit: not before the records' ``requestTime``)."""
        self._watchlist.published(report, sent=self._clock.now())

    def learn(self, reading: LedgerReading, *, now: datetime) -> None:
        """Derive what a predecessor (or this process before a restart) left unconfirmed."""
        if reading.unreadable_counts:
            self._metrics.unreadable_baselines.inc(reading.unreadable_counts)
            log_event(log, logging.WARNING, "ledger_baseline_unreadable",
                      records=reading.unreadable_counts)
        learnt = self._watchlist.learn(reading, now=now, policy=self.policy)
        if learnt.failures:
            log_event(log, logging.INFO, "confirmation_state_derived", pending=learnt.failures,
                      with_baseline=learnt.with_baseline)

    async def run(self, interval: float = CHECK_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.tick()

    async def tick(self) -> None:
        """Judge every watched failure once; publish the repairs due (one transaction)."""
        now = self._clock.now()
        if not self._tasks.ready():
            overdue = self._watchlist.overdue(now=now, policy=self.policy)
            for pending in self._watchlist.expired(now=now, policy=self.policy):
                self._give_up(pending, FEED_UNAVAILABLE)
            self._metrics.unconfirmed.set(overdue)
            return
        repairs: list[tuple[Unconfirmed, FailureReport]] = []
        overdue = 0
        for job in list(self._watchlist):
            task = self._tasks.get(self._watchlist[job].report.task_id)
            pending = self._watchlist.observe(job, task)
            step = next_step(pending, task, now=now, policy=self.policy)
            match step:
                case Confirmed(latency):
                    self._confirmed(job, latency)
                case Wait(late):
                    overdue += late
                case Repair(report):
                    overdue += 1
                    repairs.append((pending, report))
                case GiveUp(why):
                    self._give_up(pending, why)
                case Forget():
                    self._watchlist.drop(job)
                    log_event(log, logging.INFO, "confirmation_dropped", job=job,
                              task=pending.report.task_id, why="task not in the feed")
        self._metrics.unconfirmed.set(overdue)
        if repairs and self._leader.is_leader():
            await self._repair(repairs, now=now)

    def _confirmed(self, job: str, latency: timedelta) -> None:
        ours = self._watchlist.drop(job)
        self._metrics.confirmed.inc()
        if ours:
            self._metrics.latency.observe(latency.total_seconds())
        log_event(log, logging.INFO, "failure_confirmed", job=job,
                  latency_s=round(latency.total_seconds(), 1))

    def _give_up(self, pending: Unconfirmed, why: str) -> None:
        job = pending.report.job_name
        self._watchlist.drop(job)
        self._metrics.given_up.inc()
        log_event(log, logging.ERROR, "failure_given_up", job=job, task=pending.report.task_id,
                  reason=pending.report.reason.value, repairs=pending.repairs, why=why)
        self._events.given_up(pending.report, repairs=pending.repairs, why=why)

    async def _repair(self, repairs: list[tuple[Unconfirmed, FailureReport]], *,
                      now: datetime) -> None:
        result = await self._publisher.publish_failures([report for _, report in repairs])
        # Read after the publish: not before the records' requestTime, so the next
        # attempt waits until these are certainly expired for the controller.
        sent = self._clock.now()
        for pending, _ in repairs:
            # Counted as an attempt even when the publish failed: its records may have
            # reached the log, and the next attempt waits for the feed to say.
            self._watchlist.repaired(pending.report.job_name, at=sent)
        match result:
            case Success(_):
                for pending, report in repairs:
                    parts = [_PARTS[c.operation] for c in report.commands]
                    for part in parts:
                        self._metrics.republished.labels(part=part).inc()
                    log_event(log, logging.WARNING, "failure_republished",
                              job=report.job_name, task=report.task_id, parts=",".join(parts),
                              attempt=pending.repairs + 1, of=self.policy.max_repairs)
                    self._events.repaired(report, parts=",".join(parts),
                                          attempt=pending.repairs + 1, of=self.policy.max_repairs)
            case Failure(error):
                log_event(log, logging.WARNING, "republish_failed", failures=len(repairs),
                          kind=error.kind.value, error=error.message)


def open_confirmer(
    *, feed: FeedStatus | None, publisher: CommandPublisher, tasks: TaskSource,
    leader: LeaderStatus, clock: Clock, metrics: Metrics, policy: RepairPolicy, events: JobEvents,
    watchlist: Watchlist,
) -> Confirmation:
    """The confirmer while the task feed is followed (``feed``), else :class:`NoConfirmation`."""
    if feed is None:
        return NoConfirmation()
    return Confirmer(
        publisher=publisher, tasks=tasks, leader=leader, clock=clock,
        metrics=ConfirmationMetrics(metrics), policy=policy, watchlist=watchlist, events=events)

"""Confirmation and repair of published failures (SPEC §13): the loop around the domain's rules.

Every failure the reporter commits is watched until the task feed shows its
task moved on (``current_job`` no longer the Job). The decisions are
:func:`zombiewatch.domain.confirmation.judge`; this module keeps the pending
failures, asks the feed, re-publishes through the same publisher (same request
ids, a fresh ``requestTime``: the publisher stamps the time of each send), and
counts. Only the leader repairs. The state lives in memory and is derived again
at every leadership start from the ledger (the request topic: which failures
were sent, how often, when, and the ``trigger_count`` each increment was sent
against) and the feed, so a restart or a new leader picks up where the last one
was; no local file.

The baseline of a failure (its task's ``trigger_count`` before our increment)
is read from the feed before the publish (:meth:`Confirmer.with_baseline`, from
the reporter's admission), never after the commit: by then the controller may
already have applied the increment and published the bumped task.

Nothing is judged while the feed is off, down or still catching up: without it
a failure cannot be confirmed, and repairing blind would bump tasks twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram
from returns.result import Failure, Success

from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.domain.commands import FailureReport, Operation
from zombiewatch.domain.confirmation import (
    Confirmed,
    Forget,
    GiveUp,
    Repair,
    RepairPolicy,
    Unconfirmed,
    Wait,
    judge,
    repaired,
)
from zombiewatch.domain.doctrine import DoctrineError, zombie_failure
from zombiewatch.domain.ledger import LedgerReading
from zombiewatch.domain.ports import Clock, CommandPublisher, LeaderStatus
from zombiewatch.domain.tasks import TaskStates

if TYPE_CHECKING:
    from zombiewatch.adapters.kafka.task_events import KafkaTaskFeed

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


class Confirmer:
    """Pending failures, judged against the feed; repairs published while leading."""

    # Memory: one small entry per failure published within the horizon (80 min by
    # default); entries leave when confirmed, given up or their task is unknown.

    def __init__(
        self,
        *,
        publisher: CommandPublisher,
        states: TaskStates,
        feed_ready: Callable[[], bool],
        leader: LeaderStatus,
        clock: Clock,
        metrics: ConfirmationMetrics,
        policy: RepairPolicy,
    ) -> None:
        self._publisher = publisher
        self._states = states
        self._feed_ready = feed_ready
        self._leader = leader
        self._clock = clock
        self._metrics = metrics
        self.policy = policy
        self._pending: dict[str, Unconfirmed] = {}
        self._derived: set[str] = set()
        """Jobs learnt from the ledger (not published by us): no latency observed."""

    @property
    def pending(self) -> dict[str, Unconfirmed]:
        return dict(self._pending)

    def with_baseline(self, report: FailureReport) -> FailureReport:
        """``report`` with its task's ``trigger_count`` now, before anything is published.

        Unknown (None) unless the caught-up feed shows the task naming the Job: a
        task the feed does not know, or one still showing an older state, gives no
        count a repair could trust.
        """
        task = self._states.get(report.task_id) if self._feed_ready() else None
        count = (task.trigger_count
                 if task is not None and task.current_job == report.job_name else None)
        return replace(report, trigger_count_before=count)

    def published(self, report: FailureReport) -> None:
        """The reporter committed ``report`` (possibly only its missing part): watch it.

        The baseline is the one ``report`` carries (taken before the publish), and
        only when this publish sends the increment: a completion whose increment
        went out earlier cannot tell whether that one applied.
        """
        sends_increment = any(c.operation is Operation.INCREMENT_FRONTMATTER
                              for c in report.commands)
        baseline = report.trigger_count_before if sends_increment else None
        known = self._pending.get(report.job_name)
        if known is not None:
            if known.trigger_count_at_publish is None and baseline is not None:
                # Learnt from the ledger with its update only: the increment went out
                # just now, for the first time, against this count.
                self._pending[report.job_name] = replace(known,
                                                         trigger_count_at_publish=baseline)
            return
        try:
            whole = zombie_failure(task_id=report.task_id, job_name=report.job_name,
                                   reason=report.reason, at=report.occurred_at)
        except DoctrineError:
            return
        self._pending[report.job_name] = Unconfirmed(
            report=whole, first_sent=report.occurred_at, last_sent=report.occurred_at,
            trigger_count_at_publish=baseline)

    def learn(self, reading: LedgerReading, *, now: datetime) -> None:
        """Derive what a predecessor (or this process before a restart) left unconfirmed.

        Each failure's baseline comes from the header of its first increment, so
        its increment is repaired too when the count has not moved; without one
        (never sent, an older version, unreadable) only the update is.
        """
        if reading.unreadable_counts:
            self._metrics.unreadable_baselines.inc(reading.unreadable_counts)
            log_event(log, logging.WARNING, "ledger_baseline_unreadable",
                      records=reading.unreadable_counts)
        tasks = dict(reading.tasks)
        learnt = baselines = 0
        for failure in reading.failures:
            job = failure.job_name
            task_id = tasks.get(job)
            if job in self._pending or task_id is None:
                continue
            sends = reading.sends(job, Operation.UPDATE_FRONTMATTER)
            if not sends or sends[0] < now - self.policy.horizon:
                continue  # given up (or confirmed) long ago
            try:
                report = zombie_failure(task_id=task_id, job_name=job, reason=failure.reason,
                                        at=failure.at)
            except DoctrineError:
                continue
            self._pending[job] = Unconfirmed(
                report=report, first_sent=sends[0], last_sent=sends[-1],
                repairs=len(sends) - 1,
                trigger_count_at_publish=reading.trigger_count_before(job))
            self._derived.add(job)
            learnt += 1
            baselines += self._pending[job].trigger_count_at_publish is not None
        if learnt:
            log_event(log, logging.INFO, "confirmation_state_derived", pending=learnt,
                      with_baseline=baselines)

    async def run(self, interval: float = CHECK_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.tick()

    async def tick(self) -> None:
        """Judge every pending failure once; publish the repairs due (one transaction)."""
        now = self._clock.now()
        overdue = sum(1 for p in self._pending.values()
                      if now >= p.first_sent + self.policy.window)
        if not self._feed_ready():
            self._forget_unconfirmable(now)
            self._metrics.unconfirmed.set(overdue)
            return
        repairs: list[tuple[Unconfirmed, FailureReport]] = []
        overdue = 0
        for job, pending in list(self._pending.items()):
            decision = judge(pending, self._states.get(pending.report.task_id), now=now,
                             policy=self.policy)
            match decision:
                case Confirmed(latency):
                    self._confirmed(job, latency)
                case Wait(late):
                    overdue += late
                case Repair(report):
                    overdue += 1
                    repairs.append((pending, report))
                case GiveUp(why):
                    self._give_up(job, pending, why)
                case Forget():
                    del self._pending[job]
                    self._derived.discard(job)
                    log_event(log, logging.INFO, "confirmation_dropped", job=job,
                              task=pending.report.task_id, why="task not in the feed")
        self._metrics.unconfirmed.set(overdue)
        if repairs and self._leader.is_leader():
            await self._repair(repairs, now=now)

    def _forget_unconfirmable(self, now: datetime) -> None:
        """Without the feed nothing is confirmed; past the horizon a failure is given up."""
        for job, pending in list(self._pending.items()):
            if pending.first_sent < now - self.policy.horizon:
                self._give_up(job, pending, "the task feed was not available to confirm it")

    def _confirmed(self, job: str, latency: timedelta) -> None:
        self._pending.pop(job, None)
        self._metrics.confirmed.inc()
        if job not in self._derived:
            self._metrics.latency.observe(latency.total_seconds())
        self._derived.discard(job)
        log_event(log, logging.INFO, "failure_confirmed", job=job,
                  latency_s=round(latency.total_seconds(), 1))

    def _give_up(self, job: str, pending: Unconfirmed, why: str) -> None:
        self._pending.pop(job, None)
        self._derived.discard(job)
        self._metrics.given_up.inc()
        log_event(log, logging.ERROR, "failure_given_up", job=job, task=pending.report.task_id,
                  reason=pending.report.reason.value, repairs=pending.repairs, why=why)

    async def _repair(self, repairs: list[tuple[Unconfirmed, FailureReport]], *,
                      now: datetime) -> None:
        result = await self._publisher.publish_failures([report for _, report in repairs])
        for pending, _ in repairs:
            # Counted as an attempt even when the publish failed: its records may have
            # reached the log, and the next attempt waits for the feed to say.
            self._pending[pending.report.job_name] = repaired(pending, at=now)
        match result:
            case Success(_):
                for pending, report in repairs:
                    parts = [_PARTS[c.operation] for c in report.commands]
                    for part in parts:
                        self._metrics.republished.labels(part=part).inc()
                    log_event(log, logging.WARNING, "failure_republished",
                              job=report.job_name, task=report.task_id, parts=",".join(parts),
                              attempt=pending.repairs + 1, of=self.policy.max_repairs)
            case Failure(error):
                log_event(log, logging.WARNING, "republish_failed", failures=len(repairs),
                          kind=error.kind.value, error=error.message)


def open_confirmer(
    *, feed: KafkaTaskFeed | None, publisher: CommandPublisher, states: TaskStates,
    leader: LeaderStatus, clock: Clock, metrics: Metrics, window_seconds: float,
) -> Confirmer | None:
    """The confirmer, or None without the task feed (nothing could ever confirm)."""
    if feed is None:
        return None
    return Confirmer(
        publisher=publisher, states=states, feed_ready=lambda: feed.up and feed.caught_up,
        leader=leader, clock=clock, metrics=ConfirmationMetrics(metrics),
        policy=RepairPolicy(window=timedelta(seconds=window_seconds)))

"""The sweeper: the safety net that judges every in-flight Job on a timer.

It catches what no event announces (a pod that stays unschedulable, a Job
past its deadline, a Job the host spawned that never appeared) and anything
the informer path missed. It reads only the informers' caches, so a tick
makes no API request, and it re-reads its interval from the Config cache
every tick (hot reload; the original read it once at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from zombiewatch.app.attention import AttentionIndex
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.reporting import Detection, Reporter
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.classification import elapsed_since_start, judge_in_flight
from zombiewatch.domain.config import ConfigProblem, ResolvedConfig, resolve
from zombiewatch.domain.ports import Clock, ClusterCache
from zombiewatch.domain.views import InFlightJob, InFlightSource

log = logging.getLogger(__name__)

SYNC_POLL_SECONDS = 0.05
"""How often the sweeper checks whether the informers have synced before its first tick."""


@dataclass(frozen=True, slots=True)
class SweepStats:
    in_flight: int
    """Jobs not complete and not reported (plus host records without a Job)."""
    judged: int
    """Of those, the ones that got the full judgement."""
    detected: int
    errors: int
    seconds: float


class Sweeper:
    """Judges in-flight Jobs (SPEC §5-6) and hands zombies to the reporter."""

    def __init__(
        self,
        *,
        cache: ClusterCache,
        book: InFlightBook,
        reporter: Reporter,
        clock: Clock,
        metrics: Metrics,
        grace: timedelta,
        attention: AttentionIndex,
        recheck_seconds: float = 1.0,
    ) -> None:
        self._cache = cache
        self._recheck = recheck_seconds
        self._attention = attention
        self._book = book
        self._reporter = reporter
        self._clock = clock
        self._metrics = metrics
        self._grace = grace
        self._known_problems: frozenset[ConfigProblem] = frozenset()
        self._requested = asyncio.Event()
        self.ticks = 0

    def request_sweep(self) -> None:
        """Sweep now rather than at the next tick (e.g. this replica just became leader:
        what it saw as a follower was not published by anyone)."""
        self._requested.set()

    def resolve_config(self) -> ResolvedConfig:
        """Resolve the Config cache now (the dedupe TTL follows it); log and count problems
        the first time they appear."""
        resolved = resolve(self._cache.configs())
        self._reporter.set_dedupe_ttl(resolved.dedupe_ttl)
        problems = frozenset(resolved.problems)
        for problem in problems - self._known_problems:
            self._metrics.invalid_configs.labels(field=problem.field).inc()
            log_event(log, logging.WARNING, "config_invalid", config=problem.name,
                      namespace=problem.namespace, field=problem.field, error=problem.message)
        self._known_problems = problems
        return resolved

    def sweep_once(self) -> SweepStats:
        """One pass over every in-flight Job not yet reported."""
        started = time.perf_counter()
        now = self._clock.now()
        config = self.resolve_config()
        judged = detected = errors = 0
        candidates, in_flight = self._in_flight(now, config)
        for record in candidates:
            judged += 1
            try:
                detected += self._judge(record, now=now, config=config)
            except Exception:  # one task's bad data never stops the sweep of the others
                errors += 1
                log.exception("sweep of job %s failed", record.job_name)
        seconds = time.perf_counter() - started
        self.ticks += 1
        self._metrics.sweep_duration.observe(seconds)
        self._metrics.in_flight_jobs.set(in_flight)
        return SweepStats(in_flight=in_flight, judged=judged, detected=detected, errors=errors,
                          seconds=seconds)

    def _in_flight(
        self, now: datetime, config: ResolvedConfig
    ) -> tuple[list[InFlightJob], int]:
        """Jobs that could be zombies now: suspicious ones, those past their deadline, lost ones.

        A Job before its deadline with no pod needing attention and no Failed
        condition cannot be a zombie (see ``attention``), so it is skipped
        with two comparisons; everything else gets the full judgement.
        """
        cutoffs: dict[str, datetime] = {}
        # The loop below runs once per cached Job (100,000 on a big cluster): locals
        # instead of attribute lookups, the attention set itself instead of a Python
        # ``__contains__``, and ``reported_reason`` instead of the ``reported`` property.
        attention = self._attention.names
        already_reported = self._reporter.already_reported
        is_resolved = self._book.is_resolved
        records: list[InFlightJob] = []
        in_flight = 0
        for job in self._cache.jobs():
            if job.complete or job.reported_reason is not None:  # i.e. job.reported
                continue
            in_flight += 1
            started = job.started_at or job.created_at
            assignee = job.assignee
            cutoff = cutoffs.get(assignee)
            if cutoff is None:
                cutoff = cutoffs[assignee] = now - config.deadline_for(assignee)
            if started > cutoff and job.name not in attention:
                continue
            if already_reported(job.name, now=now) or is_resolved(
                job.task_id, started_at=started
            ):
                continue
            records.append(InFlightJob(task_id=job.task_id, job_name=job.name,
                                       assignee=assignee, started_at=started,
                                       source=InFlightSource.CLUSTER))
        for record in self._book.registrations():
            if self._cache.job(record.job_name) is None and not self._reporter.already_reported(
                record.job_name, now=now
            ):
                in_flight += 1
                records.append(record)
        return records, in_flight

    def _judge(self, record: InFlightJob, *, now: datetime, config: ResolvedConfig) -> int:
        job = self._cache.job(record.job_name)
        verdict = judge_in_flight(
            record, job=job, pods=self._cache.pods_of_job(record.job_name), now=now,
            deadline=config.deadline_for(record.assignee),
            heartbeat_window=config.heartbeat_for(record.assignee),
            last_heartbeat=self._book.last_heartbeat(record.task_id), grace=self._grace,
        )
        if verdict is None:
            return 0
        self._reporter.submit(Detection(
            task_id=record.task_id, job_name=record.job_name,
            verdict=verdict, path="sweeper",
            elapsed=elapsed_since_start(record, job=job, now=now),
            seen_monotonic=time.monotonic(),
        ))
        return 1

    async def run(self) -> None:
        """Wait for the informers to sync, sweep at once, then every interval (re-read each tick).

        The cache port offers a flag, not an event, so the wait polls it briefly.
        """
        while not self._cache.synced():  # noqa: ASYNC110 - see the docstring
            await asyncio.sleep(SYNC_POLL_SECONDS)
        log_event(log, logging.INFO, "sweeper_started")
        while True:
            stats = self.sweep_once()
            if stats.detected or stats.errors:
                log_event(log, logging.INFO, "sweep", judged=stats.judged,
                          detected=stats.detected, errors=stats.errors,
                          ms=round(stats.seconds * 1000, 2))
            await self._until_next_tick(self._clock.now())
            self._requested.clear()

    async def _until_next_tick(self, swept_at: datetime) -> None:
        """Wait until the interval has passed since ``swept_at`` or a sweep is requested.

        The interval is re-resolved every ``recheck_seconds``: a Config that arrives (or
        changes) during the wait applies now, not after the interval that was in force;
        the first sweep runs before the Config informer has listed, with the default 60 s.
        """
        while not self._requested.is_set():
            interval = self.resolve_config().sweeper_interval
            left = (swept_at + interval - self._clock.now()).total_seconds()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._requested.wait(), min(left, self._recheck))

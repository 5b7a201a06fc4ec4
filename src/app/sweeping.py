"""The sweeper: the safety net that judges every in-flight Job on a timer.

It catches what no event announces (a pod that stays unschedulable, a Job
past its deadline, a Job the host spawned that never appeared, a Job the task
feed names that the cluster does not have) and anything the informer path
missed. It reads only the informers' caches, so a tick
makes no API request, and it re-reads its interval from the Config cache
every tick (hot reload; the original read it once at start). Each tick also
retries the annotations still owed to committed failures: after an API-server
outage they land within one interval, detection or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from zombiewatch.adapters.kubernetes.store import WatchEvent
from zombiewatch.app.annotations import Annotations
from zombiewatch.app.detection import DetectionSink
from zombiewatch.app.judging import Detection, Judge
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.absence import AbsentJobs
from zombiewatch.domain.attention import AttentionIndex
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.config import ConfigProblem, ResolvedConfig, resolve
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.ports import Clock, ClusterCache
from zombiewatch.domain.tasks import TaskSource
from zombiewatch.domain.views import AgentConfigView

log = logging.getLogger(__name__)

Pause = Callable[[asyncio.Event, float], Awaitable[None]]
"""``(requested, seconds)``: return when a sweep is requested or the interval is over."""


async def pause_until(requested: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(requested.wait(), seconds)


@dataclass(frozen=True, slots=True)
class SweepStats:
    in_flight: int
    """Jobs not complete and not reported (plus host records and feed tasks without a Job)."""
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
        judge: Judge,
        sink: DetectionSink,
        dedupe: RecentFailures,
        clock: Clock,
        metrics: Metrics,
        attention: AttentionIndex,
        annotations: Annotations,
        tasks: TaskSource,
        pause: Pause = pause_until,
        vault: str | None = None,
    ) -> None:
        self._cache = cache
        self._attention = attention
        self._book = book
        self._judge = judge
        self._sink = sink
        self._dedupe = dedupe
        self._clock = clock
        self._metrics = metrics
        self._pause = pause
        self._annotations = annotations
        self._tasks = tasks
        self._vault = vault
        """The daemon's vault: per-vault Configs first (SPEC §8)."""
        self._absent = AbsentJobs()
        self._known_problems: frozenset[ConfigProblem] = frozenset()
        self._requested = asyncio.Event()
        self.ticks = 0

    def request_sweep(self) -> None:
        """Sweep now rather than at the next tick (e.g. this replica just became leader:
        what it saw as a follower was not published by anyone)."""
        self._requested.set()

    async def config_event(self, _: WatchEvent[AgentConfigView]) -> None:
        """The Config informer's handler: sweep now, so the interval and the deadlines a
        Config sets apply at once, not after the interval in force when it arrived (the
        first sweep runs before the Config informer has listed, with the default 60 s)."""
        self.request_sweep()

    def resolve_config(self) -> ResolvedConfig:
        """Resolve the Config cache now; log and count problems the first time they appear."""
        resolved = resolve(self._cache.configs(), vault=self._vault)
        problems = frozenset(resolved.problems)
        for problem in problems - self._known_problems:
            self._metrics.invalid_configs.labels(field=problem.field).inc()
            log_event(log, logging.WARNING, "config_invalid", config=problem.name,
                      namespace=problem.namespace, field=problem.field, error=problem.message)
        self._known_problems = problems
        return resolved

    def apply_config(self) -> ResolvedConfig:
        """Resolve the Config cache and apply what it sets beyond the sweep: the dedupe TTL
        follows the Configs (twice the longest Job timeout, SPEC §7)."""
        config = self.resolve_config()
        if config.dedupe_ttl != self._dedupe.ttl:
            self._dedupe.ttl = config.dedupe_ttl
        return config

    def sweep_once(self) -> SweepStats:
        """One pass over every in-flight Job not yet reported."""
        started = time.perf_counter()
        now = self._clock.now()
        config = self.apply_config()
        self._forget_expired(now)
        candidates, in_flight = self._attention.sweep_candidates(
            self._cache.jobs(), now=now, deadline_for=config.deadline_of_job)
        names: list[tuple[str, str | None]] = [(job.name, None) for job in candidates]
        for record in self._book.registrations():
            if self._cache.job(record.job_name) is None:
                in_flight += 1
                names.append((record.job_name, None))
        names.extend(self._feed_only(now))
        self._offer_clears()
        in_flight += len(self._absent)
        detected = errors = 0
        for name, task_id in names:
            try:
                inputs, decision = self._judge.decide(name, now=now, config=config,
                                                      task_id=task_id)
                if isinstance(decision, Verdict):
                    self._sink.submit(Detection.of(inputs, decision, path="sweeper"))
                    detected += 1
            except Exception:  # one task's bad data never stops the sweep of the others
                errors += 1
                log_event(log, logging.ERROR, "sweep_job_failed", exc_info=True, job=name)
        seconds = time.perf_counter() - started
        self.ticks += 1
        self._metrics.sweep_duration.observe(seconds)
        self._metrics.in_flight_jobs.set(in_flight)
        return SweepStats(in_flight=in_flight, judged=len(names), detected=detected,
                          errors=errors, seconds=seconds)

    def _forget_expired(self, now: datetime) -> None:
        """Drop what can no longer change a judgement: dedupe entries past their TTL (looked
        up again only if their Job reappears) and heartbeats older than the liveness
        window. Without it both keep one entry per Job (task) ever reported (seen)."""
        self._dedupe.purge(now=now)
        self._book.forget_heartbeats_before(now - self._judge.liveness_window)

    @property
    def absent_jobs(self) -> int:
        """Jobs the feed names that are being watched for absence (a gauge)."""
        return len(self._absent)

    def _offer_clears(self) -> None:
        """Completed Jobs their tasks still name (the feed, once caught up): owed the success
        clear. Offered every tick, so one missed (not leading, Kafka down, a restart) is
        sent later; the reporter sends each once."""
        for name in self._tasks.jobs_in_flight() & self._cache.job_names():
            job = self._cache.job(name)
            if job is not None and job.complete:
                self._sink.completed(name, job.task_id)

    def _feed_only(self, now: datetime) -> list[tuple[str, str | None]]:
        """Jobs the feed names that the cluster and the host do not know, once settled
        (``domain/absence.py``), with their task ids."""
        absent = self._tasks.jobs_in_flight() - self._cache.job_names()
        if absent:
            absent = {job for job in absent if self._book.registration(job) is None}
        due: list[tuple[str, str | None]] = []
        for job in self._absent.missing(absent, now=now, settle=self._judge.grace):
            named = self._tasks.naming(job)
            if named is not None:
                due.append((job, named[0]))
        return due

    async def run(self) -> None:
        """Wait for the informers to sync, sweep at once, then every interval (re-read
        each tick) or at once when asked (:meth:`request_sweep`); each tick retries the
        annotations still owed."""
        await self._cache.wait_synced()
        log_event(log, logging.INFO, "sweeper_started")
        while True:
            self._requested.clear()
            stats = self.sweep_once()
            self._annotations.retry()
            if stats.detected or stats.errors:
                log_event(log, logging.INFO, "sweep", judged=stats.judged,
                          detected=stats.detected, errors=stats.errors,
                          ms=round(stats.seconds * 1000, 2))
            interval = self.apply_config().sweeper_interval.total_seconds()
            self._metrics.sweep_interval.set(interval)
            await self._pause(self._requested, interval)

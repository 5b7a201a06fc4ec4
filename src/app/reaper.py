"""After a failure is committed and annotated, stop the Job's pods (SPEC §14).

The annotations call :meth:`Reaper.annotated` once a Job's durable annotation
landed (its own reports and the repairs after a topic read-back). The decision
is the domain's (``should_reap``: a Job that still has a pod that may run, or may get one);
the patch is the adapter's, and a
``ZombieReaped`` Event on the Job says it. A failed patch (gone, conflict, forbidden, API
down) is logged and counted and never blocks reporting: the failure is
already committed, and the Job's own ``activeDeadlineSeconds`` still bounds it.
The Job's later ``Failed`` (``DeadlineExceeded``) needs nothing here: the Job
is annotated, so it is recognised as already reported.
"""

from __future__ import annotations

import logging

from returns.result import Failure, Success

from zombiewatch.app.job_events import JobEvents
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.domain.ports import Clock, ClusterCache, JobReaper
from zombiewatch.domain.reappolicy import reaped_deadline, should_reap

log = logging.getLogger(__name__)


class Reaper:
    """Shortens the deadline of reported Jobs whose pods may still run."""

    def __init__(
        self, *, reaper: JobReaper, cache: ClusterCache, clock: Clock, metrics: Metrics,
        namespace: str, events: JobEvents, enabled: bool = True,
    ) -> None:
        self._events = events
        self._enabled = enabled
        """False with ``--no-reap``: annotated Jobs are left to their own deadline."""
        self._reaper = reaper
        self._cache = cache
        self._clock = clock
        self._metrics = metrics
        self._namespace = namespace

    async def annotated(self, job_name: str) -> None:
        """The Job's failure is committed and annotated: stop its pods if any may run."""
        if not self._enabled:
            return
        try:
            await self._reap(job_name)
        except Exception:  # reaping must never break the reporter's annotation task
            self._metrics.reap_errors.labels(kind="internal").inc()
            log_event(log, logging.ERROR, "reap_failed", exc_info=True, job=job_name)

    async def _reap(self, job_name: str) -> None:
        job = self._cache.job(job_name)
        if job is None or not should_reap(job, self._cache.pods_of_job(job_name)):
            log_event(log, logging.DEBUG, "reap_skipped", job=job_name,
                      why="no pod left to stop" if job is not None else "job unknown")
            return
        deadline = reaped_deadline(job)
        if deadline is None:
            return
        result = await self._reaper.reap(
            namespace=self._namespace, job_name=job_name, active_deadline_seconds=deadline,
            reaped_at=self._clock.now())
        match result:
            case Success(_):
                self._metrics.jobs_reaped.inc()
                self._events.reaped(job_name, active_deadline_seconds=deadline)
                log_event(log, logging.INFO, "job_reaped", job=job_name,
                          active_deadline_seconds=deadline,
                          previous=job.active_deadline_seconds)
            case Failure(error):
                self._metrics.reap_errors.labels(kind=error.kind.value).inc()
                log_event(log, logging.WARNING, "reap_failed", job=job_name,
                          kind=error.kind.value, error=error.message)

"""What the app services tell the operator on the Job itself, as Kubernetes Events.

The reporter (after the commit), the reaper (after the patch) and the confirmer
(after a repair or when giving up) call these; the messages are the domain's
(:mod:`zombiewatch.domain.job_events`), the writing is the recorder's (queued,
correlated, rate limited: never blocking the caller). An Event names its Job by
uid, so a Job no longer in the cache (deleted) gets none: nobody could describe it.
"""

from __future__ import annotations

from collections.abc import Sequence

from zombiewatch.domain import job_events
from zombiewatch.domain.commands import FailureReport
from zombiewatch.domain.job_events import JobRef
from zombiewatch.domain.ports import ClusterCache, JobEventRecorder


class JobEvents:
    """The five Events zombiewatch writes on a Job."""

    def __init__(self, *, recorder: JobEventRecorder, cache: ClusterCache) -> None:
        self._recorder = recorder
        self._cache = cache

    def reported(self, report: FailureReport) -> None:
        """``report`` was committed (Warning ``ZombieReported``, its Reason and Detail)."""
        if (job := self._job(report.job_name)) is not None:
            self._recorder.record(job_events.reported(
                job, reason=report.reason, evidence=report.evidence, task_id=report.task_id,
                detail=report.detail))

    def reaped(self, job_name: str, *, active_deadline_seconds: int) -> None:
        """The Job's deadline was shortened (Normal ``ZombieReaped``)."""
        if (job := self._job(job_name)) is not None:
            self._recorder.record(job_events.reaped(
                job, active_deadline_seconds=active_deadline_seconds))

    def repaired(self, report: FailureReport, *, parts: str, attempt: int, of: int) -> None:
        """An unconfirmed failure was published again (Normal ``ZombieDeliveryRepaired``)."""
        if (job := self._job(report.job_name)) is not None:
            self._recorder.record(job_events.delivery_repaired(
                job, task_id=report.task_id, parts=parts, attempt=attempt, of=of))

    def given_up(self, report: FailureReport, *, repairs: int, why: str) -> None:
        """Still unconfirmed after the last repair (Warning ``ZombieDeliveryGivenUp``)."""
        if (job := self._job(report.job_name)) is not None:
            self._recorder.record(job_events.delivery_given_up(
                job, task_id=report.task_id, repairs=repairs, why=why))

    def storm_held(self, job_name: str, *, cause: str, jobs: int, tasks: Sequence[str],
                   hold_seconds: float) -> None:
        """A storm incident opened holding ``job_name`` first (Warning ``ZombieStormHeld``)."""
        if (job := self._job(job_name)) is not None:
            self._recorder.record(job_events.storm_held(
                job, cause=cause, jobs=jobs, tasks=tasks, hold_seconds=hold_seconds))

    def _job(self, job_name: str) -> JobRef | None:
        job = self._cache.job(job_name)
        return None if job is None else JobRef(job.namespace, job.name, job.uid)

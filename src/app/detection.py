"""The informer path: pod and Job events -> classification -> the reporter.

Runs on the event loop for every event the informers deliver, so it does
only in-memory work: classify, check dedupe, queue. Publishing happens in
the reporter's own task, in batches.

A pod in a time-dependent state (unschedulable, container config error) that
is still inside the grace window produces no further event when the window
ends; a timer re-judges it at that moment, so it is reported right after the
grace window rather than at the next sweep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from zombiewatch.app.attention import AttentionIndex
from zombiewatch.app.reporting import Detection, Reporter
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.classification import Verdict, classify_job, classify_pod
from zombiewatch.domain.ports import Clock, ClusterCache
from zombiewatch.domain.views import JobView, PodView


class Timer(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], Timer]
"""``(delay seconds, callback) -> timer``: ``loop.call_later`` in production."""

GRACE_TIMER_SLACK_SECONDS = 0.05
"""Fire just after the window ends, so the re-judgement is past it on any clock."""


def _call_later(delay: float, callback: Callable[[], None]) -> Timer:
    return asyncio.get_running_loop().call_later(delay, callback)


class DetectionService:
    """Turns watch events into detections (SPEC §5 pod and Job tables)."""

    def __init__(
        self,
        *,
        cache: ClusterCache,
        reporter: Reporter,
        book: InFlightBook,
        clock: Clock,
        grace: timedelta,
        attention: AttentionIndex,
        schedule: Scheduler = _call_later,
    ) -> None:
        self._cache = cache
        self._schedule = schedule
        self._grace_timers: dict[str, Timer] = {}
        self._attention = attention
        self._reporter = reporter
        self._book = book
        self._clock = clock
        self._grace = grace

    def on_pod(self, pod: PodView, *, changed: bool = True) -> None:
        """A pod was added or modified; ``changed`` means a transition of a known pod.

        A transition is proof of life (a heartbeat) for the task.
        """
        now = self._clock.now()
        if changed:
            self._book.heartbeat(pod.task_id, at=now)
        self._refresh_attention(pod.job_name)
        verdict = classify_pod(pod, now=now, grace=self._grace)
        if verdict is None:
            self._maybe_wait_for_grace(pod, now=now)
            return
        job = self._cache.job(pod.job_name)
        if job is not None and (job.complete or job.reported):
            return
        started = (job.started_at or job.created_at) if job is not None else None
        if self._book.is_resolved(pod.task_id, started_at=started):
            return
        self._submit(pod.task_id, pod.job_name, verdict,
                     elapsed=(now - started) if started is not None else None)

    def on_pod_deleted(self, pod: PodView) -> None:
        """A pod is gone: its Job may no longer need attention."""
        timer = self._grace_timers.pop(pod.uid, None)
        if timer is not None:
            timer.cancel()
        self._refresh_attention(pod.job_name)

    def close(self) -> None:
        """Cancel the pending grace timers (shutdown)."""
        for timer in self._grace_timers.values():
            timer.cancel()
        self._grace_timers.clear()

    def _maybe_wait_for_grace(self, pod: PodView, *, now: datetime) -> None:
        """Re-judge a pod that only lacks age once its grace window has passed."""
        if pod.uid in self._grace_timers or not self._attention.pod_needs_attention(pod):
            return
        delay = (pod.created_at + self._grace - now).total_seconds()
        if delay > 0:
            self._grace_timers[pod.uid] = self._schedule(
                delay + GRACE_TIMER_SLACK_SECONDS,
                lambda: self._grace_elapsed(pod.uid, pod.job_name))

    def _grace_elapsed(self, uid: str, job_name: str) -> None:
        self._grace_timers.pop(uid, None)
        for current in self._cache.pods_of_job(job_name):
            if current.uid == uid:
                self.on_pod(current, changed=False)

    def on_job(self, job: JobView) -> None:
        """A Job was added or modified: Failed -> report; Complete -> forget."""
        self._refresh_attention(job.name)
        outcome = classify_job(job)
        if not isinstance(outcome, Verdict):
            if outcome is not None:  # completed: the agent reported by itself
                self._book.forget(job.name)
            return
        if job.reported:
            return
        started = job.started_at or job.created_at
        if self._book.is_resolved(job.task_id, started_at=started):
            return
        self._submit(job.task_id, job.name, outcome,
                     elapsed=self._clock.now() - started)

    def _refresh_attention(self, job_name: str) -> None:
        self._attention.refresh(job_name, job=self._cache.job(job_name),
                                pods=self._cache.pods_of_job(job_name))

    def _submit(
        self, task_id: str, job_name: str, verdict: Verdict, *,
        elapsed: timedelta | None,
    ) -> None:
        self._reporter.submit(Detection(
            task_id=task_id, job_name=job_name, verdict=verdict,
            path="informer", elapsed=elapsed, seen_monotonic=time.monotonic(),
        ))

"""The informer path: pod and Job events -> classification -> the reporter.

Runs on the event loop for every event the informers deliver, so it does
only in-memory work: classify, check dedupe, queue. Publishing happens in
the reporter's own task, in batches.
"""

from __future__ import annotations

import time
from datetime import timedelta

from zombiewatch.app.attention import AttentionIndex
from zombiewatch.app.reporting import Detection, Reporter
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.classification import Verdict, classify_job, classify_pod
from zombiewatch.domain.ports import Clock, ClusterCache
from zombiewatch.domain.views import JobView, PodView


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
    ) -> None:
        self._cache = cache
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
        self._refresh_attention(pod.job_name)

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

"""The event path: pod and Job events -> the gate -> the reporter.

Runs on the event loop for every event the informers deliver, so it does
only in-memory work: judge, queue. Publishing happens in the reporter's own
task, in batches.

A pod event judges the pod's Job; a Job event (added, or its labels or
conditions changed) judges the Job with every pod the cache holds for it, so
a pod whose failure arrived before its Job was known is reported when the Job
arrives, not at the next sweep (SPEC §5, "Ordering across informers").

A pod in a time-dependent state (unschedulable, container config error, not
ready to start) that is still inside the grace window produces no further event
when the window ends; a timer re-judges it at that moment, so it is reported
right after the grace window rather than at the next sweep. The same holds for a
pod whose init container runs towards the init bound, and for a started Job that
has no pod yet (its grace runs from its start).

While the initial lists come in (:meth:`DetectionService.defer_until_listed`: the daemon's
informers report their lists to :meth:`DetectionService.listed`), a Job is
not judged at each of its events: its Job and its pods arrive in two lists, one after the
other, and judging it at both (every pod with no Job yet, then every Job with its pods) did
the work twice, most of the time to ready at scale (docs/PERFORMANCE.md, "Fixed cost"). The
Jobs seen are noted, and once both lists are in (:meth:`DetectionService.listed`, before
``/readyz`` can answer 200) each is judged once, with everything the cache then holds, as a
later event would judge it. Heartbeats, completions and deleted pods are handled at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from zombiewatch.adapters.kubernetes.store import Change, WatchEvent
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.app.judging import Detection, Judge
from zombiewatch.app.logs import log_event
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.attention import AttentionIndex
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.gate import Decision, is_heartbeat
from zombiewatch.domain.never_started import first_pod_due
from zombiewatch.domain.ports import Clock, ClusterCache
from zombiewatch.domain.views import JobView, PodView

log = logging.getLogger(__name__)


class Timer(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], Timer]
"""``(delay seconds, callback) -> timer``: ``loop.call_later`` in production."""

GRACE_TIMER_SLACK_SECONDS = 0.05
"""Fire just after the window ends, so the re-judgement is past it on any clock."""


class DetectionSink(Protocol):
    """Where detections go (the reporter)."""

    def submit(self, detection: Detection) -> None: ...

    def completed(self, job_name: str, task_id: str) -> None:
        """The Job completed: its task may be owed the success clear."""
        ...

    def changed(self, job_name: str) -> None:
        """An event changed the Job or its pods and it is no zombie now: a Job the storm
        guard holds is judged again (it may have got past its failing step)."""
        ...


def call_later(delay: float, callback: Callable[[], None]) -> Timer:
    return asyncio.get_running_loop().call_later(delay, callback)


class DetectionService:
    """Turns watch events into detections (SPEC §5 pod and Job tables)."""

    def __init__(
        self,
        *,
        cache: ClusterCache,
        judge: Judge,
        sink: DetectionSink,
        book: InFlightBook,
        clock: Clock,
        attention: AttentionIndex,
        schedule: Scheduler = call_later,
    ) -> None:
        self._cache = cache
        self._judge = judge
        self._sink = sink
        self._book = book
        self._clock = clock
        self._attention = attention
        self._schedule = schedule
        self._grace_timers: dict[str, Timer] = {}
        self._timer_due: dict[str, datetime] = {}
        """When each pending timer's object falls due (a timer is re-armed for an earlier one)."""
        self._deferred: dict[str, None] | None = None
        """The Jobs seen while the initial lists come in, in order (None: both are in)."""

    async def pod_event(self, event: WatchEvent[PodView]) -> None:
        """The Pod informer's handler: a deleted pod, or an added or modified one."""
        if event.change is Change.DELETED:
            self.on_pod_deleted(event.view)
        else:
            self.on_pod(event.view, previous=event.previous)

    async def job_event(self, event: WatchEvent[JobView]) -> None:
        """The Job informer's handler: an added or modified Job is judged; a deleted one
        only leaves the attention index once nothing of it is cached (its pods say the rest).
        """
        if event.change is Change.DELETED:
            # A failed Job whose pods were gone first (the Job controller deletes them)
            # would otherwise stay in the index for the life of the process.
            self._refresh_attention(event.view.name)
        else:
            self.on_job(event.view)

    def on_pod(self, pod: PodView, *, previous: PodView | None = None) -> None:
        """A pod was added (``previous`` None) or modified; a transition is a heartbeat."""
        now = self._clock.now()
        if is_heartbeat(previous, pod):
            self._book.heartbeat(pod.task_id, at=now)
        if self._deferred is not None:
            self._deferred[pod.job_name] = None
            return
        self._refresh_attention(pod.job_name)
        if not isinstance(self._judge_job(pod.job_name, now=now), Verdict):
            self._maybe_wait_for_grace(pod, now=now)

    def on_pod_deleted(self, pod: PodView) -> None:
        """A pod is gone (``pod`` is its last state): judge its Job with that state.

        A drained pod's DELETED event may be the last thing seen of it, and a failed
        Job's verdict may be waiting for its end (the gate settles a failed Job with
        its pods). Its Job may no longer need attention.
        """
        timer = self._disarm(pod.uid)
        if timer is not None:
            timer.cancel()
        self._refresh_attention(pod.job_name)
        self._judge_job(pod.job_name, now=self._clock.now(), deleted=(pod,))

    def on_job(self, job: JobView) -> None:
        """A Job was added or modified: judge it with its cached pods; Complete -> forget."""
        if self._deferred is None:
            self._refresh_attention(job.name)
        if job.complete:  # the agent reported by itself
            self._book.forget(job.name)
            self._sink.completed(job.name, job.task_id)
        if self._deferred is not None:
            self._deferred[job.name] = None
            return
        now = self._clock.now()
        if not isinstance(self._judge_job(job.name, now=now), Verdict):
            self._maybe_wait_for_first_pod(job, now=now)

    def defer_until_listed(self) -> None:
        """Note Jobs instead of judging them until :meth:`listed` sees Jobs and Pods listed
        (called once, before the informers start, by whoever wires them to :meth:`listed`)."""
        if not self._cache.synced():
            self._deferred = {}

    def listed(self) -> None:
        """An informer reflected a complete list: once Jobs and Pods both have, judge each
        Job seen while they came in, once (nothing to do after that, or without deferring).
        """
        if self._deferred is None or not self._cache.synced():
            return
        seen, self._deferred = self._deferred, None
        for job_name in seen:
            try:
                self._judge_listed(job_name)
            except Exception:  # one Job's failure must not leave the others unjudged
                log_event(log, logging.ERROR, "initial_judgement_failed", exc_info=True,
                          job=job_name)

    @property
    def grace_timers(self) -> int:
        """Grace timers pending (one per pod inside its grace window; a gauge)."""
        return len(self._grace_timers)

    def close(self) -> None:
        """Cancel the pending grace timers (shutdown)."""
        for timer in self._grace_timers.values():
            timer.cancel()
        self._grace_timers.clear()
        self._timer_due.clear()

    def _judge_job(
        self, job_name: str, *, now: datetime, deleted: tuple[PodView, ...] = ()
    ) -> Decision:
        inputs, decision = self._judge.decide(job_name, now=now, deleted=deleted)
        if isinstance(decision, Verdict):
            self._sink.submit(Detection.of(inputs, decision, path="informer"))
        else:
            self._sink.changed(job_name)
        return decision

    def _judge_listed(self, job_name: str) -> None:
        """What the last of the Job's events would do, the Job and its pods all cached."""
        self._refresh_attention(job_name)
        now = self._clock.now()
        if isinstance(self._judge_job(job_name, now=now), Verdict):
            return
        for pod in self._cache.pods_of_job(job_name):
            self._maybe_wait_for_grace(pod, now=now)
        job = self._cache.job(job_name)
        if job is not None:
            self._maybe_wait_for_first_pod(job, now=now)

    def _maybe_wait_for_grace(self, pod: PodView, *, now: datetime) -> None:
        """Re-judge a pod that only lacks age once its grace window (or its init
        container's bound) has passed. A pending timer stays unless the pod now falls due
        earlier (an init container started before the grace ends): then it is re-armed."""
        if not self._attention.pod_needs_attention(pod):
            return
        due = self._attention.due(pod)
        if pod.uid in self._grace_timers:
            if self._timer_due.get(pod.uid, due) <= due:
                return
            timer = self._disarm(pod.uid)
            if timer is not None:
                timer.cancel()
        delay = (due - now).total_seconds()
        if delay > 0:
            self._timer_due[pod.uid] = due
            self._grace_timers[pod.uid] = self._schedule(
                delay + GRACE_TIMER_SLACK_SECONDS,
                lambda: self._grace_elapsed(pod.uid, pod.job_name))

    def _disarm(self, uid: str) -> Timer | None:
        """Forget ``uid``'s timer (fired, or about to be cancelled); return it."""
        self._timer_due.pop(uid, None)
        return self._grace_timers.pop(uid, None)

    def _maybe_wait_for_first_pod(self, job: JobView, *, now: datetime) -> None:
        """Re-judge a started Job still without a pod once its grace has passed (keyed
        by the Job's uid, next to the pods' timers)."""
        if job.uid in self._grace_timers or self._cache.pods_of_job(job.name):
            return
        due = first_pod_due(job, grace=self._attention.grace)
        delay = None if due is None else (due - now).total_seconds()
        if delay is not None and delay > 0:
            self._grace_timers[job.uid] = self._schedule(
                delay + GRACE_TIMER_SLACK_SECONDS, lambda: self._first_pod_due(job.uid, job.name))

    def _first_pod_due(self, uid: str, job_name: str) -> None:
        self._disarm(uid)
        self._judge_job(job_name, now=self._clock.now())

    def _grace_elapsed(self, uid: str, job_name: str) -> None:
        self._disarm(uid)
        for current in self._cache.pods_of_job(job_name):
            if current.uid == uid:
                self.on_pod(current)

    def _refresh_attention(self, job_name: str) -> None:
        self._attention.refresh(job_name, job=self._cache.job(job_name),
                                pods=self._cache.pods_of_job(job_name))


def log_skipped(skipped: Skipped) -> None:
    """The informers' problem handler: an object that could not be read is skipped."""
    log_event(log, logging.DEBUG, "object_skipped", kind=skipped.kind,
              namespace=skipped.namespace, name=skipped.name, reason=skipped.reason)

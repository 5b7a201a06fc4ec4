"""The gate's inputs for one Job, gathered from the cache, the host's book, the
dedupe memory and the annotations still owed: the one place the event path, the
sweeper and the reporter get them from, so they never judge the same state
differently."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from zombiewatch.app.annotations import Annotations
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.config import ResolvedConfig
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.gate import (
    DEFAULT_LIVENESS_WINDOW,
    DeadlineInputs,
    Decision,
    GateInputs,
    decide,
    elapsed_since_start,
)
from zombiewatch.domain.never_started import INIT_BOUND
from zombiewatch.domain.ports import ClusterCache
from zombiewatch.domain.tasks import TaskSource, feed_registration
from zombiewatch.domain.views import PodView


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """A Job judged a zombie, waiting to be reported."""

    task_id: str
    job_name: str
    verdict: Verdict
    path: str
    """``informer`` or ``sweeper``: which path saw it (logs, latency metric)."""
    elapsed: timedelta | None
    """Time since the Job started, when known (logged)."""
    seen_monotonic: float
    """When it was detected, on the monotonic clock, for the latency metric."""

    @classmethod
    def of(cls, inputs: GateInputs, verdict: Verdict, *, path: str) -> Detection:
        """The detection of a verdict the gate gave for ``inputs``."""
        job, registration = inputs.job, inputs.registration
        task_id = job.task_id if job is not None else (
            registration.task_id if registration is not None else "")
        return cls(task_id=task_id, job_name=inputs.job_name, verdict=verdict, path=path,
                   elapsed=elapsed_since_start(job=job, registration=registration,
                                               now=inputs.now),
                   seen_monotonic=time.monotonic())


@dataclass(frozen=True, slots=True, kw_only=True)
class Judge:
    """Reads the state of one Job and asks :func:`zombiewatch.domain.gate.decide`."""

    cache: ClusterCache
    book: InFlightBook
    dedupe: RecentFailures
    grace: timedelta
    annotations: Annotations
    """Failures committed but not yet annotated count as reported (no TTL expires them)."""
    tasks: TaskSource
    """The task feed's state per task (SPEC §6); never ready when the feed is not followed."""
    liveness_window: timedelta = DEFAULT_LIVENESS_WINDOW
    """How recent a heartbeat keeps a Job past its deadline alive (``--liveness-window``)."""
    init_bound: timedelta = INIT_BOUND
    """How long an init container may run (``--init-bound-seconds``)."""

    def inputs(
        self, job_name: str, *, now: datetime, config: ResolvedConfig | None = None,
        deleted: tuple[PodView, ...] = (), task_id: str | None = None,
    ) -> GateInputs:
        """The gate's inputs; with ``config`` (sweep ticks) the deadline inputs too.

        ``task_id`` names the task whose ``current_job`` the Job may be: for a Job that
        neither the cache nor the host knows, the feed's state of that task then stands
        in for a registration (the sweeper's feed-only Jobs, and the reporter's re-check
        of their detections).
        """
        job = self.cache.job(job_name)
        registration = self.book.registration(job_name)
        if job is None and registration is None and task_id and self.tasks.ready():
            named = self.tasks.get(task_id)
            if named is not None and named.current_job == job_name:
                registration = feed_registration(task_id, named)
        # The task the Job belongs to (its label, else the registration it stands for).
        owner = job.task_id if job is not None else (
            registration.task_id if registration is not None else None)
        deadline = None
        if config is not None and owner is not None:
            # A Job's label names the Config it was made from; a registration's assignee
            # is the task's (resolved per vault).
            timeout = config.deadline_of_job(job.assignee) if job is not None else (
                config.deadline_for(registration.assignee if registration is not None else ""))
            deadline = DeadlineInputs(
                deadline=timeout, heartbeat_window=self.liveness_window,
                last_heartbeat=self.book.last_heartbeat(owner))
        return GateInputs(
            job_name=job_name, job=job, registration=registration,
            pods=self.cache.pods_of_job(job_name), deleted=deleted,
            recently_reported=self.dedupe.seen(job_name, now=now),
            annotation_owed=self.annotations.owes(job_name),
            result_at=self.book.result_at(owner) if owner is not None else None,
            now=now, grace=self.grace, init_bound=self.init_bound, deadline=deadline,
            task=self.tasks.get(owner) if owner else None)

    def decide(
        self, job_name: str, *, now: datetime, config: ResolvedConfig | None = None,
        deleted: tuple[PodView, ...] = (), task_id: str | None = None,
    ) -> tuple[GateInputs, Decision]:
        inputs = self.inputs(job_name, now=now, config=config, deleted=deleted, task_id=task_id)
        return inputs, decide(inputs)

    def published(self, job_name: str) -> None:
        """A failure of the Job was committed: the host's record of it is done."""
        self.book.forget(job_name)

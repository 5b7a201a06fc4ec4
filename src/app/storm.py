"""The storm guard between judgement and delivery: holds zombies that share a cause.

The reporter asks :meth:`StormWatch.admit` for every detection before it queues it,
and :meth:`StormWatch.release` at every flush for the held ones now due. The rules
are the domain's (:mod:`zombiewatch.domain.storm`); this service gathers their inputs
from the same cache the event path judges from (:class:`~zombiewatch.app.judging.Judge`:
no API request is added) and says what happened: one ``storm_opened`` log line, one
``ZombieStormHeld`` Event (on the first Job held) and the incident counter when an
incident opens, one ``storm_closed`` line when it clears or expires, and the gauges of
open incidents and held Jobs.

A released Job goes back to the publish path as a ``held`` detection with its verdict
of now: the gate, the ledger and the delivery see it as any other (once per Job). A
held Job is judged again when an informer event shows it no zombie any more
(:meth:`StormWatch.touch`: a pod that starts, a Job that completes, a pod deleted) and
when its release time comes; a zombie's own events and the sweeper's ticks offer it
again as any detection. So a check costs in proportion to what changed, not to how
many Jobs are held.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Final

from zombiewatch.app.job_events import JobEvents
from zombiewatch.app.judging import Detection, Judge
from zombiewatch.app.logs import log_event
from zombiewatch.app.metrics import Metrics
from zombiewatch.domain.causes import Cause
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.ports import Clock
from zombiewatch.domain.storm import (
    Admission,
    IncidentClosed,
    IncidentOpened,
    StormGuard,
    StormPolicy,
)

log = logging.getLogger(__name__)

HELD_PATH: Final = "held"
"""The ``path`` of a detection the guard held and released (logs, metrics)."""


class StormWatch:
    """The guard's service: admit, release, and say what the incidents do."""

    def __init__(self, *, policy: StormPolicy | None, judge: Judge, clock: Clock,
                 metrics: Metrics, events: JobEvents) -> None:
        self._guard = None if policy is None else StormGuard(policy)
        """None with ``--no-storm-guard``: every detection passes."""
        self._judge = judge
        self._clock = clock
        self._metrics = metrics
        self._events = events
        self._detections: dict[str, Detection] = {}
        """The detection of each held Job, as first seen (its task, path and time)."""
        self._touched: set[str] = set()
        """Held Jobs an event showed no zombie since the last check."""

    @property
    def guard(self) -> StormGuard | None:
        return self._guard

    def admit(self, detection: Detection) -> bool:
        """True: queue the detection for publishing now; False: the guard holds it."""
        guard = self._guard
        if guard is None:
            return True
        name = detection.job_name
        if detection.verdict.cause is None and guard.holds(name) is None:
            return True  # the common case, decided without the clock
        held_before = guard.holds(name)
        admission = guard.offer(name, detection.verdict.cause, now=self._clock.now(),
                                task_id=detection.task_id)
        if admission is Admission.HOLD:
            self._detections.setdefault(name, detection)
        if admission is not Admission.HOLD or held_before != guard.holds(name):
            self._say()  # something changed: a Job held, moved or let go
        return admission is Admission.PUBLISH

    def touch(self, job_name: str) -> bool:
        """An event shows the Job no zombie now; True when the guard should look again
        soon: it holds the Job, or the Job's pods show an open incident's cause cleared
        (an image running, a node scheduling again)."""
        guard = self._guard
        if guard is None:
            return False
        cleared = guard.open_incidents > 0 and guard.observe(
            self._judge.cache.pods_of_job(job_name), now=self._clock.now())
        if guard.holds(job_name) is not None:
            self._touched.add(job_name)
            return True
        return cleared

    def release(self) -> list[Detection]:
        """Judge again the held Jobs an event touched and those due now; the detections to
        publish now (with their verdict of now)."""
        guard = self._guard
        if guard is None or not guard.held():
            return []
        now = self._clock.now()
        names = self._touched | set(guard.due(now))
        self._touched = set()
        due: list[Detection] = []
        for name in names:
            first = self._detections.get(name)
            if first is None:  # no longer held
                continue
            inputs, decision = self._judge.decide(name, now=now, task_id=first.task_id)
            if (isinstance(decision, Verdict) and decision.events is not None
                    and decision.rule is first.verdict.rule):
                # The same never-started row: its cause came from the Events read when it was
                # first held; they are not read again for each check.
                decision = replace(decision, detail=first.verdict.detail,
                                   cause=first.verdict.cause, events=None)
            admission = guard.recheck(name, decision, job=inputs.job, pods=inputs.pods,
                                      now=now)
            if guard.holds(name) is None:
                del self._detections[name]
            if admission is Admission.HOLD:
                continue
            self._metrics.storm_jobs.labels(
                outcome="released" if admission is Admission.PUBLISH else admission.value).inc()
            if admission is Admission.PUBLISH and isinstance(decision, Verdict):
                due.append(replace(first, verdict=decision, path=HELD_PATH))
                log_event(log, logging.INFO, "storm_released", job=name, task=first.task_id,
                          reason=decision.reason.value)
        self._say()
        return due

    def incident_of(self, job_name: str) -> Cause | None:
        """The cause of the open incident holding ``job_name``, if one does."""
        return None if self._guard is None else self._guard.incident_of(job_name)

    def next_check(self) -> float | None:
        """Seconds until a held Job is due for release; None when nothing is held."""
        guard = self._guard
        due = guard.next_release() if guard is not None else None
        if due is None:
            return None
        return max(0.0, (due - self._clock.now()).total_seconds())

    def _say(self) -> None:
        guard = self._guard
        assert guard is not None
        for change in guard.take_changes():
            match change:
                case IncidentOpened():
                    self._opened(change)
                case IncidentClosed():
                    self._closed(change)
        self._metrics.storm_incidents_open.set(guard.open_incidents)
        self._metrics.storm_held_jobs.set(guard.held_count)

    def _opened(self, incident: IncidentOpened) -> None:
        hold = self._policy.hold.total_seconds()
        self._metrics.storm_incidents.labels(cause_kind=incident.cause.kind.value).inc()
        log_event(log, logging.WARNING, "storm_opened", cause=incident.cause.key,
                  cause_kind=incident.cause.kind.value, jobs=len(incident.jobs),
                  tasks=",".join(incident.tasks), hold_s=hold)
        self._events.storm_held(incident.jobs[0], cause=incident.cause.key,
                                jobs=len(incident.jobs), tasks=incident.tasks,
                                hold_seconds=hold)

    def _closed(self, incident: IncidentClosed) -> None:
        log_event(log, logging.INFO, "storm_closed", cause=incident.cause.key,
                  cause_kind=incident.cause.kind.value, ending=incident.ending.value,
                  held=incident.held, recovered=incident.recovered,
                  released=incident.released,
                  duration_s=round((incident.at - incident.opened_at).total_seconds(), 1))

    @property
    def _policy(self) -> StormPolicy:
        assert self._guard is not None
        return self._guard.policy

"""The storm guard (issue 22): zombies that share a cause become one incident, held.

When a registry is down, an image tag is wrong or a Secret was deleted, every dispatch
of every task becomes a zombie. Each published failure frees its task, the executor's
reconcile loop dispatches it again within a minute into the same failure, and after
``max_triggers`` rounds every task is in the operator's inbox: hundreds of escalations
for one cause, while a pull that would have worked a minute later was abandoned. The
guard protects that retry budget across tasks.

Rules (a pure state machine: the caller passes the time and the cluster's views):

- Only a zombie with a :class:`~zombiewatch.domain.causes.Cause` can be held. One
  without (a crash, an OOM kill, a deadline) is published at once, and so is one
  of a cause that is in no incident once its gathering ends.
- **Gathering**: a zombie with a cause is held for ``gather`` after it is first
  offered, so the first zombies of a storm do not slip out before the threshold
  could be reached (ten Jobs failing to pull one image publish nothing, not two).
- **Incident**: when ``threshold`` distinct Jobs were seen with one cause within
  ``window``, the cause's incident opens; every Job of that cause held then, or
  offered while it is open, is held in it.
- **Release**: a held Job is judged again from the current state at each check
  (:meth:`StormGuard.recheck`) and released — handed back to the normal publish
  path, once — when its gathering ends outside an incident, when the incident's
  cause cleared (at once when nothing of the Job can run again, else after
  ``recovery``: its pods retry on their own back-off), and always by ``hold`` after
  it was first held (the bound). A Job that got past the failing step by itself
  (:func:`got_past`) publishes nothing and is the evidence that the cause cleared.
  A Job that is a zombie for another reason now is offered again with its new
  cause (none: published at once); one the gate settled otherwise (reported,
  completed, superseded, gone) is dropped.
- Pods of Jobs that are not held can show a cause cleared too (:func:`clears`): a
  container of the image running, a new pod running on the node.
- An incident closes when it holds no Job any more: ``cleared`` when its cause
  cleared, ``expired`` when the bound released the last one. The opening and the
  closing are recorded as :class:`IncidentOpened` / :class:`IncidentClosed` for the
  caller to say (log line, Event, metrics): :meth:`StormGuard.take_changes`.

The guard lives in memory: after a restart (or a new leader) held zombies are
zombies again and pass through it again, from a fresh gathering.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.gate import Decision, Hold
from zombiewatch.domain.views import JobView, PodPhase, PodView

DEFAULT_THRESHOLD: Final = 3
"""Three Jobs failing for one cause within the window: two can be a coincidence (two
tasks of one agent), three is a pattern; small enough that a storm of a handful of
tasks is caught before their budgets (``max_triggers``, 3 by default) are spent."""
DEFAULT_GATHER: Final = timedelta(seconds=30)
"""Long enough for the Jobs of one reconcile round (the executor dispatches every 60 s,
its Jobs fail to pull within seconds of each other) to meet; short enough that a lone
failure is published within half a minute of its verdict."""
DEFAULT_WINDOW: Final = timedelta(minutes=10)
"""How far back Jobs of one cause count: a storm spans many reconcile rounds (60 s
each); ten minutes keeps a cause's count after an incident expired, so its next
failures are held at once rather than gathered again."""
DEFAULT_HOLD: Final = timedelta(minutes=15)
"""The bound: half the executor's 30-minute Job deadline, so a held Job is normally
published before its own deadline ends it, and a task waits at most a quarter hour
more than it would have without the guard."""
RECOVERY: Final = timedelta(seconds=330)
"""After the cause cleared, how long a held Job that may still run is given to get
past the failing step by itself: the kubelet retries a pull or a container creation
on its own back-off, capped at 300 s, plus a sync period."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StormPolicy:
    """The guard's settings (``--storm-*``); checked by the app's validation."""

    threshold: int = DEFAULT_THRESHOLD
    gather: timedelta = DEFAULT_GATHER
    window: timedelta = DEFAULT_WINDOW
    hold: timedelta = DEFAULT_HOLD
    recovery: timedelta = RECOVERY


class Admission(StrEnum):
    """What the guard says about a zombie it was offered or judged again."""

    PUBLISH = "publish"
    """Hand it to the publish path now."""
    HOLD = "hold"
    """Held: not published, the Job not reaped."""
    RECOVERED = "recovered"
    """Nothing to publish: it got past the failing step by itself."""
    DROP = "drop"
    """Nothing to publish: the gate settled it otherwise, or it is no zombie now."""


class Ending(StrEnum):
    """How an incident closed (the ``storm_closed`` log line's ``ending``)."""

    CLEARED = "cleared"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class IncidentOpened:
    """An incident opened: its cause and the Jobs (and their tasks) held in it now."""

    cause: Cause
    at: datetime
    jobs: tuple[str, ...]
    tasks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IncidentClosed:
    """An incident closed: how, and what became of the Jobs it held."""

    cause: Cause
    opened_at: datetime
    at: datetime
    ending: Ending
    held: int
    """Jobs held in it, in all."""
    recovered: int
    """Of those, the ones that got past the failing step by themselves (nothing published)."""
    released: int
    """Of those, the ones handed to the publish path."""


IncidentChange = IncidentOpened | IncidentClosed


@dataclass(frozen=True, slots=True)
class CauseGroup:
    """Zombies of one cause (``scan``, ``shadow-report``): their Jobs and tasks."""

    cause: Cause
    jobs: tuple[str, ...]
    tasks: tuple[str, ...]


def got_past(cause: Cause, job: JobView | None, pods: Sequence[PodView]) -> bool:
    """The Job got past the step the cause stopped it at: the cause no longer stops it.

    Complete always counts. Otherwise, by kind: ``admission`` — a pod of the Job was
    created; ``scheduling`` — a pod was scheduled; ``image``, ``object``, ``sandbox``
    — a pod is ``Running`` or ``Succeeded`` (all its containers were created: the image
    pulled, the objects found, the sandbox made); ``node`` — never from the Job itself
    (its pods were evicted: they do not come back).
    """
    if job is not None and job.complete:
        return True
    match cause.kind:
        case CauseKind.NODE:
            return False
        case CauseKind.ADMISSION:
            return bool(pods)
        case CauseKind.SCHEDULING:
            return any(pod.scheduled is True for pod in pods)
        case _:
            return any(pod.phase in (PodPhase.RUNNING, PodPhase.SUCCEEDED) for pod in pods)


def clears(cause: Cause, pod: PodView, *, opened_at: datetime) -> bool:
    """A pod of any watched Job shows that ``cause`` no longer stops Jobs: ``image`` — a
    container of that image runs (the image pulled); ``node`` — a pod created after the
    incident opened runs on that node (it schedules again). No other kind has such a sign
    in a pod that is not its own (which pods need a Secret, or meet a constraint, the
    views do not say): those clear from their held Jobs (:func:`got_past`)."""
    match cause.kind:
        case CauseKind.IMAGE:
            return any(c.image == cause.subject and c.running for c in pod.all_containers)
        case CauseKind.NODE:
            return (pod.node_name == cause.subject and pod.phase is PodPhase.RUNNING
                    and pod.created_at >= opened_at)
        case _:
            return False


def can_run_again(job: JobView | None) -> bool:
    """Something of the Job may still run: it exists and has not failed (its controller
    still retries a pod, the kubelet still retries a pull). A failed Job cannot."""
    return job is not None and job.failed_reason is None


def group_by_cause(zombies: Iterable[tuple[str, str, Cause | None]], *,
                   threshold: int = DEFAULT_THRESHOLD) -> tuple[CauseGroup, ...]:
    """``(job, task, cause)`` of zombies seen at one moment -> the causes shared by at
    least ``threshold`` of them, largest first (what ``scan`` shows as incidents)."""
    by_cause: dict[Cause, list[tuple[str, str]]] = {}
    for job, task, cause in zombies:
        if cause is not None:
            by_cause.setdefault(cause, []).append((job, task))
    groups = [CauseGroup(cause, tuple(sorted(j for j, _ in members)),
                         tuple(sorted({t for _, t in members if t})))
              for cause, members in by_cause.items() if len(members) >= threshold]
    return tuple(sorted(groups, key=lambda g: (-len(g.jobs), g.cause.key)))


@dataclass(slots=True)
class _Held:
    job_name: str
    task_id: str
    cause: Cause
    since: datetime
    """When the guard first held it (kept when its cause changes: the bound is per Job)."""
    final: bool = False
    """Nothing of the Job can run again (as of the last check)."""


@dataclass(slots=True)
class _Incident:
    cause: Cause
    opened_at: datetime
    held: dict[str, str] = field(default_factory=dict)
    """Every Job held in it (name -> task), released ones included."""
    active: set[str] = field(default_factory=set)
    """The Jobs it holds now."""
    cleared_at: datetime | None = None
    recovered: int = 0
    released: int = 0


class StormGuard:
    """Holds zombies that share a cause (see the module docstring)."""

    def __init__(self, policy: StormPolicy | None = None) -> None:
        self.policy = policy or StormPolicy()
        self._held: dict[str, _Held] = {}
        self._incidents: dict[Cause, _Incident] = {}
        self._seen: dict[Cause, dict[str, datetime]] = {}
        """Per cause, the Jobs seen with it (first sighting), within the window."""
        self._released: dict[str, datetime] = {}
        """Jobs handed to the publish path, so their later offers pass (for ``hold``)."""
        self._changes: list[IncidentChange] = []

    # What the caller asks -------------------------------------------------------

    def offer(self, job_name: str, cause: Cause | None, *, now: datetime,
              task_id: str = "") -> Admission:
        """A zombie was detected with ``cause``: publish it now, or hold it."""
        held = self._held.get(job_name)
        since = now
        if held is not None:
            if held.cause == cause:
                return Admission.HOLD
            since = held.since
            self._remove(held, now=now, released=cause is None)
        if cause is None:
            if held is not None:
                self._released[job_name] = now
            return Admission.PUBLISH
        self._forget_released(now)
        if job_name in self._released:
            return Admission.PUBLISH
        self._hold(_Held(job_name, task_id or (held.task_id if held else ""), cause, since),
                   now=now)
        return Admission.HOLD

    def recheck(self, job_name: str, decision: Decision, *, job: JobView | None,
                pods: Sequence[PodView], now: datetime) -> Admission:
        """A held Job judged again from the current state (``decision`` is the gate's)."""
        held = self._held.get(job_name)
        if held is None:  # not the guard's: the normal path judges it
            return Admission.DROP
        if got_past(held.cause, job, pods):
            self._remove(held, now=now, recovered=True)
            self.clear(held.cause, now=now)
            return Admission.RECOVERED
        if isinstance(decision, Hold):  # reported, completed, superseded, closed, gone
            self._remove(held, now=now)
            return Admission.DROP
        if isinstance(decision, Verdict) and decision.cause != held.cause:
            return self.offer(job_name, decision.cause, now=now, task_id=held.task_id)
        held.final = not can_run_again(job)
        if now < self._release_at(held):
            return Admission.HOLD
        self._remove(held, now=now, released=decision is not None)
        if decision is None:  # not a zombie at its release: nothing to publish
            return Admission.DROP
        self._released[job_name] = now
        return Admission.PUBLISH

    def clear(self, cause: Cause, *, now: datetime) -> None:
        """Evidence that ``cause`` no longer stops Jobs: its incident releases its Jobs
        (each judged again) and its count starts again."""
        self._seen.pop(cause, None)
        incident = self._incidents.get(cause)
        if incident is not None and incident.cleared_at is None:
            incident.cleared_at = now

    def observe(self, pods: Iterable[PodView], *, now: datetime) -> bool:
        """Pods of any Job seen changing: clear each open incident one of them shows cleared
        (:func:`clears`); True when one did."""
        cleared = False
        for incident in list(self._incidents.values()):
            if incident.cleared_at is None and any(
                    clears(incident.cause, pod, opened_at=incident.opened_at) for pod in pods):
                self.clear(incident.cause, now=now)
                cleared = True
        return cleared

    def take_changes(self) -> list[IncidentChange]:
        """The incidents opened and closed since the last call, in order."""
        changes, self._changes = self._changes, []
        return changes

    # What the caller reads ------------------------------------------------------

    def held(self) -> list[str]:
        """The Jobs held now."""
        return list(self._held)

    def holds(self, job_name: str) -> Cause | None:
        """The cause ``job_name`` is held for, if it is held."""
        held = self._held.get(job_name)
        return None if held is None else held.cause

    def incident_of(self, job_name: str) -> Cause | None:
        """The cause of the open incident holding ``job_name``, if one does."""
        cause = self.holds(job_name)
        return cause if cause is not None and cause in self._incidents else None

    @property
    def held_count(self) -> int:
        return len(self._held)

    @property
    def open_incidents(self) -> int:
        return len(self._incidents)

    def due(self, now: datetime) -> list[str]:
        """The held Jobs whose release time has come (judge them again now)."""
        return [name for name, held in self._held.items() if self._release_at(held) <= now]

    def next_release(self) -> datetime | None:
        """The earliest moment a held Job is due for release (None: nothing held)."""
        return min((self._release_at(h) for h in self._held.values()), default=None)

    # Inside ---------------------------------------------------------------------

    def _release_at(self, held: _Held) -> datetime:
        bound = held.since + self.policy.hold
        incident = self._incidents.get(held.cause)
        if incident is None:
            return min(held.since + self.policy.gather, bound)
        if incident.cleared_at is None:
            return bound
        if held.final:
            return min(incident.cleared_at, bound)
        return min(incident.cleared_at + self.policy.recovery, bound)

    def _hold(self, held: _Held, *, now: datetime) -> None:
        self._held[held.job_name] = held
        seen = self._seen.setdefault(held.cause, {})
        seen.setdefault(held.job_name, now)
        horizon = now - self.policy.window
        for name in [name for name, at in seen.items() if at < horizon]:
            del seen[name]
        incident = self._incidents.get(held.cause)
        if incident is not None:
            incident.held[held.job_name] = held.task_id
            incident.active.add(held.job_name)
        elif len(seen) >= self.policy.threshold:
            incident = _Incident(held.cause, opened_at=now)
            self._incidents[held.cause] = incident
            for other in self._held.values():
                if other.cause == held.cause:
                    incident.held[other.job_name] = other.task_id
                    incident.active.add(other.job_name)
            self._changes.append(IncidentOpened(
                held.cause, now, tuple(incident.held),
                tuple(sorted({t for t in incident.held.values() if t}))))

    def _remove(self, held: _Held, *, now: datetime, recovered: bool = False,
                released: bool = False) -> None:
        del self._held[held.job_name]
        incident = self._incidents.get(held.cause)
        if incident is None:
            return
        incident.recovered += recovered
        incident.released += released
        incident.active.discard(held.job_name)
        if incident.active:
            return
        del self._incidents[held.cause]
        self._changes.append(IncidentClosed(
            held.cause, incident.opened_at, now,
            Ending.CLEARED if incident.cleared_at is not None else Ending.EXPIRED,
            held=len(incident.held), recovered=incident.recovered, released=incident.released))

    def _forget_released(self, now: datetime) -> None:
        horizon = now - self.policy.hold
        if self._released and min(self._released.values()) < horizon:
            self._released = {n: at for n, at in self._released.items() if at >= horizon}

"""Kubernetes Events on a Job: what zombiewatch says about it, and when saying it again is spam.

An operator reading ``kubectl describe job`` should see that zombiewatch judged
the Job (``ZombieReported``), stopped its pods (``ZombieReaped``), re-published
its failure (``ZombieDeliveryRepaired``) or gave up on it
(``ZombieDeliveryGivenUp``), or holds it in a storm incident (``ZombieStormHeld``,
on the first Job the incident holds). The messages are built here, one home for each.

The :class:`EventCorrelator` is client-go's ``EventCorrelator`` reduced to what
we emit: the same Job, reason and message within :attr:`CorrelatorSettings.window`
become one Event whose ``count`` is bumped (a PATCH) instead of a new Event, and
a token bucket per Job (``burst`` Events, then one per ``refill``) keeps a
flapping Job from flooding the API server. Pure: the caller passes the time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from zombiewatch.domain.detail import safe_detail
from zombiewatch.domain.doctrine import reason_line
from zombiewatch.domain.reasons import ZombieReason

_K = TypeVar("_K")
_V = TypeVar("_V")

REPORTING_COMPONENT = "zombiewatch"
"""``reportingComponent`` and ``source.component`` of every Event we write."""


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


class EventReason(StrEnum):
    REPORTED = "ZombieReported"
    REAPED = "ZombieReaped"
    DELIVERY_REPAIRED = "ZombieDeliveryRepaired"
    DELIVERY_GIVEN_UP = "ZombieDeliveryGivenUp"
    STORM_HELD = "ZombieStormHeld"


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One thing to say about one Job (the ``involvedObject``: namespace, name, uid)."""

    namespace: str
    job_name: str
    job_uid: str
    type: EventType
    reason: EventReason
    message: str


@dataclass(frozen=True, slots=True)
class JobRef:
    """The Job an Event is about: ``kubectl describe job`` finds Events by name and uid."""

    namespace: str
    name: str
    uid: str


MESSAGE_MAX_BYTES = 1024
"""An Event's message is kept within 1 kB (UTF-8), the bound of the ``note`` of
``events.k8s.io/v1`` Events: ``kubectl describe`` shows it whole on one line."""

DETAIL_SEPARATOR = ". Detail: "


def reported(
    job: JobRef, *, reason: ZombieReason, evidence: str, task_id: str, detail: str = ""
) -> JobEvent:
    """The failure was committed: ``pod_oom_killed (OOMKilled/137): failure reported for task
    t. Detail: container "agent" killed ...`` (the section's Reason and Detail lines).

    The detail is the one the task file shows (:func:`safe_detail`), cut shorter (on a
    whole character, with its ellipsis) only when the message would pass
    :data:`MESSAGE_MAX_BYTES`.
    """
    head = f"{reason_line(reason, evidence)}: failure reported for task {task_id}"
    return _event(job, EventType.WARNING, EventReason.REPORTED, _with_detail(head, detail))


def _with_detail(head: str, detail: str) -> str:
    safe = safe_detail(detail)
    if not safe:
        return head
    budget = MESSAGE_MAX_BYTES - len(head.encode()) - len(DETAIL_SEPARATOR.encode())
    if len(safe.encode()) > budget:
        low, high = 0, len(safe)  # the longest cut that fits (encoded length grows with it)
        while low < high:
            mid = (low + high + 1) // 2
            if len(safe_detail(safe, mid).encode()) <= budget:
                low = mid
            else:
                high = mid - 1
        safe = safe_detail(safe, low) if low > 1 else ""
    return f"{head}{DETAIL_SEPARATOR}{safe}" if safe else head


def reaped(job: JobRef, *, active_deadline_seconds: int) -> JobEvent:
    """The Job's deadline was shortened so its pods stop (SPEC §14)."""
    return _event(job, EventType.NORMAL, EventReason.REAPED,
                  f"reported zombie: activeDeadlineSeconds set to {active_deadline_seconds} "
                  "to stop its pods")


def delivery_repaired(job: JobRef, *, task_id: str, parts: str, attempt: int,
                      of: int) -> JobEvent:
    """An unconfirmed failure was published again (SPEC §13)."""
    return _event(job, EventType.NORMAL, EventReason.DELIVERY_REPAIRED,
                  f"failure for task {task_id} not confirmed yet: re-published {parts} "
                  f"(attempt {attempt} of {of})")


def delivery_given_up(job: JobRef, *, task_id: str, repairs: int, why: str) -> JobEvent:
    """The failure stayed unconfirmed after the last repair: the task may be parked."""
    return _event(job, EventType.WARNING, EventReason.DELIVERY_GIVEN_UP,
                  f"failure for task {task_id} still unconfirmed after {repairs} "
                  f"re-publishes: {why}")


STORM_SUBJECT_LIMIT = 200
"""Characters of a cause (a scheduler message can be long) an Event message keeps."""
STORM_TASKS_LIMIT = 20
"""Tasks an Event message names; the rest are counted."""


def storm_held(job: JobRef, *, cause: str, jobs: int, tasks: Sequence[str],
               hold_seconds: float) -> JobEvent:
    """A storm incident opened; said once, on the first Job it holds."""
    shown = cause if len(cause) <= STORM_SUBJECT_LIMIT else cause[:STORM_SUBJECT_LIMIT] + "..."
    named = ", ".join(tasks[:STORM_TASKS_LIMIT])
    more = f" and {len(tasks) - STORM_TASKS_LIMIT} more" if len(tasks) > STORM_TASKS_LIMIT else ""
    return _event(job, EventType.WARNING, EventReason.STORM_HELD,
                  f"storm: {jobs} zombies share {shown}: their failures are held (not "
                  f"published, not reaped) until it clears or {hold_seconds:g} s pass; "
                  f"tasks {named or '-'}{more}")


def _event(job: JobRef, kind: EventType, reason: EventReason, message: str) -> JobEvent:
    return JobEvent(namespace=job.namespace, job_name=job.name, job_uid=job.uid, type=kind,
                    reason=reason, message=message)


@dataclass(frozen=True, slots=True)
class CorrelatorSettings:
    """client-go's defaults: a burst of 25 per object, then one per 5 minutes."""

    window: timedelta = timedelta(minutes=10)
    """The same Event again within this much of its last occurrence bumps its count."""
    burst: int = 25
    refill: timedelta = timedelta(minutes=5)
    """One more token per object after this long, up to ``burst``."""
    max_keys: int = 4096
    """Events and buckets remembered (least recently used forgotten first)."""


@dataclass(frozen=True, slots=True)
class Create:
    """Write a new Event named ``name`` (count 1)."""

    event: JobEvent
    name: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Bump:
    """The Event ``name`` happened again: its ``count`` and ``lastTimestamp`` are now these.

    ``first`` is its ``firstTimestamp``: written with a fresh Event when the old one is gone.
    """

    event: JobEvent
    name: str
    count: int
    first: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class RateLimited:
    """The Job's bucket is empty: nothing is written."""

    event: JobEvent


Decision = Create | Bump | RateLimited


@dataclass(slots=True)
class _Seen:
    name: str
    count: int
    first: datetime
    last: datetime


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: datetime


@dataclass
class EventCorrelator:
    """Dedupe and rate limit of Job Events; :meth:`observe` says what to write, if anything."""

    settings: CorrelatorSettings = field(default_factory=CorrelatorSettings)
    _seen: OrderedDict[tuple[str, str, str, str], _Seen] = field(
        default_factory=OrderedDict, init=False)
    _buckets: OrderedDict[tuple[str, str], _Bucket] = field(
        default_factory=OrderedDict, init=False)

    def observe(self, event: JobEvent, *, now: datetime) -> Decision:
        """One occurrence of ``event`` at ``now``: a new Event, a bumped one, or nothing."""
        self._forget_idle(now)
        job = (event.namespace, event.job_uid or event.job_name)
        if not self._take(job, now=now):
            return RateLimited(event)
        key = (*job, event.reason.value, event.message)
        seen = self._seen.get(key)
        if seen is not None and now - seen.last <= self.settings.window:
            seen.count += 1
            seen.last = now
            self._seen.move_to_end(key)
            return Bump(event, seen.name, seen.count, seen.first, now)
        name = event_name(event.job_name, now)
        self._remember(self._seen, key, _Seen(name, 1, now, now))
        return Create(event, name, now)

    @property
    def sizes(self) -> tuple[int, int]:
        """Events (for bumping) and token buckets remembered (a gauge)."""
        return len(self._seen), len(self._buckets)

    def _forget_idle(self, now: datetime) -> None:
        """Forget what would act as unknown anyway: an Event last seen more than ``window``
        ago (the next occurrence is a new Event) and a bucket refilled to ``burst`` (a new
        one starts full). Both are kept least recently used first, so the idle ones are
        at the front. Without it the entries of Jobs long deleted stay until ``max_keys``
        pushes them out.
        """
        seen = self._seen
        while seen:
            oldest = next(iter(seen.values()))
            if now - oldest.last <= self.settings.window:
                break
            seen.popitem(last=False)
        buckets = self._buckets
        while buckets:
            bucket = next(iter(buckets.values()))
            if bucket.tokens + (now - bucket.at) / self.settings.refill < self.settings.burst:
                break
            buckets.popitem(last=False)

    def _take(self, job: tuple[str, str], *, now: datetime) -> bool:
        s = self.settings
        bucket = self._buckets.get(job)
        if bucket is None:
            bucket = _Bucket(float(s.burst), now)
            self._remember(self._buckets, job, bucket)
        else:
            self._buckets.move_to_end(job)
            earned = max(0.0, (now - bucket.at) / s.refill)
            bucket.tokens = min(float(s.burst), bucket.tokens + earned)
            bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _remember(self, memory: OrderedDict[_K, _V], key: _K, value: _V) -> None:
        memory[key] = value
        while len(memory) > self.settings.max_keys:
            memory.popitem(last=False)


def event_name(job_name: str, at: datetime) -> str:
    """``<job>.<hex nanoseconds>``, as client-go names Events (unique per occurrence)."""
    nanos = int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000
    return f"{job_name}.{nanos:x}"

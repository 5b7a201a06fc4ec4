"""Recording fakes of zombiewatch's ports: they record what happened instead of mocking calls.

For the project's own tests and for a host's: a publisher that keeps every
committed failure (and can be told to fail), an annotator writing into a
fake informers' cache, a leader switch, a scripted failure history, a manual
timer scheduler, and the one clock every test uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from returns.result import Failure, Result, Success

from zombiewatch.domain.commands import Command, FailureReport, Operation
from zombiewatch.domain.doctrine import ReportedFailure
from zombiewatch.domain.event_evidence import EventView
from zombiewatch.domain.job_events import EventReason, JobEvent
from zombiewatch.domain.ledger import LedgerReading, failure_request_id
from zombiewatch.domain.ports import (
    AnnotateError,
    AnnotateErrorKind,
    BrokerErrorKind,
    EventLookupError,
    PublishError,
    ReadError,
    ReapError,
    ReapErrorKind,
)
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import AgentConfigView, JobView, PodView

__all__ = [
    "T0",
    "FakeCache",
    "FakeClock",
    "FakeLeader",
    "FeedSwitch",
    "ManualScheduler",
    "ManualTimer",
    "RecordingAnnotator",
    "RecordingEventRecorder",
    "RecordingPublisher",
    "RecordingReaper",
    "ScriptedEventLookup",
    "ScriptedHistory",
]

T0 = datetime(2026, 6, 2, 9, 0, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """The one test clock: wall time and a monotonic reading that move only when told to.

    ``now`` is the :class:`~zombiewatch.domain.ports.Clock` port; pass
    ``clock.now`` or ``clock.monotonic`` where a callable is wanted.
    ``advance`` moves both; assigning ``current`` moves the wall time alone
    (a wall-clock step, as NTP makes).
    """

    current: datetime = T0
    elapsed: float = 1000.0
    """Monotonic seconds."""

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        self.elapsed += seconds


@dataclass
class RecordingPublisher:
    """Keeps every committed failure; can be told to fail the next publishes."""

    published: list[FailureReport] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    command_ids: list[UUID] = field(default_factory=list)
    """The deterministic request ids given with commands (the success clears)."""
    clock: FakeClock | None = None
    """When commands reach ``topic`` (``T0`` without a clock; ``Fakes`` gives its own)."""
    transactions: int = 0
    fail_next: int = 0
    failure_kind: BrokerErrorKind = BrokerErrorKind.UNAVAILABLE
    starts: int = 0
    """How often it was told to connect (each new leadership term, each reconnect)."""
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    committed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by every committed ``publish_failures``."""
    fenced: bool = False

    @property
    def started(self) -> bool:
        return self.connected.is_set()

    problem: PublishError | None = None
    """What readiness reports; set by the test."""

    async def start(self) -> Result[None, PublishError]:
        self.starts += 1
        self.connected.set()
        return Success(None)

    async def reconnect(self) -> None:
        await self.start()

    async def close(self) -> None:
        self.connected.clear()
    settled: int = 0
    fail_settle: bool = False
    attempts: list[list[FailureReport]] = field(default_factory=list)
    topic: ScriptedHistory | None = None
    """When set, what is published lands there (the ledger the reporter reads)."""
    reach_log_on_failure: bool = False
    """A failed publish still leaves its records in the log (abort after the sends)."""

    async def publish_failures(
        self, failures: Sequence[FailureReport]
    ) -> Result[None, PublishError]:
        self.attempts.append(list(failures))
        if self.fail_next > 0:
            self.fail_next -= 1
            if self.topic is not None and self.reach_log_on_failure:
                for failure in failures:  # aborted after the records reached the log
                    self.topic.deliver(failure, at=failure.occurred_at)
            return Failure(PublishError(self.failure_kind, "broker down (fake)"))
        if self.topic is not None:
            for failure in failures:
                self.topic.deliver(failure, at=failure.occurred_at)
        self.transactions += 1
        self.published.extend(failures)
        self.committed.set()
        return Success(None)

    async def publish_commands(
        self, commands: Sequence[Command], *, request_ids: Sequence[UUID] | None = None
    ) -> Result[None, PublishError]:
        if self.fail_next > 0:
            self.fail_next -= 1
            return Failure(PublishError(self.failure_kind, "broker down (fake)"))
        self.commands.extend(commands)
        if request_ids is not None:
            self.command_ids.extend(request_ids)
            if self.topic is not None:
                at = self.clock.now() if self.clock is not None else T0
                self.topic.clears.extend((rid, at) for rid in request_ids)
        return Success(None)

    async def settle(self) -> Result[None, PublishError]:
        self.settled += 1
        if self.fail_settle:
            return Failure(PublishError(self.failure_kind, "broker down (fake)"))
        return Success(None)

    def reported_jobs(self) -> list[str]:
        return [f.job_name for f in self.published]


@dataclass
class RecordingAnnotator:
    """Records annotations; writes them into the fake cache like the real API would."""

    cache: FakeCache | None = None
    annotated: list[tuple[str, ZombieReason]] = field(default_factory=list)
    unavailable: bool = False

    async def annotate_reported(
        self, *, namespace: str, job_name: str, reason: ZombieReason, reported_at: datetime
    ) -> Result[None, AnnotateError]:
        if self.unavailable:
            return Failure(AnnotateError(AnnotateErrorKind.UNAVAILABLE, "api down (fake)"))
        if self.cache is not None:
            job = self.cache.job(job_name)
            if job is None:
                return Failure(AnnotateError(AnnotateErrorKind.NOT_FOUND, "no such job"))
            self.cache.put_job(_annotated(job, reason, reported_at))
        self.annotated.append((job_name, reason))
        return Success(None)


def _annotated(job: JobView, reason: ZombieReason, at: datetime) -> JobView:
    from dataclasses import replace  # noqa: PLC0415

    return replace(job, reported_reason=reason.value)


@dataclass
class FakeCache:
    """The informers' cache, filled by the test."""

    jobs_by_name: dict[str, JobView] = field(default_factory=dict)
    pods_by_job: dict[str, dict[str, PodView]] = field(default_factory=dict)
    config_views: list[AgentConfigView] = field(default_factory=list)
    synced_event: asyncio.Event = field(default_factory=asyncio.Event)
    sync_awaited: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once someone waits for the sync (the sweeper, before its first tick)."""

    def __post_init__(self) -> None:
        self.synced_event.set()

    def put_job(self, job: JobView) -> None:
        self.jobs_by_name[job.name] = job

    def put_pod(self, pod: PodView) -> None:
        self.pods_by_job.setdefault(pod.job_name, {})[pod.name] = pod

    def drop_pod(self, pod: PodView) -> None:
        """The pod was deleted (the informer removes it before the callbacks run)."""
        self.pods_by_job.get(pod.job_name, {}).pop(pod.name, None)

    def job(self, job_name: str) -> JobView | None:
        return self.jobs_by_name.get(job_name)

    def jobs(self) -> Iterable[JobView]:
        return self.jobs_by_name.values()

    def job_names(self) -> Set[str]:
        return self.jobs_by_name.keys()

    def pods_of_job(self, job_name: str) -> Sequence[PodView]:
        return list(self.pods_by_job.get(job_name, {}).values())

    def configs(self) -> Iterable[AgentConfigView]:
        return self.config_views

    def synced(self) -> bool:
        return self.synced_event.is_set()

    async def wait_synced(self) -> None:
        self.sync_awaited.set()
        await self.synced_event.wait()


@dataclass
class FakeLeader:
    """Leads or follows as the test says; ``set_leading`` is a leadership change."""

    leading: bool = True
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def is_leader(self) -> bool:
        return self.leading

    def set_leading(self, leading: bool) -> None:
        self.leading = leading
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def next_change(self) -> Awaitable[object]:
        return self.changed.wait()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@dataclass
class ScriptedHistory:
    """The topic's memory of failures: answers from lists, or fails as told.

    ``failures`` are whole failures (both commands on the topic); ``parts`` are
    single commands (what an aborted transaction read ``read_uncommitted`` may
    leave), added with :meth:`deliver`.
    """

    failures: list[ReportedFailure] = field(default_factory=list)
    parts: list[tuple[str, Operation, datetime, ZombieReason]] = field(default_factory=list)
    task_of: dict[str, str] = field(default_factory=dict)
    """Task id of each job's failure (``t-1`` when not said)."""
    count_before: dict[tuple[str, datetime], int | None] = field(default_factory=dict)
    """The ``trigger_count_before`` each delivered increment carried, by (job, time)."""
    unreadable_counts: int = 0
    """Increment headers the reading reports as unreadable."""
    clears: list[tuple[UUID, datetime]] = field(default_factory=list)
    """Success clears on the topic: (request id, written at)."""
    vault_of: dict[str, str] = field(default_factory=dict)
    """``targetVault`` of each job's delivered failure, when it named one."""
    evidence_of: dict[str, str] = field(default_factory=dict)
    """The evidence on the Reason line of each job's delivered failure, when it had one."""
    detail_of: dict[str, str] = field(default_factory=dict)
    """The ``Detail:`` line of each job's delivered failure, when it had one."""
    error: ReadError | None = None
    calls: list[datetime] = field(default_factory=list)

    def deliver(self, report: FailureReport, *, at: datetime,
                operations: Iterable[Operation] | None = None) -> None:
        """Put the commands of ``report`` (all, or only ``operations``) on the topic."""
        wanted = set(Operation) if operations is None else set(operations)
        self.task_of[report.job_name] = report.task_id
        if report.target_vault:
            self.vault_of[report.job_name] = report.target_vault
        if report.evidence:
            self.evidence_of[report.job_name] = report.evidence
        if report.detail:
            self.detail_of[report.job_name] = report.detail
        for command in report.commands:
            if command.operation in wanted:
                self.parts.append((report.job_name, command.operation, at, report.reason))
                if command.operation is Operation.INCREMENT_FRONTMATTER:
                    self.count_before[(report.job_name, at)] = report.trigger_count_before

    async def reported_since(self, since: datetime) -> Result[LedgerReading, ReadError]:
        self.calls.append(since)
        if self.error is not None:
            return Failure(self.error)
        failures = [f for f in self.failures if f.at >= since]
        ids = [(failure_request_id(job_name=f.job_name, operation=op), f.at)
               for f in failures for op in Operation]
        counts: list[tuple[UUID, datetime, int | None]] = [
            (failure_request_id(job_name=f.job_name,
                                operation=Operation.INCREMENT_FRONTMATTER), f.at, None)
            for f in failures]
        for job, op, at, reason in self.parts:
            if at >= since:
                ids.append((failure_request_id(job_name=job, operation=op), at))
                if op is Operation.UPDATE_FRONTMATTER:
                    failures.append(ReportedFailure(job_name=job, reason=reason, at=at,
                                                    evidence=self.evidence_of.get(job, ""),
                                                    detail=self.detail_of.get(job, "")))
                else:
                    counts.append((ids[-1][0], at, self.count_before.get((job, at))))
        tasks = tuple((f.job_name, self.task_of.get(f.job_name, "t-1")) for f in failures)
        vaults = tuple((f.job_name, self.vault_of[f.job_name]) for f in failures
                       if f.job_name in self.vault_of)
        return Success(LedgerReading(failures=tuple(failures), request_ids=tuple(ids),
                                     tasks=tasks, vaults=vaults, counts_before=tuple(counts),
                                     unreadable_counts=self.unreadable_counts,
                                     clears=tuple((r, at) for r, at in self.clears
                                                  if at >= since)))


@dataclass
class ManualTimer:
    delay: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class ManualScheduler:
    """Records timers instead of arming them; the test fires them when it wants."""

    timers: list[ManualTimer] = field(default_factory=list)

    def __call__(self, delay: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(delay, callback)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[ManualTimer]:
        return [t for t in self.timers if not t.cancelled]

    def fire_all(self) -> None:
        for timer in self.pending():
            timer.cancelled = True
            timer.callback()


@dataclass
class RecordingReaper:
    """The JobReaper port: records each reap patch; can be told to fail with a kind."""

    reaped: list[tuple[str, int]] = field(default_factory=list)
    error: ReapErrorKind | None = None

    async def reap(self, *, namespace: str, job_name: str, active_deadline_seconds: int,
                   reaped_at: datetime) -> Result[None, ReapError]:
        if self.error is not None:
            return Failure(ReapError(self.error, "refused (fake)"))
        self.reaped.append((job_name, active_deadline_seconds))
        return Success(None)


@dataclass
class ScriptedEventLookup:
    """The EventLookup port: answers each object's uid with the Events scripted for it
    (none by default) and records every lookup; ``error`` makes every lookup fail."""

    events: dict[str, list[EventView]] = field(default_factory=dict)
    looked_up: list[tuple[str, str]] = field(default_factory=list)
    """``(namespace, uid)`` of each lookup, in order."""
    error: str | None = None

    async def events_of(
        self, *, namespace: str, uid: str,
    ) -> Result[Sequence[EventView], EventLookupError]:
        self.looked_up.append((namespace, uid))
        if self.error is not None:
            return Failure(EventLookupError(self.error))
        return Success(list(self.events.get(uid, ())))


@dataclass
class RecordingEventRecorder:
    """The JobEventRecorder port (and a Lifecycle): records each Event as said, uncorrelated."""

    events: list[JobEvent] = field(default_factory=list)

    def record(self, event: JobEvent) -> None:
        self.events.append(event)

    def said(self, reason: EventReason) -> list[tuple[str, str]]:
        """``(job, message)`` of each Event with ``reason``, in order."""
        return [(e.job_name, e.message) for e in self.events if e.reason is reason]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@dataclass
class FeedSwitch:
    """The task feed's status, set by the test (``TaskView`` reads it): up and caught up
    by default, like a feed that has read its topic to the end."""

    up: bool = True
    caught_up: bool = True

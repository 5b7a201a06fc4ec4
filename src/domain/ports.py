"""What the application needs from the outside world, as Protocols.

Adapters implement these; the app is wired against them, and unit tests use
recording fakes. Expected failures that a caller decides on (publish, read,
annotate, reap) come back as ``Result`` values with a specific error type; a
part that cannot start raises :class:`StartError`; programming errors raise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from returns.result import Result

from zombiewatch.domain.commands import Command, FailureReport
from zombiewatch.domain.event_evidence import EventView
from zombiewatch.domain.job_events import JobEvent
from zombiewatch.domain.ledger import LedgerReading
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.shadow import ExecutorFailure
from zombiewatch.domain.views import AgentConfigView, JobView, PodView


class BrokerErrorKind(StrEnum):
    """What went wrong talking to the broker, whether publishing or reading."""

    UNAVAILABLE = "unavailable"
    """Broker unreachable or not answering within the timeout: retry later."""
    FENCED = "fenced"
    """Another producer with our transactional id took over: step down (publishing only)."""
    REJECTED = "rejected"
    """The broker refused the request (record size, invalid state, ...)."""
    UNAUTHORIZED = "unauthorized"
    """An ACL is missing: the message names it. Retried: an operator may grant it."""
    UNAUTHENTICATED = "unauthenticated"
    """Credentials or certificates refused, either way (wrong password, unknown user,
    untrusted or expired broker certificate, hostname mismatch). Retried with backoff."""


@dataclass(frozen=True, slots=True)
class BrokerError:
    """An expected failure of one of our broker clients; the message never holds a secret."""

    kind: BrokerErrorKind
    message: str


@dataclass(frozen=True, slots=True)
class PublishError(BrokerError):
    """Publishing (or connecting the producer) failed: not known to be committed."""


@dataclass(frozen=True, slots=True)
class ReadError(BrokerError):
    """Reading a topic failed (the ledger's read-back, the task feed)."""


class AnnotateErrorKind(StrEnum):
    NOT_FOUND = "not_found"
    """The Job is gone: nothing to annotate, nothing to worry about."""
    UNAVAILABLE = "unavailable"
    """API server unreachable or erroring: the in-memory dedupe still holds."""
    FORBIDDEN = "forbidden"


@dataclass(frozen=True, slots=True)
class AnnotateError:
    kind: AnnotateErrorKind
    message: str


class ReapErrorKind(StrEnum):
    NOT_FOUND = "not_found"
    """The Job is gone: nothing left to stop."""
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    REJECTED = "rejected"
    """The API server refused the patch (e.g. 422)."""
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class ReapError:
    kind: ReapErrorKind
    message: str


class JobReaper(Protocol):
    async def reap(
        self, *, namespace: str, job_name: str, active_deadline_seconds: int,
        reaped_at: datetime,
    ) -> Result[None, ReapError]:
        """Shorten the Job's ``activeDeadlineSeconds`` and mark it zombie-reaped-at, in one
        patch."""
        ...


@dataclass(frozen=True, slots=True)
class EventLookupError:
    """Why the Events of an object could not be read (RBAC, network, a bad answer)."""

    message: str


class EventLookup(Protocol):
    async def events_of(
        self, *, namespace: str, uid: str,
    ) -> Result[Sequence[EventView], EventLookupError]:
        """The core/v1 Events whose ``involvedObject.uid`` is ``uid`` (one GET)."""
        ...


class JobEventRecorder(Protocol):
    def record(self, event: JobEvent) -> None:
        """Say ``event`` on its Job (a Kubernetes Event), later: never blocks, never raises.

        Correlated (a repeat bumps the Event's count) and rate limited per Job; dropped
        and counted when the queue of writes is full."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class StartError(Exception):
    """A component that could not start (a port in use, a kubeconfig it cannot read)."""

    def __init__(self, component: str, message: str) -> None:
        super().__init__(f"{component}: {message}")
        self.component = component
        self.message = message


class Lifecycle(Protocol):
    """A component the composition root starts and stops, in order (stops in reverse)."""

    async def start(self) -> None:
        """Start, or raise :class:`StartError` saying why not."""
        ...

    async def stop(self) -> None: ...


class CommandPublisher(Protocol):
    """Publishes on the topic; connecting is the explicit "we lead now" act.

    ``start`` connects (taking the transactional id, which fences any other
    holder), ``reconnect`` tries again after a failure, ``started`` says it is
    connected and ``problem`` why it cannot publish (readiness), ``fenced`` that
    another producer took the id over, and ``close`` flushes and disconnects.
    """

    @property
    def started(self) -> bool: ...

    @property
    def fenced(self) -> bool: ...

    @property
    def problem(self) -> PublishError | None:
        """Why publishing does not work now (fenced, refused, unreachable), if it does not."""
        ...

    async def start(self) -> Result[None, PublishError]:
        """Connect now (a new term); the caller reads the history only once connected."""
        ...

    async def reconnect(self) -> None:
        """Connect again after a failure, at most once per backoff; never when fenced.

        The outcome shows in ``started`` and ``problem``.
        """
        ...

    async def close(self) -> None: ...

    async def publish_failures(
        self, failures: Sequence[FailureReport]
    ) -> Result[None, PublishError]:
        """Publish each failure's commands atomically (all or none of a failure)."""
        ...

    async def publish_commands(
        self, commands: Sequence[Command], *, request_ids: Sequence[UUID] | None = None
    ) -> Result[None, PublishError]:
        """Publish helper commands in one transaction: the host's dispatch path (random
        request ids), or the success clears (``request_ids``, one per command, deterministic)."""
        ...

    async def settle(self) -> Result[None, PublishError]:
        """Close the books on earlier failed publishes before the ledger is read.

        When it succeeds, every record of an earlier failed attempt is either in
        the log (and visible to a ``read_uncommitted`` reader) or never will be:
        no transaction of ours is still open. Fails ``FENCED`` once another
        instance took the transactional id (it leads now; publish nothing).
        """
        ...


class FailureHistory(Protocol):
    async def reported_since(self, since: datetime) -> Result[LedgerReading, ReadError]:
        """Our failure records on the request topic since ``since`` (by any instance),
        read at the consumer's isolation level: with ``read_uncommitted`` the records
        of aborted transactions are included, because the controller applied them."""
        ...


class ExecutorFailureSource(Protocol):
    async def executor_failures_since(
        self, since: datetime, *, until: datetime | None = None,
    ) -> Result[tuple[ExecutorFailure, ...], ReadError]:
        """The executor's zombie failure updates on the request topic in the window
        (shadow mode compares them with its own verdicts)."""
        ...


class JobAnnotator(Protocol):
    async def annotate_reported(
        self, *, namespace: str, job_name: str, reason: ZombieReason, reported_at: datetime
    ) -> Result[None, AnnotateError]:
        """Write the durable dedupe annotations onto the Job."""
        ...


class ClusterCache(Protocol):
    """O(1) lookups into the informers' projected caches; never calls the API."""

    def job(self, job_name: str) -> JobView | None: ...

    def jobs(self) -> Iterable[JobView]: ...

    def job_names(self) -> Set[str]:
        """Names of the cached Jobs (a set view: the sweeper subtracts it from the feed's)."""
        ...

    def pods_of_job(self, job_name: str) -> Sequence[PodView]: ...

    def configs(self) -> Iterable[AgentConfigView]: ...

    def synced(self) -> bool:
        """True once the Job and Pod informers have completed their first list."""
        ...

    async def wait_synced(self) -> None:
        """Return once :meth:`synced` is true."""
        ...


class LeaderStatus(Protocol):
    def is_leader(self) -> bool: ...

    def next_change(self) -> Awaitable[object]:
        """Completes at the first start or end of leadership after this call."""
        ...

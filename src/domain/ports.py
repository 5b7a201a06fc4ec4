"""What the application needs from the outside world, as Protocols.

Adapters implement these; the app is wired against them, and unit tests use
recording fakes. Expected failures come back as ``Result`` values with a
specific error type; programming errors still raise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from returns.result import Result

from zombiewatch.domain.commands import Command, FailureReport
from zombiewatch.domain.doctrine import ReportedFailure
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import AgentConfigView, JobView, PodView


class PublishErrorKind(StrEnum):
    UNAVAILABLE = "unavailable"
    """Broker unreachable or not answering within the timeout: retry later."""
    FENCED = "fenced"
    """Another producer with our transactional id took over: step down."""
    REJECTED = "rejected"
    """The broker refused the records (size, invalid state, ...)."""
    UNAUTHORIZED = "unauthorized"
    """An ACL is missing: the message names it. Retried: an operator may grant it."""
    UNAUTHENTICATED = "unauthenticated"
    """Credentials or certificates refused, either way (wrong password, unknown user,
    untrusted or expired broker certificate, hostname mismatch). Retried with backoff."""


@dataclass(frozen=True, slots=True)
class PublishError:
    kind: PublishErrorKind
    message: str


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


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class CommandPublisher(Protocol):
    async def publish_failures(
        self, failures: Sequence[FailureReport]
    ) -> Result[None, PublishError]:
        """Publish each failure's commands atomically (all or none of a failure)."""
        ...

    async def publish_commands(self, commands: Sequence[Command]) -> Result[None, PublishError]:
        """Publish helper commands of the host's dispatch path (random request ids)."""
        ...


class FailureHistory(Protocol):
    async def reported_since(
        self, since: datetime
    ) -> Result[Sequence[ReportedFailure], PublishError]:
        """Zombie failures committed on the topic since ``since`` (by any instance)."""
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

    def pods_of_job(self, job_name: str) -> Sequence[PodView]: ...

    def configs(self) -> Iterable[AgentConfigView]: ...

    def synced(self) -> bool:
        """True once the Job and Pod informers have completed their first list."""
        ...


class LeaderStatus(Protocol):
    def is_leader(self) -> bool: ...

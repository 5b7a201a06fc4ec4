"""Record keys and request ids (SPEC §3; docs/WIRE.md explains why both are safe).

- The record key is the task identifier, so every command for one task lands on
  one partition and the controller applies them in the order we sent them.
- Failure commands carry a *deterministic* requestID, a UUIDv5 of
  ``"<job name>/<operation>"`` in :data:`PROJECT_NAMESPACE_UUID`. A failure has
  at most one command per operation, so the pair is unique per failure, and a
  re-publish of the same failure (after a crash or an ambiguous timeout)
  carries the same ids: an idempotent consumer can drop the duplicate.
- Helper commands of the dispatch path are not replays of anything and get a
  random UUIDv4, as the original executor did.
"""

from __future__ import annotations

import uuid
from typing import Final

from zombiewatch.domain.commands import Command, Operation

PROJECT_NAMESPACE_UUID: Final = uuid.UUID("5edf1764-c205-53b1-adae-4ff4250ea221")
"""Namespace of the deterministic request ids. Never change it: it is part of the
wire contract (ids of re-published failures must match the first publish).
Derived once as ``uuid5(NAMESPACE_DNS, "zombiewatch.agent.benjamin-borbe.de")``."""


def message_key(command: Command) -> bytes:
    """The Kafka record key: the task identifier, UTF-8."""
    return command.task_identifier.encode("utf-8")


def failure_request_id(*, job_name: str, operation: Operation) -> uuid.UUID:
    """The deterministic requestID of ``operation`` in the failure report of ``job_name``."""
    return uuid.uuid5(PROJECT_NAMESPACE_UUID, f"{job_name}/{operation.value}")


def random_request_id() -> uuid.UUID:
    """A fresh requestID for a command that is not a replayable failure."""
    return uuid.uuid4()

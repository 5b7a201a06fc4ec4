"""Record keys and request ids (SPEC §3; docs/WIRE.md explains why both are safe).

- The record key is the task identifier, so every command for one task lands on
  one partition and the controller applies them in the order we sent them.
- Failure commands carry a *deterministic* requestID, a UUIDv5 of
  ``"<job name>/<operation>"`` in ``PROJECT_NAMESPACE_UUID``
  (:func:`zombiewatch.domain.ledger.failure_request_id`, where the ledger reads
  them back). A failure has
  at most one command per operation, so the pair is unique per failure, and a
  re-publish of the same failure (after a crash or an ambiguous timeout)
  carries the same ids: an idempotent consumer can drop the duplicate.
- Helper commands of the dispatch path are not replays of anything and get a
  random UUIDv4, as the original executor did.
"""

from __future__ import annotations

import uuid

from zombiewatch.domain.commands import Command


def message_key(command: Command) -> bytes:
    """The Kafka record key: the task identifier, UTF-8."""
    return command.task_identifier.encode("utf-8")


def random_request_id() -> uuid.UUID:
    """A fresh requestID for a command that is not a replayable failure."""
    return uuid.uuid4()

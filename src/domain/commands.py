"""Typed commands that change a task file (SPEC §2).

The doctrine decides which commands to send and returns these objects; the
Kafka adapter encodes them byte-exactly for the agent system's controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from zombiewatch.domain.reasons import ZombieReason

FrontmatterValue = str | int | bool
"""Values this project ever writes into frontmatter."""


class Operation(StrEnum):
    """The wire name of each command kind."""

    UPDATE_FRONTMATTER = "update-frontmatter"
    INCREMENT_FRONTMATTER = "increment-frontmatter"


@dataclass(frozen=True, slots=True, kw_only=True)
class BodySection:
    """Replace every section with ``heading``, then append ``section`` once."""

    heading: str
    section: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateFrontmatter:
    """Shallow-merge ``updates`` into the frontmatter; optionally replace a body section."""

    task_identifier: str
    updates: Mapping[str, FrontmatterValue]
    body: BodySection | None = None
    target_vault: str | None = None
    """The vault whose controller must apply it (``targetVault``); None: every controller."""

    @property
    def operation(self) -> Operation:
        return Operation.UPDATE_FRONTMATTER


@dataclass(frozen=True, slots=True, kw_only=True)
class IncrementFrontmatter:
    """Add ``delta`` to an integer frontmatter field (missing/non-numeric counts as 0)."""

    task_identifier: str
    field: str
    delta: int
    target_vault: str | None = None
    """The vault whose controller must apply it (``targetVault``); None: every controller."""

    @property
    def operation(self) -> Operation:
        return Operation.INCREMENT_FRONTMATTER


Command = UpdateFrontmatter | IncrementFrontmatter


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureReport:
    """One failure of one Job, as the publisher must send it: atomically, once.

    ``commands`` is the pair (update, increment) for a zombie failure, or the
    single update of a type-mismatch failure. ``job_name`` feeds the
    deterministic request ids, so a re-publish after a crash carries the same ids.
    """

    task_id: str
    job_name: str
    reason: ZombieReason
    occurred_at: datetime
    commands: tuple[Command, ...]
    evidence: str = ""
    """The ``(<Reason>/<code>)`` the Reason line carries after the reason, ``""`` when none."""
    detail: str = ""
    """The safe text of the section's ``Detail:`` line, ``""`` when it has none."""
    target_vault: str | None = None
    """The task's own vault every command names (``targetVault``); None: every controller.

    With ``evidence``, ``detail`` and ``occurred_at`` this is what a re-publish rebuilds
    the commands from, so a repair sends them byte-identical to the first publish."""
    trigger_count_before: int | None = None
    """The task's ``trigger_count`` before this failure's increment (None: not known).

    Taken from the task feed when the failure is admitted, before anything is
    published, and carried with the increment (a record header, docs/WIRE.md), so
    whoever repairs the failure later — this process or a new leader — can tell
    whether the increment was applied (SPEC §13: never bump twice)."""

"""The trigger budget a dispatch writes before it spawns, as today's executor writes it.

Before each spawn today's executor charges the task's trigger budget, scoped
to what the task is working on: the scope is ``<phase>:<ref[:8]>`` (``ref``,
the commit a repo-backed task is about, cut to 8 characters; empty when the
task has none). The rule, one decision per spawn:

- **spent**: the cap is engaged — the task has a ``max_triggers`` key (any
  value), or a ``ref`` (repo-backed tasks are capped by default) — the scope has
  not changed, and ``trigger_count`` is at or past ``max_triggers`` (3 when the
  key is missing or not a number): no spawn, nothing written;
- otherwise exactly **one write**: the scope unchanged → ``trigger_count`` +1
  (an increment, which the controller checks against the cap); the scope
  changed → ``{trigger_scope: <scope>, trigger_count: 1}`` (a fresh budget);
  no scope yet → ``{trigger_scope: <scope>, trigger_count: n + 1}`` (adopt the
  scope, keep the count: a task that predates scopes gets no free budget).

A missing scope is not a changed one, so it never resets the count. A recurring
task (no ``ref``, no ``max_triggers``) is never capped here: its scope is a
constant and a cap would end its re-dispatch loop. The two updates are ordinary
update-frontmatter commands to the controller: a count written at or past the
cap does not clear the assignee (only an increment at the cap does).

Every write names the task's own vault (``target_vault``), like a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from zombiewatch.domain.commands import Command, UpdateFrontmatter
from zombiewatch.domain.doctrine import TRIGGER_COUNT, DoctrineError, increment_trigger_count
from zombiewatch.domain.names import task_id_problem
from zombiewatch.domain.tasks import DEFAULT_MAX_TRIGGERS, controller_int

TRIGGER_SCOPE: Final = "trigger_scope"
MAX_TRIGGERS: Final = "max_triggers"
REF: Final = "ref"
SCOPE_REF_LENGTH: Final = 8
"""Characters of ``ref`` in the scope (a short commit id)."""


@dataclass(frozen=True, slots=True)
class BudgetSpent:
    """No spawn: the task used its budget in this scope (nothing is written)."""

    scope: str
    trigger_count: int
    max_triggers: int


def trigger_scope(frontmatter: Mapping[str, object]) -> str:
    """``<phase>:<ref[:8]>`` of the task (a missing or non-string part counts as empty)."""
    phase, ref = frontmatter.get("phase"), frontmatter.get(REF)
    return (f"{phase if isinstance(phase, str) else ''}:"
            f"{ref[:SCOPE_REF_LENGTH] if isinstance(ref, str) else ''}")


def trigger_budget(task_id: str, frontmatter: Mapping[str, object]) -> Command | BudgetSpent:
    """The one write that charges the budget for a spawn now, or why there is no spawn.

    ``frontmatter`` is the task's as the dispatch read it. Raises
    :class:`~zombiewatch.domain.doctrine.DoctrineError` for an invalid task id.
    """
    scope = trigger_scope(frontmatter)
    stored = frontmatter.get(TRIGGER_SCOPE)
    has_scope = isinstance(stored, str)
    changed = has_scope and stored != scope
    count = controller_int(frontmatter.get(TRIGGER_COUNT), default=0)
    cap = controller_int(frontmatter.get(MAX_TRIGGERS), default=DEFAULT_MAX_TRIGGERS)
    engaged = MAX_TRIGGERS in frontmatter or isinstance(frontmatter.get(REF), str)
    if engaged and not changed and count >= cap:
        return BudgetSpent(scope=scope, trigger_count=count, max_triggers=cap)
    vault = frontmatter.get("target_vault")
    target_vault = vault if isinstance(vault, str) and vault else None
    if has_scope and not changed:
        return increment_trigger_count(task_id, target_vault=target_vault)
    if (problem := task_id_problem(task_id)) is not None:
        raise DoctrineError(problem)
    return UpdateFrontmatter(
        task_identifier=task_id,
        updates={TRIGGER_SCOPE: scope, TRIGGER_COUNT: 1 if changed else count + 1},
        target_vault=target_vault)

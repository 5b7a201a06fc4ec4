"""The task file as the agent system's controller changes it (SPEC §2), as pure rules.

The host's controller owns the real task files. These rules are what it was
observed to do (the conformance vectors in
``tests/data/controller-vectors-current.json`` for today's controller and
``tests/data/controller-vectors.json`` for v0.3 pin every one; where the two
differ the rule takes a flag, see :mod:`zombiewatch.domain.controller_profile`),
written over a typed frontmatter mapping and a body so tests (ours and the
host's) can reason about whole sequences of commands. Reading
and writing the YAML text is an edge concern and lives in
:mod:`zombiewatch.testing` (the domain imports no YAML library).

Values are what the controller's YAML library produces: ``str``, ``int``
(a Go ``int`` within int64, or a ``uint64`` above it), ``float``, ``bool``,
``None``, ``datetime`` (an unquoted YAML timestamp), ``list`` and ``dict``.

The rules:

- **update** merges ``updates`` shallowly (each named key replaced whole, a
  ``None`` kept as a null value), replaces a body section when one is sent,
  then applies the **human_review rule**: when the merged ``phase`` is exactly
  the string ``human_review``, a non-empty string assignee moves to
  ``previous_assignee`` and ``assignee`` becomes ``""``;
- **increment** reads the field as an int (an ``int`` as is, a ``float``
  truncated toward zero, anything else 0), adds the delta with int64
  wrap-around, and, only for ``trigger_count``, applies the **trigger cap**:
  when the new value is ``>=`` max_triggers (an ``int``, a truncated
  ``float``, otherwise 3) it sets ``assignee: ""`` and nothing else, on every
  such increment. No ``previous_assignee``, no phase change, no section.
  Today's controller caps only a file that *has* a ``max_triggers`` key
  (absent: no cap at any count); the v0.3 one reads an absent key as 3;
- **the vault stamp** (today's controller): every write adds
  ``target_vault: <the controller's vault>`` when the key is absent, and never
  replaces one that is there, whatever its value;
- **sections**: a body line (split on ``\\n`` only) is the heading when it
  equals it or starts with it followed by a space or a tab; a removed section
  runs to the next line starting with ``## ``; the remaining body is trimmed
  of trailing newlines and gets ``\\n\\n``, the section without its trailing
  newlines, and one ``\\n``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeAlias, assert_never

from zombiewatch.domain.commands import (
    BodySection,
    Command,
    IncrementFrontmatter,
    UpdateFrontmatter,
)

Value: TypeAlias = (
    "str | int | float | bool | datetime | list[Value] | dict[str, Value] | None"
)
"""One frontmatter value as the controller reads it."""

Frontmatter: TypeAlias = dict[str, Value]

ASSIGNEE: Final = "assignee"
PREVIOUS_ASSIGNEE: Final = "previous_assignee"
PHASE: Final = "phase"
HUMAN_REVIEW: Final = "human_review"
TRIGGER_COUNT: Final = "trigger_count"
MAX_TRIGGERS: Final = "max_triggers"
DEFAULT_MAX_TRIGGERS: Final = 3
TARGET_VAULT: Final = "target_vault"
SECTION_BREAK: Final = "## "
"""A line starting with this ends a removed section, whatever the heading's level."""

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class TaskFile:
    """Frontmatter and the markdown body after the closing ``---``.

    Treat instances as values: the rules return new ones and never mutate
    their argument.
    """

    frontmatter: Frontmatter = field(default_factory=dict)
    body: str = ""


# --- numbers ---------------------------------------------------------------------------------


def is_go_int(value: Value) -> bool:
    """True for what the controller holds as a Go ``int`` (bools and uint64 are not)."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
    )


def wrap_int64(value: int) -> int:
    """Two's-complement wrap-around, as Go's int64 addition overflows."""
    return (value - INT64_MIN) % 2**64 + INT64_MIN


def truncate_float(value: float) -> int:
    """Go's ``int(f)`` on amd64: toward zero; NaN and out-of-range give the minimum int64."""
    if math.isnan(value) or not INT64_MIN <= value < 2.0**63:
        return INT64_MIN
    return math.trunc(value)


def int_value(value: Value, *, default: int = 0) -> int:
    """A frontmatter value read as an int: int as is, float truncated, anything else default."""
    if is_go_int(value):
        assert isinstance(value, int)
        return value
    if isinstance(value, float):
        return truncate_float(value)
    return default


def max_triggers(frontmatter: Mapping[str, Value]) -> int:
    """The trigger cap: ``max_triggers`` as an int (0 and negatives included), else 3."""
    return int_value(frontmatter.get(MAX_TRIGGERS), default=DEFAULT_MAX_TRIGGERS)


def trigger_cap(frontmatter: Mapping[str, Value], *, opt_in: bool) -> int | None:
    """The cap an increment checks, None for none.

    ``opt_in`` (today's controller): only a file that has the key is capped,
    whatever its value (``null`` and ``"10"`` cap at 3). Otherwise (v0.3) every
    file is, at :func:`max_triggers`.
    """
    if opt_in and MAX_TRIGGERS not in frontmatter:
        return None
    return max_triggers(frontmatter)


# --- body sections ---------------------------------------------------------------------------


def is_heading_line(line: str, heading: str) -> bool:
    """The line is ``heading``, or ``heading`` followed by a space or a tab and anything."""
    return line == heading or line.startswith((heading + " ", heading + "\t"))


def remove_sections(body: str, heading: str) -> str:
    """``body`` without every section headed ``heading`` (each up to the next ``## `` line)."""
    kept: list[str] = []
    removing = False
    for line in body.split("\n"):
        if is_heading_line(line, heading):
            removing = True
            continue
        if removing and line.startswith(SECTION_BREAK):
            removing = False
        if not removing:
            kept.append(line)
    return "\n".join(kept)


def replace_section(body: str, *, heading: str, section: str) -> str:
    """Remove every ``heading`` section, then append ``section`` after one blank line."""
    remaining = remove_sections(body, heading).rstrip("\n")
    return remaining + "\n\n" + section.rstrip("\n") + "\n"


# --- the two commands ------------------------------------------------------------------------


def clear_assignee_if_human_review(frontmatter: Mapping[str, Value]) -> Frontmatter:
    """The human_review rule, applied after every update's merge."""
    result = dict(frontmatter)
    if result.get(PHASE) != HUMAN_REVIEW or not isinstance(result.get(PHASE), str):
        return result
    assignee = result.get(ASSIGNEE)
    if isinstance(assignee, str) and assignee:
        result[PREVIOUS_ASSIGNEE] = assignee
    result[ASSIGNEE] = ""
    return result


def is_noop_update(updates: Mapping[str, Value] | None, body: BodySection | None) -> bool:
    """Nothing to merge and no section: the controller neither looks the task up nor writes."""
    return not updates and body is None


def update(
    task: TaskFile, updates: Mapping[str, Value] | None, body: BodySection | None = None
) -> TaskFile:
    """update-frontmatter: shallow merge, optional section replacement, human_review rule."""
    merged = {**task.frontmatter, **(updates or {})}
    new_body = task.body
    if body is not None:
        new_body = replace_section(new_body, heading=body.heading, section=body.section)
    return TaskFile(frontmatter=clear_assignee_if_human_review(merged), body=new_body)


def increment(
    task: TaskFile, field_name: str, delta: int, *, cap_opt_in: bool = True
) -> TaskFile:
    """increment-frontmatter: ``field += delta`` (int64 wrap), then the trigger cap.

    ``cap_opt_in`` as for :func:`trigger_cap` (today's controller by default).
    """
    frontmatter = dict(task.frontmatter)
    value = wrap_int64(int_value(frontmatter.get(field_name)) + delta)
    frontmatter[field_name] = value
    cap = trigger_cap(frontmatter, opt_in=cap_opt_in)
    if field_name == TRIGGER_COUNT and cap is not None and value >= cap:
        frontmatter[ASSIGNEE] = ""
    return TaskFile(frontmatter=frontmatter, body=task.body)


def stamp_vault(task: TaskFile, vault: str) -> TaskFile:
    """The file as today's controller writes it: ``target_vault`` added when absent."""
    if TARGET_VAULT in task.frontmatter:
        return task
    return TaskFile(frontmatter={**task.frontmatter, TARGET_VAULT: vault}, body=task.body)


def apply(task: TaskFile, command: Command) -> TaskFile:
    """The controller's effect of one of our commands, as typed values.

    On the wire every JSON number is a float64, so a value of a million or
    more that this project sent as an int comes back as a float; our commands
    only ever send small counters, so the int is kept here.
    """
    if isinstance(command, UpdateFrontmatter):
        return update(task, dict(command.updates), command.body)
    if isinstance(command, IncrementFrontmatter):
        return increment(task, command.field, command.delta)
    assert_never(command)

"""A pure reference model of a task file (SPEC §2): parse, render, apply commands, trigger cap.

The host's controller owns the real task files; this model exists so tests
(ours and the host's) can check whole sequences of commands against the
doctrine. The domain has no YAML library, so the frontmatter is the subset
this project needs: one ``key: value`` per line, values being strings, ints
or bools.

Scalar syntax:

- render: ints as digits, bools as ``true``/``false``, the empty string as
  ``""``; a string is written plain when it starts with a letter, ``_`` or
  ``/``, holds only "safe" characters and does not read as a YAML 1.1 bool or
  null word (``yes``, ``off``, ``null``, ...); otherwise it is double-quoted
  with JSON-style escapes (so UUIDs starting with a digit and RFC3339
  timestamps are quoted; that is valid YAML and reads back as a string).
- parse: double- and single-quoted strings, ``true``/``false`` (any case),
  optionally signed decimal integers, everything else a plain string (with a
  trailing `` # comment`` removed). ``key:`` with nothing after it reads as
  ``""`` (YAML would say null; this model has no null). Blank lines and
  ``#`` comment lines are skipped.

``render`` then ``parse`` is the identity on every TaskFile whose keys match
``[A-Za-z_][A-Za-z0-9_-]*`` and whose string values hold no surrogate
code points.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, assert_never

from zombiewatch.domain.commands import (
    Command,
    FrontmatterValue,
    IncrementFrontmatter,
    UpdateFrontmatter,
)

DELIMITER: Final = "---"
TRIGGER_CAP_HEADING: Final = "## Trigger Cap Escalation"
DEFAULT_MAX_TRIGGERS: Final = 3

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INT = re.compile(r"[-+]?[0-9]+")
_PLAIN_SAFE = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@+:-]*(?: [A-Za-z0-9_./@+:-]+)*")
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")
_YAML_WORDS: Final = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"})


class TaskFileError(ValueError):
    """The text is not a task file in the supported subset."""


@dataclass(frozen=True, slots=True)
class TaskFile:
    """Frontmatter (insertion-ordered) and the markdown body after the closing ``---``.

    Treat instances as values: :func:`apply` and :func:`apply_trigger_cap`
    return new ones and never mutate their argument.
    """

    frontmatter: dict[str, FrontmatterValue] = field(default_factory=dict)
    body: str = ""


# --- scalars -------------------------------------------------------------------------------


def _render_string(value: str) -> str:
    if (
        _PLAIN_SAFE.fullmatch(value) is not None
        and value.lower() not in _YAML_WORDS
        and not value.endswith(":")
        and ": " not in value
    ):
        return value
    return _quote(value)


_SIMPLE_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quote(value: str) -> str:
    """Double-quote with escapes both YAML and JSON read back identically."""
    out = ['"']
    for ch in value:
        escaped = _SIMPLE_ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif ch in "\u2028\u2029" or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _lines(text: str) -> list[str]:
    """Lines split on ``\\n`` only, ends kept (``str.splitlines`` also splits on U+2028 etc.)."""
    return _LINE.findall(text)


def render_scalar(value: FrontmatterValue) -> str:
    """One frontmatter value as this model writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _render_string(value)


def parse_scalar(text: str) -> FrontmatterValue:
    """One frontmatter value (the text after ``key:``)."""
    text = text.strip()
    if not text:
        return ""
    if text.startswith('"'):
        try:
            decoded = json.loads(text)
        except ValueError as exc:
            raise TaskFileError(f"bad double-quoted value: {text}") from exc
        if not isinstance(decoded, str):
            raise TaskFileError(f"bad double-quoted value: {text}")
        return decoded
    if text.startswith("'"):
        if len(text) < 2 or not text.endswith("'"):
            raise TaskFileError(f"bad single-quoted value: {text}")
        return text[1:-1].replace("''", "'")
    comment = text.find(" #")
    if comment >= 0:
        text = text[:comment].rstrip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INT.fullmatch(text) is not None:
        return int(text)
    return text


# --- documents -----------------------------------------------------------------------------


def parse(text: str) -> TaskFile:
    """Parse ``---\\n<frontmatter>\\n---\\n<body>``; a text without frontmatter is all body."""
    lines = _lines(text)
    if not lines or lines[0].rstrip("\r\n") != DELIMITER:
        return TaskFile(frontmatter={}, body=text)
    frontmatter: dict[str, FrontmatterValue] = {}
    for index, raw in enumerate(lines[1:], start=1):
        line = raw.rstrip("\r\n")
        if line == DELIMITER:
            return TaskFile(frontmatter=frontmatter, body="".join(lines[index + 1 :]))
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or _KEY.fullmatch(key) is None:
            raise TaskFileError(f"unsupported frontmatter line {index + 1}: {line!r}")
        if value and not value.startswith(" "):
            raise TaskFileError(f"missing space after ':' on line {index + 1}: {line!r}")
        frontmatter[key] = parse_scalar(value)
    raise TaskFileError("frontmatter is not closed by a '---' line")


def render(task: TaskFile) -> str:
    """The task file's text; ``parse(render(t)) == t`` for the supported subset."""
    out = [DELIMITER + "\n"]
    for key, value in task.frontmatter.items():
        if _KEY.fullmatch(key) is None:
            raise TaskFileError(f"unsupported frontmatter key: {key!r}")
        out.append(f"{key}: {render_scalar(value)}\n")
    out.append(DELIMITER + "\n")
    out.append(task.body)
    return "".join(out)


# --- body sections -------------------------------------------------------------------------


def _is_heading_line(line: str) -> bool:
    return line.startswith("## ")


def remove_sections(body: str, heading: str) -> str:
    """``body`` without every section whose heading line equals ``heading``.

    A section runs from its heading line to the next line starting with
    ``## `` (or the end). Fenced code blocks are not special.
    """
    kept: list[str] = []
    dropping = False
    for line in _lines(body):
        if _is_heading_line(line):
            dropping = line.rstrip("\r\n") == heading
        if not dropping:
            kept.append(line)
    return "".join(kept)


def has_section(body: str, heading: str) -> bool:
    """True when a line of ``body`` equals ``heading``."""
    return any(line.rstrip("\r\n") == heading for line in _lines(body))


def append_section(body: str, section: str) -> str:
    """Append ``section`` after one blank line (the body's end is normalised to ``\\n\\n``)."""
    if body and not body.endswith("\n"):
        body += "\n"
    if body and not body.endswith("\n\n"):
        body += "\n"
    return body + section


def replace_section(body: str, *, heading: str, section: str) -> str:
    """Remove every ``heading`` section, then append ``section`` once (idempotent)."""
    return append_section(remove_sections(body, heading), section)


# --- commands ------------------------------------------------------------------------------


def int_field(frontmatter: Mapping[str, FrontmatterValue], key: str, *, default: int = 0) -> int:
    """An integer field; missing or non-numeric (bools included) reads as ``default``."""
    value = frontmatter.get(key)
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int):
        return value
    stripped = value.strip()
    return int(stripped) if _INT.fullmatch(stripped) is not None else default


def apply(task: TaskFile, command: Command) -> TaskFile:
    """The controller's effect of one command on a task file (SPEC §2)."""
    if isinstance(command, UpdateFrontmatter):
        frontmatter = {**task.frontmatter, **command.updates}
        body = task.body
        if command.body is not None:
            body = replace_section(body, heading=command.body.heading, section=command.body.section)
        return TaskFile(frontmatter=frontmatter, body=body)
    if isinstance(command, IncrementFrontmatter):
        current = int_field(task.frontmatter, command.field)
        return TaskFile(
            frontmatter={**task.frontmatter, command.field: current + command.delta},
            body=task.body,
        )
    assert_never(command)


def is_escalated(task: TaskFile) -> bool:
    """True once the trigger cap section has been appended."""
    return has_section(task.body, TRIGGER_CAP_HEADING)


def trigger_cap_section(*, trigger_count: int, max_triggers: int, previous_assignee: str) -> str:
    """The body section the reference model appends when the cap fires."""
    return (
        f"{TRIGGER_CAP_HEADING}\n\n"
        f"- **Trigger count:** {trigger_count}\n"
        f"- **Max triggers:** {max_triggers}\n"
        f"- **Previous assignee:** {previous_assignee}\n"
    )


def apply_trigger_cap(task: TaskFile) -> TaskFile:
    """The controller's trigger cap, as the reference model applies it after every command.

    When ``trigger_count >= max_triggers > 0`` (``max_triggers`` from the
    frontmatter, default 3) and the escalation section is not there yet:
    ``previous_assignee`` takes the assignee (only if it is not empty),
    ``assignee`` becomes ``""`` and the ``## Trigger Cap Escalation`` section
    is appended, once. ``phase``/``status`` are never touched.
    """
    max_triggers = int_field(task.frontmatter, "max_triggers", default=DEFAULT_MAX_TRIGGERS)
    trigger_count = int_field(task.frontmatter, "trigger_count")
    if max_triggers <= 0 or trigger_count < max_triggers or is_escalated(task):
        return task
    assignee = task.frontmatter.get("assignee", "")
    assignee_text = assignee if isinstance(assignee, str) else render_scalar(assignee)
    frontmatter = dict(task.frontmatter)
    if assignee_text:
        frontmatter["previous_assignee"] = assignee_text
    frontmatter["assignee"] = ""
    previous = frontmatter.get("previous_assignee", "")
    section = trigger_cap_section(
        trigger_count=trigger_count,
        max_triggers=max_triggers,
        previous_assignee=previous if isinstance(previous, str) else render_scalar(previous),
    )
    return TaskFile(frontmatter=frontmatter, body=append_section(task.body, section))

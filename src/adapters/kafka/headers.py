"""Kafka record headers: what zombiewatch writes beside the command (docs/WIRE.md).

The controller decodes the record value only (the JSON envelope, whose own
``"header"`` field stays ``{}``); it never reads record headers, so they are
free for zombiewatch's own bookkeeping, invisible to it. One header today:

- ``zombiewatch-trigger-count-before`` on the increment of a failure: the
  task's ``trigger_count`` before that increment, as the task feed showed it
  when the failure was admitted, in ASCII decimal (``"0"``, ``"2"``). A repair
  needs it to tell whether the increment was applied (SPEC §13), and the topic
  is all a new leader has. Absent when the count was not known, and on records
  of versions that did not write it.

Reading is strict: a value that is not a plain decimal integer (or two
different values) is :class:`HeaderError`, which the ledger counts and treats
as "not known" — a guessed baseline could bump a task twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from zombiewatch.domain.commands import Command, FailureReport, Operation

TRIGGER_COUNT_BEFORE: Final = "zombiewatch-trigger-count-before"

Headers = tuple[tuple[str, bytes], ...]
"""The headers of one record, in order (Kafka allows a name more than once)."""

_COUNT: Final = re.compile(rb"-?[0-9]{1,19}")
"""What is written and accepted: an integer the controller's int64 can hold, no sign
or padding games (``+1``, `` 1``, ``1.0`` are refused)."""


class HeaderError(ValueError):
    """A header of ours that is present but cannot be read."""


def failure_headers(report: FailureReport, command: Command) -> Headers:
    """The headers of ``command``'s record in the publish of ``report``."""
    count = report.trigger_count_before
    if command.operation is not Operation.INCREMENT_FRONTMATTER or count is None:
        return ()
    value = str(count).encode("ascii")
    if _COUNT.fullmatch(value) is None:
        return ()  # not readable back: better unknown than unreadable
    return ((TRIGGER_COUNT_BEFORE, value),)


def trigger_count_before(headers: Iterable[tuple[str, bytes | None]]) -> int | None:
    """The count a record carries; None without the header; :class:`HeaderError` if bad."""
    values = {value for name, value in headers if name == TRIGGER_COUNT_BEFORE}
    if not values:
        return None
    if len(values) > 1:
        raise HeaderError(f"{TRIGGER_COUNT_BEFORE} given {len(values)} different values")
    (value,) = values
    if value is None or _COUNT.fullmatch(value) is None:
        raise HeaderError(f"{TRIGGER_COUNT_BEFORE} is not an integer: {value!r}")
    return int(value)

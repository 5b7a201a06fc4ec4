"""What the controller's consumer does with one record before and while dispatching it.

Pure rules over an already-parsed JSON value (Go ``encoding/json`` semantics:
every number is a float64; see :mod:`zombiewatch.testing._envelope` for the
parsing). The conformance vectors pin them:

- a record whose requestTime plus the expiry (60 minutes today, 5 in v0.3:
  :mod:`zombiewatch.domain.controller_profile`) is before the consumer's clock
  is dropped (no upper bound);
- an empty requestID or initiator, or an operation not matching
  ``^[a-z][a-z-]*$``, is dropped as invalid; a well-formed operation no
  executor handles is ignored;
- the command data is decoded into the command type the Go way (field names
  matched case-insensitively, the last matching key wins, ``null`` leaves a
  field at its zero value); data of the wrong JSON type makes the command
  ``skipped``, with none of it applied;
- the increment's delta passes through float64 and must then read as an
  int64: ``2.0`` and ``1e0`` are accepted, ``1.5``, ``"1"`` and ``true`` are not;
- today's command types carry an optional ``targetVault`` (a non-string one
  does not decode); a command naming another vault than the controller's is
  skipped, one naming none or ``""`` is the controller's (:func:`is_for_vault`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, TypeAlias

from zombiewatch.domain.commands import BodySection, Operation
from zombiewatch.domain.taskfile import Value

Json: TypeAlias = "str | float | bool | list[Json] | dict[str, Json] | None"
"""A JSON value as Go decodes it into ``interface{}`` (numbers are floats)."""

EXPIRY: Final = timedelta(minutes=60)
"""Today's consumer expiry (controller v0.8.3 on)."""
V0_3_EXPIRY: Final = timedelta(minutes=5)
"""The v0.3 controller's consumer expiry."""
OPERATION: Final = re.compile(r"[a-z][a-z-]*")
TARGET_VAULT: Final = "targetVault"
"""The data field naming the vault a command is for (today's command types)."""


class Outcome(StrEnum):
    """What the controller did with one record (the vectors' words)."""

    HANDLED = "handled"
    HANDLED_NOOP = "handled_noop"
    HANDLED_TASK_NOT_FOUND = "handled_task_not_found"
    SKIPPED = "skipped"
    ERROR = "error"
    DROPPED_EXPIRED = "dropped_expired"
    DROPPED_INVALID = "dropped_invalid"
    DROPPED_UNMARSHAL = "dropped_unmarshal"
    IGNORED_UNSUPPORTED_OPERATION = "ignored_unsupported_operation"


def is_expired(request_time: datetime, *, now: datetime, expiry: timedelta = EXPIRY) -> bool:
    """Dropped when ``request_time + expiry`` is before ``now``; a future time is fine."""
    return request_time + expiry < now


def is_for_vault(target_vault: str, vault: str) -> bool:
    """A command names no vault (absent or ``""``) or exactly this one (verbatim compare)."""
    return not target_vault or target_vault == vault


def envelope_outcome(*, request_id: str, operation: str, initiator: str) -> Outcome | None:
    """``dropped_invalid``, ``ignored_unsupported_operation``, or None to dispatch."""
    if not request_id or not initiator or OPERATION.fullmatch(operation) is None:
        return Outcome.DROPPED_INVALID
    if operation not in (Operation.UPDATE_FRONTMATTER, Operation.INCREMENT_FRONTMATTER):
        return Outcome.IGNORED_UNSUPPORTED_OPERATION
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRequest:
    """update-frontmatter as the controller decoded it."""

    task_identifier: str
    updates: dict[str, Value] | None
    body: BodySection | None
    target_vault: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class IncrementRequest:
    """increment-frontmatter as the controller decoded it."""

    task_identifier: str
    field: str
    delta: int
    target_vault: str = ""


class _UndecodableError(Exception):
    """The data does not decode into the command type."""


def go_fold(text: str) -> str:
    """Go's ``encoding/json`` key folding for struct field names (simple case folding per rune)."""
    out = []
    for char in text:
        upper = char.upper()
        upper = upper if len(upper) == 1 else char
        lower = upper.lower()
        out.append(lower if len(lower) == 1 else upper)
    return "".join(out)


def _go_key_order(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _fields(obj: Mapping[str, Json], names: tuple[str, ...]) -> dict[str, Json]:
    """The struct fields ``names`` from ``obj``: case-insensitive, the last matching key wins.

    ``obj`` is a Go map re-marshalled before the struct decode, so its keys
    come in byte order.
    """
    folded = {go_fold(name): name for name in names}
    found: dict[str, Json] = {}
    for key in sorted(obj, key=_go_key_order):
        name = folded.get(go_fold(key))
        if name is None:
            continue
        # ``null`` resets a map or pointer field but leaves a string or int field as it was.
        if obj[key] is not None or not isinstance(found.get(name), str | float):
            found[name] = obj[key]
    return found


def _string(value: Json, *, previous: str = "") -> str:
    if value is None:
        return previous
    if not isinstance(value, str):
        raise _UndecodableError
    return value


def _value(value: Json) -> Value:
    if isinstance(value, list):
        return [_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _value(item) for key, item in value.items()}
    return value


def _delta(value: Json) -> int:
    """The delta after Go re-marshals the float64 and decodes it into an ``int``."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, float):
        raise _UndecodableError
    if not math.isfinite(value) or not value.is_integer() or abs(value) >= 1e21:
        raise _UndecodableError
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise _UndecodableError
    return number


def _object(value: Json) -> dict[str, Json] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _UndecodableError
    return value


def _names(names: tuple[str, ...], *, routed: bool) -> tuple[str, ...]:
    return (*names, TARGET_VAULT) if routed else names


def decode_update(data: Json, *, routed: bool = True) -> UpdateRequest | None:
    """The update command from the envelope's data, or None when it is ``skipped``.

    ``routed``: the command type carries ``targetVault`` (today's); without it
    (v0.3) the field is unknown and ignored whatever its type.
    """
    try:
        obj = _object(data) or {}
        fields = _fields(obj, _names(("taskIdentifier", "updates", "body"), routed=routed))
        updates = _object(fields.get("updates"))
        raw_body = _object(fields.get("body"))
        body = None
        if raw_body is not None:
            parts = _fields(raw_body, ("heading", "section"))
            body = BodySection(
                heading=_string(parts.get("heading")), section=_string(parts.get("section"))
            )
        return UpdateRequest(
            task_identifier=_string(fields.get("taskIdentifier")),
            updates=None if updates is None else {k: _value(v) for k, v in updates.items()},
            body=body,
            target_vault=_string(fields.get(TARGET_VAULT)),
        )
    except _UndecodableError:
        return None


def decode_increment(data: Json, *, routed: bool = True) -> IncrementRequest | None:
    """The increment command from the envelope's data, or None when it is ``skipped``.

    ``routed`` as for :func:`decode_update`.
    """
    try:
        obj = _object(data) or {}
        fields = _fields(obj, _names(("taskIdentifier", "field", "delta"), routed=routed))
        return IncrementRequest(
            task_identifier=_string(fields.get("taskIdentifier")),
            field=_string(fields.get("field")),
            delta=_delta(fields.get("delta")),
            target_vault=_string(fields.get(TARGET_VAULT)),
        )
    except _UndecodableError:
        return None

"""Byte-exact wire codec for the agent system's task commands (SPEC §3, docs/WIRE.md).

The Go controller decodes these records with ``encoding/json``; we produce the
bytes Go's ``json.Marshal`` would produce for the same value, so a byte
comparison (golden tests, log diffing, dedupe by payload) works across both
implementations:

- envelope fields in the Go struct's order, ``data`` objects with sorted keys
  (Go sorts map keys), no whitespace;
- strings escaped like Go >= 1.22: ``"`` ``\\`` ``\\b`` ``\\f`` ``\\n`` ``\\r``
  ``\\t`` in short form, other C0 controls as ``\\u00xx`` (lowercase hex),
  ``<`` ``>`` ``&`` as ``\\u003c`` ``\\u003e`` ``\\u0026``, U+2028/U+2029
  escaped, all other text as raw UTF-8;
- a lone surrogate (possible in a Python ``str``, e.g. from ``json.loads`` of
  ``"\\ud800"``; impossible in well-formed UTF-8) is written as ``\\ufffd``,
  which is what Go writes for each invalid byte sequence. Encoding therefore
  never fails on hostile text; such a string does not round-trip (it decodes
  with U+FFFD in place of the surrogate).

The encoder is hand-written: the value shapes are few and fixed, and a
byte-exact Go imitation is simpler to state and test than post-processing a
general JSON library's output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar
from uuid import UUID

from zombiewatch.domain.commands import (
    BodySection,
    Command,
    FrontmatterValue,
    IncrementFrontmatter,
    Operation,
    UpdateFrontmatter,
)

DEFAULT_INITIATOR: Final = "executor"
"""Who the controller is told sent the command; the original Go executor's name."""


class CodecError(ValueError):
    """The bytes are not a well-formed task command envelope."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One record value: a command plus the controller's request metadata."""

    request_id: UUID
    request_time: datetime
    """Timezone-aware; written as UTC."""
    command: Command
    initiator: str = DEFAULT_INITIATOR


# --- strings -----------------------------------------------------------------

_NEEDS_ESCAPE: Final = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')

_SHORT_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    if "\ud800" <= char <= "\udfff":
        return "\\ufffd"
    return f"\\u{ord(char):04x}"


def _string(value: str) -> str:
    """A JSON string literal exactly as Go's ``encoding/json`` writes it."""
    if _NEEDS_ESCAPE.search(value) is None:
        return f'"{value}"'
    return f'"{_NEEDS_ESCAPE.sub(_escape_char, value)}"'


def _key_order(key: str) -> str:
    # Go sorts map keys by their bytes; UTF-8 byte order equals code point order
    # for every string we can encode (surrogates are written as U+FFFD).
    return _NEEDS_ESCAPE.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else m.group(), key)


# --- values ------------------------------------------------------------------


def _scalar(value: FrontmatterValue) -> str:
    # bool before int: ``True`` is an ``int`` in Python but ``true`` on the wire.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _string(value)


def _sorted_object(fields: Mapping[str, str]) -> str:
    """An object from already-encoded values, keys sorted as Go sorts map keys."""
    members = sorted(fields.items(), key=lambda item: _key_order(item[0]))
    return "{" + ",".join(f"{_string(key)}:{value}" for key, value in members) + "}"


def _data(command: Command) -> str:
    match command:
        case UpdateFrontmatter(task_identifier=task_id, updates=updates, body=body):
            fields = {
                "taskIdentifier": _string(task_id),
                "updates": _sorted_object({k: _scalar(v) for k, v in updates.items()}),
            }
            if body is not None:
                fields["body"] = _sorted_object(
                    {"heading": _string(body.heading), "section": _string(body.section)}
                )
        case IncrementFrontmatter(task_identifier=task_id, field=field, delta=delta):
            fields = {
                "delta": _scalar(delta),
                "field": _string(field),
                "taskIdentifier": _string(task_id),
            }
    # Go omits an empty targetVault (``omitempty``); so do we.
    if command.target_vault:
        fields["targetVault"] = _string(command.target_vault)
    return _sorted_object(fields)


def format_request_time(moment: datetime) -> str:
    """Go's ``time.RFC3339Nano`` of ``moment`` in UTC: fraction trimmed of zeros, ``Z``."""
    if moment.utcoffset() is None:
        raise ValueError(f"request time must be timezone-aware, got {moment!r}")
    utc = moment.astimezone(UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def encode(envelope: Envelope) -> bytes:
    """The record value for ``envelope``, byte for byte as the Go executor sends it."""
    command = envelope.command
    text = "".join(
        (
            '{"requestID":"',
            str(envelope.request_id),
            '","requestTime":"',
            format_request_time(envelope.request_time),
            '","initiator":',
            _string(envelope.initiator),
            ',"operation":',
            _string(command.operation.value),
            ',"id":"","data":',
            _data(command),
            ',"header":{}}',
        )
    )
    return text.encode("utf-8")


# --- decoding (the topic read-back in history.py, tests and tooling) ---------

_ENVELOPE_KEYS: Final = (
    "requestID",
    "requestTime",
    "initiator",
    "operation",
    "id",
    "data",
    "header",
)

_REQUEST_TIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})\Z"
)


def parse_request_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; digits beyond microseconds are truncated."""
    match = _REQUEST_TIME.match(text)
    if match is None:
        raise CodecError(f"requestTime is not RFC 3339: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "").ljust(6, "0")[:6])
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, UTC
        )
    except ValueError as exc:
        raise CodecError(f"requestTime is not a valid date: {text!r}") from exc
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        moment -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return moment


_T = TypeVar("_T")


def _require(obj: Mapping[str, object], key: str, kind: type[_T], where: str) -> _T:
    value = obj.get(key)
    # ``bool`` is a subclass of ``int``: an int field must not accept ``true``.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CodecError(f"{where}.{key} must be {kind.__name__}, got {value!r}")
    return value


def _object(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise CodecError(f"{where} must be an object, got {value!r}")
    return value


def _frontmatter_value(value: object, where: str) -> FrontmatterValue:
    if isinstance(value, str | bool | int):
        return value
    raise CodecError(f"{where} must be a string, integer or boolean, got {value!r}")


def _target_vault(data: dict[str, object]) -> str | None:
    if "targetVault" not in data:
        return None
    return _require(data, "targetVault", str, "data") or None


def _command(operation: str, data: dict[str, object]) -> Command:
    task_id = _require(data, "taskIdentifier", str, "data")
    if operation == Operation.UPDATE_FRONTMATTER:
        updates = _object(data.get("updates"), "data.updates")
        body: BodySection | None = None
        if "body" in data:
            raw_body = _object(data["body"], "data.body")
            body = BodySection(
                heading=_require(raw_body, "heading", str, "data.body"),
                section=_require(raw_body, "section", str, "data.body"),
            )
        return UpdateFrontmatter(
            task_identifier=task_id,
            updates={k: _frontmatter_value(v, f"data.updates.{k}") for k, v in updates.items()},
            body=body,
            target_vault=_target_vault(data),
        )
    if operation == Operation.INCREMENT_FRONTMATTER:
        return IncrementFrontmatter(
            task_identifier=task_id,
            field=_require(data, "field", str, "data"),
            delta=_require(data, "delta", int, "data"),
            target_vault=_target_vault(data),
        )
    raise CodecError(f"unknown operation {operation!r}")


def decode(value: bytes) -> Envelope:
    """Parse a record value back into an :class:`Envelope`; :class:`CodecError` if malformed."""
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CodecError(f"record value is not JSON: {exc}") from exc
    envelope = _object(raw, "envelope")
    if tuple(envelope) != _ENVELOPE_KEYS:
        raise CodecError(f"envelope fields must be {_ENVELOPE_KEYS}, got {tuple(envelope)}")
    try:
        request_id = UUID(_require(envelope, "requestID", str, "envelope"))
    except ValueError as exc:
        raise CodecError(f"requestID is not a UUID: {envelope['requestID']!r}") from exc
    return Envelope(
        request_id=request_id,
        request_time=parse_request_time(_require(envelope, "requestTime", str, "envelope")),
        initiator=_require(envelope, "initiator", str, "envelope"),
        command=_command(
            _require(envelope, "operation", str, "envelope"),
            _object(envelope["data"], "data"),
        ),
    )

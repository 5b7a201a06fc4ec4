"""A record value decoded the way the controller's consumer decodes it (Go ``encoding/json``).

Independent of our encoder (:mod:`zombiewatch.adapters.kafka.codec`) on
purpose: this is the other side of the wire. Go semantics kept here:

- the value is UTF-8 (invalid bytes and lone surrogate escapes become
  U+FFFD), one JSON document, no ``NaN``/``Infinity``;
- every number is a float64 (an integer above 2^53 is rounded; a number out
  of float64 range does not decode);
- envelope fields match case-insensitively; a field of the wrong JSON type,
  a ``requestTime`` that is not RFC 3339, or a value that is not an object
  fails the decode (``dropped_unmarshal``); ``null`` leaves a field at its
  zero value, so a missing ``requestTime`` is the zero time (expired).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from zombiewatch.domain.consumer import Json, go_fold

ZERO_TIME: Final = datetime.min.replace(tzinfo=UTC)
"""Go's zero ``time.Time`` (year 1): older than any record's expiry."""

_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(Z|[-+][0-9]{2}:[0-9]{2})"
)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class EnvelopeError(ValueError):
    """The value does not decode into the consumer's command envelope."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedEnvelope:
    request_id: str
    request_time: datetime
    initiator: str
    operation: str
    data: Json


def _number(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise EnvelopeError(f"number {text} is out of range")
    return number


def _constant(text: str) -> float:
    raise EnvelopeError(f"invalid character in JSON: {text}")


def _clean(value: Any) -> Json:
    """Lone surrogates to U+FFFD, as Go decodes an unpaired ``\\ud800``."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_SURROGATE.sub("\ufffd", key): _clean(item) for key, item in value.items()}
    assert value is None or isinstance(value, bool | float)
    return value


def parse_json(value: bytes) -> Json:
    """One JSON document with Go's number and string semantics; :class:`EnvelopeError` if not."""
    try:
        raw = json.loads(
            value.decode("utf-8", "replace"),
            parse_float=_number,
            parse_int=_number,
            parse_constant=_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise EnvelopeError(f"not JSON: {exc}") from exc
    return _clean(raw)


def parse_request_time(text: str) -> datetime:
    """Go's strict RFC 3339 (``time.Time.UnmarshalJSON``); fractions kept to microseconds."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise EnvelopeError(f"requestTime is not RFC 3339: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if int(hour) > 23 or int(minute) > 59 or int(second) > 59:
        raise EnvelopeError(f"requestTime out of range: {text!r}")
    offset = timedelta(0)
    if zone != "Z":
        if int(zone[1:3]) > 23 or int(zone[4:6]) > 59:
            raise EnvelopeError(f"requestTime offset out of range: {text!r}")
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        offset = -offset if zone[0] == "-" else offset
    micros = int((fraction or "")[:6].ljust(6, "0"))
    if int(year) == 0:
        return ZERO_TIME
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                         micros, tzinfo=UTC)
    except ValueError as exc:
        raise EnvelopeError(f"requestTime is not a date: {text!r}") from exc
    try:
        return local - offset
    except OverflowError:
        return ZERO_TIME if offset > timedelta(0) else datetime.max.replace(tzinfo=UTC)


_FIELDS: Final = {go_fold(n): n for n in (
    "requestID", "requestTime", "initiator", "operation", "id", "data", "header")}


def _text(fields: dict[str, Json], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EnvelopeError(f"{name} must be a string, got {value!r}")
    return value


def decode_envelope(value: bytes) -> DecodedEnvelope:
    """The envelope, or :class:`EnvelopeError` (the consumer drops it as ``dropped_unmarshal``)."""
    raw = parse_json(value)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise EnvelopeError("the value is not a JSON object")
    fields: dict[str, Json] = {}
    for key, item in raw.items():
        name = _FIELDS.get(go_fold(key))
        if name is not None and (item is not None or name not in fields):
            fields[name] = item
    for name in ("data", "header"):
        if fields.get(name) is not None and not isinstance(fields[name], dict):
            raise EnvelopeError(f"{name} must be an object")
    request_time = ZERO_TIME
    stamp = fields.get("requestTime")
    if stamp is not None:
        if not isinstance(stamp, str):
            raise EnvelopeError("requestTime must be a string")
        request_time = parse_request_time(stamp)
    _text(fields, "id")
    return DecodedEnvelope(
        request_id=_text(fields, "requestID"),
        request_time=request_time,
        initiator=_text(fields, "initiator"),
        operation=_text(fields, "operation"),
        data=fields.get("data"),
    )

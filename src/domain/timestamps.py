"""Timestamp formatting shared by the doctrine and the manifest builder.

Time is always an argument in the domain; these helpers only format it. They
refuse naive datetimes: a naive value would silently be read as local time by
whoever formats it, and every timestamp we write is a UTC contract.
"""

from __future__ import annotations

from datetime import UTC, datetime


class NaiveDatetimeError(ValueError):
    """A datetime without tzinfo reached a function that writes UTC timestamps."""


def as_utc(at: datetime) -> datetime:
    """``at`` converted to UTC; raises NaiveDatetimeError for naive datetimes."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveDatetimeError(f"timestamp must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC)


RFC3339_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
"""RFC3339 in UTC, whole seconds, ``Z``: how the doctrine and the annotations write time."""


def rfc3339_seconds(at: datetime) -> str:
    """RFC3339 in UTC with seconds precision and a ``Z`` suffix: ``2026-06-02T09:46:00Z``."""
    return as_utc(at).strftime(RFC3339_SECONDS)


def parse_rfc3339_seconds(text: str) -> datetime:
    """The inverse of :func:`rfc3339_seconds`; raises ValueError for anything else."""
    return datetime.strptime(text, RFC3339_SECONDS).replace(tzinfo=UTC)


def compact_utc(at: datetime) -> str:
    """``yyyymmddHHMMSS`` in UTC, as used in Job names."""
    return as_utc(at).strftime("%Y%m%d%H%M%S")

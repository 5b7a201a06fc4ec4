"""The real clock: the only place production code reads the time of day."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Implements ``domain.ports.Clock`` with the system's wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

"""The real clock behind the ``Clock`` port (the leader elector keeps its own monotonic and
wall clocks for Lease timing; the CLI reads the time for ``explain --now``)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Implements ``domain.ports.Clock`` with the system's wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

"""Leadership when election is disabled (single replica, or embedded in a host)."""

from __future__ import annotations


class AlwaysLeader:
    """Implements ``LeaderStatus`` for a lone instance: it always leads."""

    def is_leader(self) -> bool:
        return True

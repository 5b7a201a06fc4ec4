"""Leadership when election is disabled (single replica, or embedded in a host)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol

from zombiewatch.domain.ports import LeaderStatus, Lifecycle


class Leadership(LeaderStatus, Lifecycle, Protocol):
    """Leader status that the runtime also starts and stops (election, or always-leader)."""


class AlwaysLeader:
    """Implements ``LeaderStatus`` and ``Lifecycle`` for a lone instance: it always leads."""

    def __init__(self) -> None:
        self._never = asyncio.Event()

    def is_leader(self) -> bool:
        return True

    def next_change(self) -> Awaitable[object]:
        return self._never.wait()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

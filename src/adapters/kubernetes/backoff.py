"""Capped, jittered exponential backoff for reconnecting to the API server."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffSettings:
    initial: float = 0.5
    """First delay: long enough to skip a connection-refused storm during an
    API server restart, short enough to catch up within a second."""
    factor: float = 2.0
    cap: float = 30.0
    """A dead API server is retried at least twice a minute."""
    jitter: float = 0.5
    """Fraction of the delay drawn at random (``delay * (1 - jitter .. 1)``), so
    replicas that lost the server together do not come back in lockstep."""


@dataclass(slots=True)
class Backoff:
    """Delays grow ``initial * factor**n`` up to ``cap``; ``reset()`` after success."""

    settings: BackoffSettings = field(default_factory=BackoffSettings)
    random: Callable[[], float] = random.random
    attempts: int = 0

    def next_delay(self) -> float:
        s = self.settings
        base = min(s.cap, s.initial * s.factor ** min(self.attempts, 64))
        self.attempts += 1
        return base * (1.0 - s.jitter * self.random())

    def reset(self) -> None:
        self.attempts = 0

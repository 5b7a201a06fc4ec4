"""The in-memory dedupe layer (SPEC §7): one failure per Job, for a while.

Semantics chosen here (see docs/DOMAIN.md):

- An entry expires ``ttl`` after it was *recorded*: ``seen`` is True while
  ``now - recorded_at < ttl``. A hit does not extend the TTL, so a Job that
  keeps producing events is still reported again once the TTL has passed (by
  then the durable annotation is what suppresses it).
- Eviction is true LRU: a hit refreshes the entry's *recency*, so when the
  cache is full the entry least recently recorded-or-hit goes first.
- Expired entries are dropped when looked up or when room is needed, and by
  ``purge`` (all of them at once; the sweeper calls it every tick, since the
  entry of a deleted Job is never looked up again); the size never exceeds
  ``capacity``.

The app records an entry only after the publish has committed; a failed
publish records nothing so the next sweep retries.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Final

DEFAULT_TTL: Final = timedelta(seconds=3600)
"""Twice the default Job timeout: a Job cannot outlive its deadline by more than that."""

DEFAULT_CAPACITY: Final = 1024
"""Far above the number of Jobs failing within one TTL in any sane namespace."""


class RecentFailures:
    """Job names whose failure was published recently, with a TTL and LRU eviction."""

    __slots__ = ("_capacity", "_entries", "_ttl")

    def __init__(self, *, ttl: timedelta = DEFAULT_TTL, capacity: int = DEFAULT_CAPACITY) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {ttl}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._ttl = ttl
        self._capacity = capacity
        self._entries: OrderedDict[str, datetime] = OrderedDict()

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    @ttl.setter
    def ttl(self, ttl: timedelta) -> None:
        """The TTL follows the Configs (twice the longest Job timeout, SPEC §7).

        It applies to the entries already held: expiry is judged at lookup.
        """
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {ttl}")
        self._ttl = ttl

    def _expired(self, recorded_at: datetime, now: datetime) -> bool:
        return now - recorded_at >= self._ttl

    def seen(self, job_name: str, *, now: datetime) -> bool:
        """True when a failure of ``job_name`` was recorded less than ``ttl`` ago.

        A hit refreshes the entry's recency (not its expiry); an expired entry
        is dropped.
        """
        recorded_at = self._entries.get(job_name)
        if recorded_at is None:
            return False
        if self._expired(recorded_at, now):
            del self._entries[job_name]
            return False
        self._entries.move_to_end(job_name)
        return True

    def record(self, job_name: str, *, now: datetime) -> None:
        """Remember that the failure of ``job_name`` was published at ``now``."""
        self._entries[job_name] = now
        self._entries.move_to_end(job_name)
        if len(self._entries) > self._capacity:
            self.purge(now=now)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def purge(self, *, now: datetime) -> int:
        """Drop every expired entry; returns how many were dropped."""
        expired = [name for name, at in self._entries.items() if self._expired(at, now)]
        for name in expired:
            del self._entries[name]
        return len(expired)

    def __len__(self) -> int:
        """Entries held, including expired ones not yet dropped."""
        return len(self._entries)

    def __contains__(self, job_name: object) -> bool:
        """Membership regardless of expiry and without touching recency."""
        return job_name in self._entries

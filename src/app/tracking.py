"""What the host and the watchers tell us about in-flight work (SPEC §5-6).

The cluster is the source of truth for in-flight Jobs (the Job informer); the
host may add records right after a spawn, before the informer has seen the
Job, and report heartbeats and results. Pod transitions count as heartbeats.
All of it lives on the event loop thread: no locks.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from zombiewatch.domain.views import InFlightJob


class InFlightBook:
    """Host registrations, heartbeats and observed results, keyed for O(1) lookups."""

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._registrations: dict[str, InFlightJob] = {}
        self._heartbeats: dict[str, datetime] = {}
        self._results: dict[str, datetime] = {}
        self._max_entries = max_entries

    def register(
        self, *, task_id: str, job_name: str, assignee: str, started_at: datetime | None
    ) -> None:
        """The host spawned ``job_name`` for ``task_id``: judge it even if the Job never shows."""
        _bounded_put(self._registrations, job_name, InFlightJob(
            task_id=task_id, job_name=job_name, assignee=assignee, started_at=started_at,
        ), self._max_entries)

    def heartbeat(self, task_id: str, *, at: datetime) -> None:
        """Proof of life for the task's current Job (pod transition or host report)."""
        _bounded_put(self._heartbeats, task_id, at, self._max_entries)

    def last_heartbeat(self, task_id: str) -> datetime | None:
        return self._heartbeats.get(task_id)

    def forget_heartbeats_before(self, moment: datetime) -> int:
        """Drop the heartbeats older than ``moment``; how many were dropped.

        A heartbeat older than the liveness window keeps nothing alive: the gate treats it
        as none at all. Without this every task ever seen would keep its last heartbeat
        (one entry per Job's task, up to ``max_entries``). Heartbeats are kept in the
        order they were given, so the old ones are at the front.
        """
        dropped = 0
        beats = self._heartbeats
        while beats:
            task_id, at = next(iter(beats.items()))
            if at >= moment:
                break
            del beats[task_id]
            dropped += 1
        return dropped

    def sizes(self) -> tuple[int, int, int]:
        """How many registrations, heartbeats and results are held (a gauge)."""
        return len(self._registrations), len(self._heartbeats), len(self._results)

    def result_observed(self, task_id: str, *, at: datetime) -> None:
        """The agent reported its result: Jobs of the task started before ``at`` are done."""
        _bounded_put(self._results, task_id, at, self._max_entries)
        for name in [n for n, r in self._registrations.items() if r.task_id == task_id]:
            del self._registrations[name]

    def result_at(self, task_id: str) -> datetime | None:
        """When the host last observed a result of the task (the gate's RESOLVED hold)."""
        return self._results.get(task_id)

    def registration(self, job_name: str) -> InFlightJob | None:
        return self._registrations.get(job_name)

    def forget(self, job_name: str) -> None:
        """The Job was reported or completed: drop its host registration."""
        self._registrations.pop(job_name, None)

    def registrations(self) -> list[InFlightJob]:
        return list(self._registrations.values())


K = TypeVar("K")
V = TypeVar("V")


def _bounded_put(table: dict[K, V], key: K, value: V, limit: int) -> None:
    """Insert as most recent; drop the oldest entry when full (bounded memory)."""
    table.pop(key, None)
    if len(table) >= limit:
        table.pop(next(iter(table)))
    table[key] = value

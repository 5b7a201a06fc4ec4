"""Jobs the task feed names that the cluster does not have (SPEC §6, the feed's bullet).

A task whose ``current_job`` names a Job that does not exist is in flight with
a Job nobody runs: past its deadline (from ``job_started_at``) it is
``executor_watch_lost``, host registration or not. "Does not exist" must be
meant, not a moment of lag: the Job of a task that just finished may be
deleted (its TTL after finishing) a poll before the controller publishes the
task freed, and a Job just spawned may reach the feed before the Job informer.
So a Job counts as missing only once it has been absent on every sweep for a
settling period (the pod grace, two controller polls by default); the clock
restarts whenever the Job is seen, and after a restart of the daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from zombiewatch.domain.tasks import TaskState


class AbsentJobs:
    """When each Job named by the feed was first seen missing (mutable, pure)."""

    __slots__ = ("_since",)

    def __init__(self) -> None:
        self._since: dict[str, datetime] = {}

    def missing(
        self,
        named: Iterable[tuple[str, TaskState]],
        *,
        exists: Callable[[str], bool],
        now: datetime,
        settle: timedelta,
    ) -> list[tuple[str, TaskState]]:
        """The tasks of ``named`` whose ``current_job`` has been absent for ``settle``.

        ``named`` is every task the feed has in flight, ``exists`` whether the
        cluster (or the host) knows a Job. Jobs no longer named, or present
        again, are forgotten, so memory follows the feed.
        """
        since: dict[str, datetime] = {}
        due: list[tuple[str, TaskState]] = []
        for task_id, state in named:
            job = state.current_job
            if exists(job):
                continue
            first = self._since.get(job, now)
            since[job] = first
            if now - first >= settle:
                due.append((task_id, state))
        self._since = since
        return due

    def __len__(self) -> int:
        return len(self._since)

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

from collections.abc import Iterable
from datetime import datetime, timedelta


class AbsentJobs:
    """When each Job named by the feed was first seen missing (mutable, pure)."""

    __slots__ = ("_since",)

    def __init__(self) -> None:
        self._since: dict[str, datetime] = {}

    def missing(self, absent: Iterable[str], *, now: datetime, settle: timedelta) -> list[str]:
        """Of the Jobs ``absent`` now, those absent on every sweep for ``settle``.

        ``absent`` is every Job the feed names that neither the cluster nor the
        host knows, this sweep. Jobs not in it (present again, or no longer
        named) are forgotten, so memory follows the feed.
        """
        previous = self._since
        self._since = {job: previous.get(job, now) for job in absent}
        return [job for job, first in self._since.items() if now - first >= settle]

    def __len__(self) -> int:
        return len(self._since)

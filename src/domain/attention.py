"""Which in-flight Jobs a sweep must judge in full.

Before its deadline a Job can only be a zombie through its pods (the pod
table), a Failed condition, or having no pod at all (the never-started Job row).
A pod "needs attention" when the pod table would fire for it once its
time-dependent rows are due (its grace window, or the bound of its running init
container); that does not depend on the clock, so it is decided once per event
instead of once per Job per sweep. A started Job that still counts no pod needs
attention until its first pod appears. A sweep then
judges in full only these Jobs and the ones past their deadline, and the
answer is exactly what judging every Job would give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from zombiewatch.domain.classification import classify_pod
from zombiewatch.domain.gate import elapsed_since_start, settled
from zombiewatch.domain.never_started import INIT_BOUND, awaits_first_pod, pod_due
from zombiewatch.domain.views import JobView, PodView


class AttentionIndex:
    """Names of Jobs with a suspicious pod, a Failed condition, or no pod yet."""

    def __init__(self, *, grace: timedelta, init_bound: timedelta = INIT_BOUND) -> None:
        self._grace = grace
        self._init_bound = init_bound
        self._names: set[str] = set()

    @property
    def grace(self) -> timedelta:
        return self._grace

    def due(self, pod: PodView) -> datetime:
        """When the pod's time-dependent rows can fire (its grace, or its init bound)."""
        return pod_due(pod, grace=self._grace, bound=self._init_bound)

    def pod_needs_attention(self, pod: PodView) -> bool:
        """True when the pod table fires for this pod once its time-dependent rows are due."""
        return classify_pod(pod, now=self.due(pod), grace=self._grace,
                            init_bound=self._init_bound) is not None

    def refresh(self, job_name: str, *, job: JobView | None, pods: Sequence[PodView]) -> None:
        """Re-decide one Job from its current cached state (after any pod or Job event)."""
        failed = job is not None and job.failed_reason is not None
        podless = job is not None and not pods and awaits_first_pod(job)
        if failed or podless or any(self.pod_needs_attention(p) for p in pods):
            self._names.add(job_name)
        else:
            self._names.discard(job_name)

    def sweep_candidates(
        self, jobs: Iterable[JobView], *, now: datetime, deadline_for: Callable[[str], timedelta]
    ) -> tuple[list[JobView], int]:
        """The cached Jobs a sweep must judge, and how many are in flight at all.

        In flight: not complete and not annotated. Judged: those needing
        attention and those whose deadline is reached (``deadline_for`` takes
        a Job's assignee label).
        """
        deadlines: dict[str, timedelta] = {}
        names = self._names
        candidates: list[JobView] = []
        in_flight = 0
        for job in jobs:
            if settled(job):
                continue
            in_flight += 1
            if job.name not in names:
                deadline = deadlines.get(job.assignee)
                if deadline is None:
                    deadline = deadlines[job.assignee] = deadline_for(job.assignee)
                elapsed = elapsed_since_start(job=job, registration=None, now=now)
                if elapsed is not None and elapsed < deadline:
                    continue
            candidates.append(job)
        return candidates, in_flight

    def __contains__(self, job_name: object) -> bool:
        return job_name in self._names

    def __len__(self) -> int:
        return len(self._names)

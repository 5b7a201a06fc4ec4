"""The cluster state the app reads: the informers' three stores behind the
``ClusterCache`` port. Views only, no API calls; all lookups are dictionary reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence, Set

from zombiewatch.adapters.kubernetes.store import KindStore
from zombiewatch.domain.views import AgentConfigView, JobView, PodView


def _job_of(pod: PodView) -> str:
    return pod.job_name


class ClusterStateCache:
    """Implements the ``ClusterCache`` port over one store per kind.

    Jobs, pods and Configs by name (the informers watch one namespace); pods
    also indexed by their Job's name.
    """

    def __init__(self) -> None:
        self.jobs_store: KindStore[JobView] = KindStore()
        self.pods_store: KindStore[PodView] = KindStore(index=_job_of)
        self.configs_store: KindStore[AgentConfigView] = KindStore()

    def job(self, job_name: str) -> JobView | None:
        return self.jobs_store.get(job_name)

    def jobs(self) -> Iterable[JobView]:
        return self.jobs_store.values()

    def job_names(self) -> Set[str]:
        return self.jobs_store.keys()

    def pods_of_job(self, job_name: str) -> Sequence[PodView]:
        return self.pods_store.indexed(job_name)

    def configs(self) -> Iterable[AgentConfigView]:
        return self.configs_store.values()

    def synced(self) -> bool:
        return self.jobs_store.synced and self.pods_store.synced

    async def wait_synced(self) -> None:
        await asyncio.gather(self.jobs_store.wait_synced(), self.pods_store.wait_synced())

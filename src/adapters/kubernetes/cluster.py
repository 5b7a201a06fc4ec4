"""The three informers (Jobs, Pods, Configs) feeding one ``ClusterStateCache``."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from zombiewatch.adapters.kubernetes.cache import ClusterStateCache
from zombiewatch.adapters.kubernetes.client import ApiClientFactory
from zombiewatch.adapters.kubernetes.decoding import CONFIG, JOB, POD
from zombiewatch.adapters.kubernetes.informer import Informer
from zombiewatch.adapters.kubernetes.resources import config_calls, job_calls, pod_calls
from zombiewatch.adapters.kubernetes.store import WatchEvent
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.adapters.kubernetes.watching import InformerSettings
from zombiewatch.domain.views import AgentConfigView, JobView, PodView


@dataclass(slots=True)
class ClusterInformers:
    """The three informers as one ``Lifecycle``; each reflects into its store of ``cache``."""

    cache: ClusterStateCache
    jobs: Informer[JobView]
    pods: Informer[PodView]
    configs: Informer[AgentConfigView]

    @property
    def all(self) -> tuple[Informer[JobView], Informer[PodView], Informer[AgentConfigView]]:
        return (self.jobs, self.pods, self.configs)

    async def start(self) -> None:
        for informer in self.all:
            await informer.start()

    async def stop(self) -> None:
        await asyncio.gather(*(informer.stop() for informer in self.all))

    async def wait_synced(self) -> None:
        """Jobs and Pods listed (what ``ClusterCache.synced`` means).

        Configs are waited for separately (``configs.wait_synced()``): a missing
        CRD must not hold detection back; the defaults apply meanwhile.
        Bound it with ``asyncio.timeout``.
        """
        await self.cache.wait_synced()


def build_cluster_informers(
    *,
    api_client_factory: ApiClientFactory,
    namespace: str,
    cache: ClusterStateCache | None = None,
    on_job_event: Callable[[WatchEvent[JobView]], Awaitable[None]] | None = None,
    on_pod_event: Callable[[WatchEvent[PodView]], Awaitable[None]] | None = None,
    on_config_event: Callable[[WatchEvent[AgentConfigView]], Awaitable[None]] | None = None,
    on_problem: Callable[[Skipped], None] | None = None,
    settings: InformerSettings | None = None,
    on_listed: Callable[[], None] | None = None,
) -> ClusterInformers:
    """The informers; ``on_listed`` is called after each complete list of Jobs or Pods."""
    cache = cache if cache is not None else ClusterStateCache()
    informer = functools.partial(
        Informer, on_problem=on_problem, settings=settings,
        api_client_factory=api_client_factory, namespace=namespace)
    return ClusterInformers(
        cache=cache,
        jobs=informer(name="jobs", codec=JOB, calls_factory=job_calls, store=cache.jobs_store,
                      on_event=on_job_event, on_listed=on_listed),
        pods=informer(name="pods", codec=POD, calls_factory=pod_calls, store=cache.pods_store,
                      on_event=on_pod_event, on_listed=on_listed),
        configs=informer(name="configs", codec=CONFIG, calls_factory=config_calls,
                         store=cache.configs_store, on_event=on_config_event),
    )

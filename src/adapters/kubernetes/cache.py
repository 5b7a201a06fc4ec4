"""The projected cluster state the sweeper reads: views only, indexed, no API calls.

Mutated only on the event loop (by the informers' consumer tasks via the
``apply_*`` methods), so it needs no locks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from zombiewatch.adapters.kubernetes.informer import Change, WatchEvent
from zombiewatch.domain.views import AgentConfigView, JobView, PodView

PodIndex = dict[str, tuple[PodView, ...]]
"""Pods per key as a tuple: a Job has one pod or a few, and a 1-tuple costs 48 bytes
where a 1-entry dict costs 184; lookups hand the tuple out without copying."""


def _add(index: PodIndex, key: str, pod: PodView) -> None:
    index[key] = (*index.get(key, ()), pod)


def _discard(index: PodIndex, key: str, uid: str) -> None:
    bucket = index.get(key)
    if bucket is not None:
        kept = tuple(p for p in bucket if p.uid != uid)
        if kept:
            index[key] = kept
        else:
            del index[key]


class ClusterStateCache:
    """Implements the ``ClusterCache`` port.

    Jobs by name and by task id; pods by uid, by job name and by task id;
    Configs by ``namespace/name``. All lookups are dictionary reads.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, JobView] = {}
        self._jobs_by_task: dict[str, dict[str, JobView]] = {}
        self._pods: dict[str, PodView] = {}
        self._pods_by_job: PodIndex = {}
        self._pods_by_task: PodIndex = {}
        self._configs: dict[str, AgentConfigView] = {}
        self._jobs_synced = False
        self._pods_synced = False

    # ---------------------------------------------------------------- ClusterCache

    def job(self, job_name: str) -> JobView | None:
        return self._jobs.get(job_name)

    def jobs(self) -> Iterable[JobView]:
        return tuple(self._jobs.values())

    def pods_of_job(self, job_name: str) -> Sequence[PodView]:
        return self._pods_by_job.get(job_name, ())

    def configs(self) -> Iterable[AgentConfigView]:
        return tuple(self._configs.values())

    def synced(self) -> bool:
        return self._jobs_synced and self._pods_synced

    # ---------------------------------------------------------------- extras

    def jobs_of_task(self, task_id: str) -> Sequence[JobView]:
        return tuple(self._jobs_by_task.get(task_id, {}).values())

    def pods_of_task(self, task_id: str) -> Sequence[PodView]:
        return self._pods_by_task.get(task_id, ())

    def pod(self, uid: str) -> PodView | None:
        return self._pods.get(uid)

    # ---------------------------------------------------------------- mutation

    def mark_jobs_synced(self) -> None:
        self._jobs_synced = True

    def mark_pods_synced(self) -> None:
        self._pods_synced = True

    def apply_job(self, event: WatchEvent[JobView]) -> None:
        previous = self._jobs.get(event.view.name)
        if previous is not None:
            bucket = self._jobs_by_task.get(previous.task_id)
            if bucket is not None:
                bucket.pop(previous.name, None)
                if not bucket:
                    del self._jobs_by_task[previous.task_id]
        if event.change is Change.DELETED:
            self._jobs.pop(event.view.name, None)
            return
        self._jobs[event.view.name] = event.view
        self._jobs_by_task.setdefault(event.view.task_id, {})[event.view.name] = event.view

    def apply_pod(self, event: WatchEvent[PodView]) -> None:
        for old in (event.previous, self._pods.get(event.view.uid)):
            if old is not None:
                self._remove_pod(old)
        if event.change is Change.DELETED:
            self._remove_pod(event.view)
            return
        pod = event.view
        self._pods[pod.uid] = pod
        _add(self._pods_by_job, pod.job_name, pod)
        _add(self._pods_by_task, pod.task_id, pod)

    def _remove_pod(self, pod: PodView) -> None:
        current = self._pods.pop(pod.uid, None)
        for old in (pod, current):
            if old is not None:
                _discard(self._pods_by_job, old.job_name, old.uid)
                _discard(self._pods_by_task, old.task_id, old.uid)

    def apply_config(self, event: WatchEvent[AgentConfigView]) -> None:
        key = f"{event.view.namespace}/{event.view.name}"
        if event.change is Change.DELETED:
            self._configs.pop(key, None)
        else:
            self._configs[key] = event.view

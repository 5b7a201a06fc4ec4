"""ClusterStateCache: indexes follow adds, updates, re-owned pods and deletes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from zombiewatch.adapters.kubernetes.cache import ClusterStateCache
from zombiewatch.adapters.kubernetes.informer import Change, WatchEvent
from zombiewatch.domain.views import AgentConfigView, JobView, PodPhase, PodView

T0 = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)


def job(name: str = "j1", task_id: str = "t1") -> JobView:
    return JobView(
        namespace="ns", name=name, uid=f"u-{name}", task_id=task_id, assignee="a",
        created_at=T0, started_at=None, active_deadline_seconds=None,
        failed_reason=None, complete=False,
    )  # fmt: skip


def pod(name: str = "p1", uid: str = "pu1", job_name: str = "j1", task_id: str = "t1") -> PodView:
    return PodView(
        namespace="ns", name=name, uid=uid, task_id=task_id, job_name=job_name,
        phase=PodPhase.PENDING, status_reason=None, created_at=T0, scheduled=None,
    )  # fmt: skip


def test_an_empty_cache_knows_nothing_and_is_not_synced() -> None:
    cache = ClusterStateCache()
    assert (cache.job("j1"), tuple(cache.jobs()), cache.pods_of_job("j1")) == (None, (), ())
    assert not cache.synced()


def test_synced_needs_both_jobs_and_pods() -> None:
    cache = ClusterStateCache()
    cache.mark_jobs_synced()
    assert not cache.synced()
    cache.mark_pods_synced()
    assert cache.synced()


def test_jobs_are_found_by_name_and_task_and_forgotten_on_delete() -> None:
    cache = ClusterStateCache()
    cache.apply_job(WatchEvent(Change.ADDED, job(), None))
    moved = replace(job(), task_id="t2")
    cache.apply_job(WatchEvent(Change.MODIFIED, moved, job()))

    assert cache.job("j1") == moved
    assert cache.jobs_of_task("t1") == ()
    assert cache.jobs_of_task("t2") == (moved,)

    cache.apply_job(WatchEvent(Change.DELETED, moved, moved))
    assert (cache.job("j1"), tuple(cache.jobs()), cache.jobs_of_task("t2")) == (None, (), ())


def test_pods_are_indexed_by_job_and_task_and_updated_in_place() -> None:
    cache = ClusterStateCache()
    first, second = pod(), pod(name="p2", uid="pu2")
    cache.apply_pod(WatchEvent(Change.ADDED, first, None))
    cache.apply_pod(WatchEvent(Change.ADDED, second, None))
    running = replace(first, phase=PodPhase.RUNNING)
    cache.apply_pod(WatchEvent(Change.MODIFIED, running, first))

    assert set(cache.pods_of_job("j1")) == {running, second}
    assert set(cache.pods_of_task("t1")) == {running, second}
    assert cache.pod("pu1") == running


def test_a_pod_recreated_under_the_same_name_replaces_the_old_uid() -> None:
    cache = ClusterStateCache()
    old = pod()
    new = pod(uid="pu-new", job_name="j2", task_id="t2")
    cache.apply_pod(WatchEvent(Change.ADDED, old, None))
    cache.apply_pod(WatchEvent(Change.MODIFIED, new, old))

    assert cache.pods_of_job("j1") == ()
    assert cache.pods_of_task("t1") == ()
    assert cache.pods_of_job("j2") == (new,)
    assert cache.pod("pu1") is None


def test_deleted_pods_leave_no_index_entries() -> None:
    cache = ClusterStateCache()
    cache.apply_pod(WatchEvent(Change.ADDED, pod(), None))
    cache.apply_pod(WatchEvent(Change.DELETED, pod(), pod()))
    assert cache.pods_of_job("j1") == cache.pods_of_task("t1") == ()
    assert cache.pod("pu1") is None


def test_configs_are_kept_by_namespace_and_name() -> None:
    cache = ClusterStateCache()
    cfg = AgentConfigView(namespace="ns", name="c", assignee="a")
    cache.apply_config(WatchEvent(Change.ADDED, cfg, None))
    updated = replace(cfg, zombie_job_timeout_seconds=60)
    cache.apply_config(WatchEvent(Change.MODIFIED, updated, cfg))
    assert tuple(cache.configs()) == (updated,)
    cache.apply_config(WatchEvent(Change.DELETED, updated, updated))
    assert tuple(cache.configs()) == ()

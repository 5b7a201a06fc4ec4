"""One store per kind: the re-list diff, the pod index, and the cache port over the stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.adapters.kubernetes.cache import ClusterStateCache
from zombiewatch.adapters.kubernetes.store import Change, KindStore, Listed
from zombiewatch.domain.views import AgentConfigView, JobView, PodPhase, PodView

T0 = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)


def job(name: str = "j1", task_id: str = "t1") -> JobView:
    return JobView(
        namespace="ns", name=name, uid=f"u-{name}", task_id=task_id, assignee="a",
        created_at=T0, started_at=None, failed_reason=None, complete=False,
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
    cache.jobs_store.mark_synced()
    assert not cache.synced()
    cache.pods_store.mark_synced()
    assert cache.synced()


def test_jobs_are_found_by_name_and_forgotten_on_delete() -> None:
    cache = ClusterStateCache()
    added = cache.jobs_store.put("j1", "1", job())
    moved = replace(job(), task_id="t2")
    modified = cache.jobs_store.put("j1", "2", moved)

    assert (added.change, added.previous) == (Change.ADDED, None)
    assert (modified.change, modified.previous) == (Change.MODIFIED, job())
    assert cache.job("j1") == moved

    deleted = cache.jobs_store.delete("j1")
    assert deleted is not None
    assert (deleted.change, deleted.view) == (Change.DELETED, moved)
    assert (cache.job("j1"), tuple(cache.jobs())) == (None, ())
    assert cache.jobs_store.delete("j1") is None


def test_pods_are_indexed_by_job_and_updated_in_place() -> None:
    cache = ClusterStateCache()
    first, second = pod(), pod(name="p2", uid="pu2")
    cache.pods_store.put("p1", "1", first)
    cache.pods_store.put("p2", "1", second)
    running = replace(first, phase=PodPhase.RUNNING)
    cache.pods_store.put("p1", "2", running)

    assert set(cache.pods_of_job("j1")) == {running, second}


def test_a_pod_recreated_under_the_same_name_moves_to_its_new_job() -> None:
    cache = ClusterStateCache()
    old = pod()
    new = pod(uid="pu-new", job_name="j2", task_id="t2")
    cache.pods_store.put("p1", "1", old)
    event = cache.pods_store.put("p1", "2", new)

    assert event.previous == old
    assert cache.pods_of_job("j1") == ()
    assert cache.pods_of_job("j2") == (new,)


def test_deleted_pods_leave_no_index_entries() -> None:
    cache = ClusterStateCache()
    cache.pods_store.put("p1", "1", pod())
    cache.pods_store.delete("p1")
    assert cache.pods_of_job("j1") == ()
    assert len(cache.pods_store) == 0


def test_configs_are_kept_by_namespace_and_name() -> None:
    cache = ClusterStateCache()
    cfg = AgentConfigView(namespace="ns", name="c", assignee="a")
    cache.configs_store.put("c", "1", cfg)
    updated = replace(cfg, zombie_job_timeout_seconds=60)
    cache.configs_store.put("c", "2", updated)
    assert tuple(cache.configs()) == (updated,)
    cache.configs_store.delete("c")
    assert tuple(cache.configs()) == ()


# ---------------------------------------------------------------- the re-list diff


def listed(versions: dict[str, str]) -> list[Listed[str]]:
    return [Listed(key, rv, f"{key}@{rv}") for key, rv in versions.items()]


def test_a_relist_reports_adds_updates_and_deletes_against_the_store() -> None:
    store: KindStore[str] = KindStore()
    store.replace(listed({"a": "1", "b": "2", "c": "3"}))

    changes = store.replace(listed({"b": "2", "c": "9", "d": "4"}))

    assert [(c.change, c.view) for c in changes] == [
        (Change.MODIFIED, "c@9"), (Change.ADDED, "d@4"), (Change.DELETED, "a@1")]
    assert changes[0].previous == "c@3"


def test_an_unchanged_relist_changes_nothing() -> None:
    store: KindStore[str] = KindStore()
    store.replace(listed({"a": "1"}))
    assert store.replace(listed({"a": "1"})) == []


@given(
    st.dictionaries(st.text(max_size=3), st.sampled_from("123")),
    st.dictionaries(st.text(max_size=3), st.sampled_from("123")),
)
def test_after_a_relist_the_store_holds_exactly_what_was_listed(
    known: dict[str, str], relisted: dict[str, str]
) -> None:
    store: KindStore[str] = KindStore(index=lambda view: view[:1])
    store.replace(listed(known))

    changes = store.replace(listed(relisted))

    assert sorted(store.values()) == sorted(f"{k}@{rv}" for k, rv in relisted.items())
    assert len(changes) == len({c.view for c in changes if c.change is not Change.DELETED}) + len(
        [c for c in changes if c.change is Change.DELETED])
    by_index = sorted(v for key in {v[:1] for v in store.values()} for v in store.indexed(key))
    assert by_index == sorted(store.values())

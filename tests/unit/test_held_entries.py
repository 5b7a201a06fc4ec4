"""Nothing the daemon holds grows with the Jobs it has seen: each long-lived structure is
bounded by what is live, by a window or by a cap, and ``zombiewatch_held_entries`` shows
it (the churn soak's findings, ``benchmarks/soak.py``; one test per structure that grew)."""

from __future__ import annotations

from tests.builders import job_view, pod_view
from tests.unit.worlds.reporting import World
from zombiewatch.adapters.kubernetes.store import Change, WatchEvent
from zombiewatch.domain.tasks import TaskState, TaskStates, task_state
from zombiewatch.domain.views import PodPhase

STRUCTURES = {
    "attention", "grace_timers", "pending_detections", "pending_clears", "annotations_owed",
    "annotations_running", "dedupe", "ledger", "heartbeats", "registrations", "results",
    "absent_jobs", "task_jobs", "watchlist", "task_shared_states", "event_series",
    "event_buckets", "container_views",
}


def test_the_gauge_shows_every_structure_once() -> None:
    world = World()

    shown = [sample.labels["structure"] for family in world.metrics.registry.collect()
             if family.name == "zombiewatch_held_entries" for sample in family.samples]

    assert sorted(shown) == sorted(STRUCTURES)


async def reported(world: World, job_name: str, task_id: str) -> None:
    """The Job is cached, detected and its failure committed."""
    world.cache.put_job(job_view(job_name, task_id=task_id))
    world.detect(job_name, task_id)
    await world.settle()


async def test_the_ledger_keeps_our_own_publishes_for_the_dedupe_window_only() -> None:
    world = World()
    await reported(world, "job-a", "t-1")
    published = world.held("ledger")
    world.clock.advance(world.dedupe.ttl.total_seconds() + 1)

    await reported(world, "job-b", "t-2")

    assert [f.job_name for f in world.publisher.published] == ["job-a", "job-b"]
    assert published == 2  # the update and the increment of job-a
    assert world.held("ledger") == 2  # job-b's; job-a's forgotten past the window


async def test_a_failed_job_deleted_after_its_pods_leaves_the_attention_index() -> None:
    world = World()
    job = job_view("job-a", failed_reason="DeadlineExceeded")
    world.job_event(job)
    flagged = world.held("attention")

    del world.cache.jobs_by_name["job-a"]  # the informer's store first, then the handler
    await world.detection.job_event(WatchEvent(Change.DELETED, job, job))

    assert flagged == 1
    assert world.held("attention") == 0


async def test_a_heartbeat_past_the_liveness_window_is_dropped_by_the_next_sweep() -> None:
    world = World()
    job = job_view("job-a")
    world.job_event(job)
    pending = pod_view(job, phase=PodPhase.PENDING)
    world.pod_event(pending)
    world.pod_event(pod_view(job, phase=PodPhase.RUNNING, running=True), previous=pending)
    window = world.liveness_window()
    del world.cache.jobs_by_name["job-a"]
    world.cache.pods_by_job.clear()

    world.clock.advance(window)
    world.sweeper.sweep_once()
    within = world.held("heartbeats")  # exactly the window old: still keeps a Job alive
    world.clock.advance(1)
    world.sweeper.sweep_once()

    assert within == 1
    assert world.held("heartbeats") == 0


async def test_a_dedupe_entry_past_its_ttl_is_dropped_by_the_next_sweep() -> None:
    world = World()
    await reported(world, "job-a", "t-1")
    recorded = world.held("dedupe")
    del world.cache.jobs_by_name["job-a"]  # deleted (its TTL after finishing)

    world.clock.advance(world.dedupe.ttl.total_seconds())
    world.sweeper.sweep_once()

    assert recorded == 1
    assert world.held("dedupe") == 0


def test_idle_tasks_freed_at_different_times_share_one_state() -> None:
    states = TaskStates()
    for minute in range(50):
        state = task_state(current_job="", job_started_at=f"2026-06-02T09:{minute:02d}:00Z",
                           assignee="claude", trigger_count=1, max_triggers=3,
                           phase="in_progress", target_vault="personal", status="in_progress")
        assert isinstance(state, TaskState)
        states.put(f"task-{minute}", state)

    assert len(states) == 50
    assert states.shared_states == 1
    shared = states.get("task-7")
    assert shared is not None
    assert (shared.current_job, shared.job_started_at) == ("", None)

"""One sweep over N in-flight Jobs, pure (no I/O), and the naive strategy it replaced.

The real parts, from the production ``Container`` with its I/O providers overridden:
``ClusterStateCache`` filled through its stores' ``put`` (as the informers do), the
``AttentionIndex`` refreshed after every event (as ``DetectionService`` does),
``Sweeper`` and ``Reporter`` (with a recording publisher; detections stay pending, so
every repeat judges the same Jobs: the worst case of a sweep that finds zombies it has
not reported yet).

The mix (per 1,000 Jobs): 940 healthy running Jobs with a Running pod, 20 pending and
unschedulable within the grace window (suspicious: fully judged, no verdict), 10 in
ImagePullBackOff (detected), 10 past their deadline with a Pending pod (detected:
deadline_exceeded), 5 past their deadline without a pod (detected: executor_watch_lost),
5 past their deadline with a Running pod (judged, healthy) and 10 complete.

With the task feed: the same Jobs, each named by its task's ``current_job`` in the
feed's ``TaskStates`` (complete ones idle), plus 1 task in 100 naming a Job that does
not exist (judged once settled; the clock does not move here, so they stay settling:
the sweep pays for listing and tracking them, and for the lookup of every other).

The naive strategy is the original's: every in-flight Job is judged, and its pods are
found by scanning every cached pod of the namespace for its task-id label.

The storm guard's cost: the same sweep with the guard on, every ImagePullBackOff Job
failing for one image (so they are one incident, held), each sweep followed by the
guard's check (``StormWatch.release``: the held Jobs touched or due are judged again),
against the guard off (the same sweep, the check returns at once).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Final

from dependency_injector import providers

from benchmarks.common import Row, median, timed_runs
from zombiewatch.adapters.kubernetes.cache import ClusterStateCache
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.storm import StormWatch
from zombiewatch.app.sweeping import Sweeper
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.attention import AttentionIndex
from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.config import resolve
from zombiewatch.domain.gate import DEFAULT_LIVENESS_WINDOW, DeadlineInputs, GateInputs, decide
from zombiewatch.domain.tasks import TaskState
from zombiewatch.domain.views import ContainerView, JobView, PodPhase, PodView
from zombiewatch.testing.containers import (
    Fakes,
    faked_container,
    judge_with_cause,
    unit_settings,
)
from zombiewatch.testing.fakes import FakeClock

NAME = "sweep"
NOW = datetime(2026, 6, 2, 12, 0, 0, tzinfo=UTC)
GRACE = timedelta(seconds=120)
DEADLINE = timedelta(seconds=1800)

# Kinds of Job in the mix, per 1,000.
_MIX: tuple[tuple[str, int], ...] = (
    ("healthy", 940), ("unschedulable_in_grace", 20), ("image_pull", 10),
    ("late_pending", 10), ("late_no_pod", 5), ("late_running", 5), ("complete", 10),
)
DETECTED_KINDS = frozenset({"image_pull", "late_pending", "late_no_pod"})


def kinds(count: int) -> list[str]:
    """``count`` kinds spread evenly with the mix's proportions."""
    pattern = [kind for kind, per_mille in _MIX for _ in range(per_mille)]
    # Interleave so every prefix has the mix (a stride through the pattern).
    return [pattern[(i * 617) % len(pattern)] for i in range(count)]


def _job_and_pods(index: int, kind: str) -> tuple[JobView, list[PodView]]:
    task_id = str(uuid.UUID(int=index * 2654435761 + 11, version=4))
    name = f"claude-{task_id[:8]}-{index:07d}"
    late = kind.startswith("late_")
    started = NOW - (DEADLINE + timedelta(minutes=5) if late else timedelta(minutes=7))
    job = JobView(namespace="agents", name=name, uid=f"uid-{name}", task_id=task_id,
                  assignee="claude", created_at=started - timedelta(seconds=2),
                  started_at=started, failed_reason=None,
                  complete=kind == "complete")
    if kind == "late_no_pod":
        return job, []
    running = kind in ("healthy", "late_running", "complete")
    waiting = "ImagePullBackOff" if kind == "image_pull" else None
    pod = PodView(
        namespace="agents", name=f"{name}-x7k2p", uid=f"pod-uid-{index}", task_id=task_id,
        job_name=name, phase=PodPhase.RUNNING if running else PodPhase.PENDING,
        status_reason=None,
        created_at=NOW - timedelta(seconds=30) if kind == "unschedulable_in_grace" else started,
        scheduled=kind != "unschedulable_in_grace",
        containers=(ContainerView(name="agent", waiting_reason=waiting, running=running),),
    )
    return job, [pod]


IMAGE: Final = Cause(CauseKind.IMAGE, "registry.example/agent:missing")
"""The one cause of every ImagePullBackOff Job when the storm guard is on."""


@dataclass
class World:
    """A populated cache with the sweeper's collaborators."""

    cache: ClusterStateCache
    attention: AttentionIndex
    reporter: Reporter
    sweeper: Sweeper
    book: InFlightBook
    pods: list[PodView]
    expected_detections: int
    storm: StormWatch


def build_world(count: int, *, feed: bool = False, storm: bool = False) -> World:
    fakes = Fakes(clock=FakeClock(NOW))
    container = faked_container(fakes, unit_settings(grace_seconds=GRACE.total_seconds(),
                                                     storm_guard=storm))
    if storm:
        judge_with_cause(container, IMAGE)
    cache = ClusterStateCache()
    container.cache.override(providers.Object(cache))
    attention, book = container.attention(), container.book()
    reporter, sweeper = container.reporter(), container.sweeper()
    all_pods: list[PodView] = []
    expected = 0
    for index, kind in enumerate(kinds(count)):
        job, pods = _job_and_pods(index, kind)
        cache.jobs_store.put(job.name, "1", job)
        attention.refresh(job.name, job=job, pods=cache.pods_of_job(job.name))
        for pod in pods:
            cache.pods_store.put(pod.name, "1", pod)
            attention.refresh(pod.job_name, job=cache.job(pod.job_name),
                              pods=cache.pods_of_job(pod.job_name))
        all_pods.extend(pods)
        expected += kind in DETECTED_KINDS
        if feed:
            fakes.tasks.put(job.task_id, _task(job.name if not job.complete else "",
                                               job.started_at))
            if index % 100 == 0:
                fakes.tasks.put(str(uuid.uuid4()), _task(f"{job.name}-lost", job.started_at))
    cache.jobs_store.mark_synced()
    cache.pods_store.mark_synced()
    return World(cache, attention, reporter, sweeper, book, all_pods, expected,
                 container.storm())


def _task(current_job: str, started_at: datetime | None) -> TaskState:
    return TaskState(current_job=current_job, job_started_at=started_at if current_job else None,
                     assignee="claude", trigger_count=0, max_triggers=3, phase="in_progress")


def naive_sweep(world: World) -> int:
    """The original's strategy: judge every in-flight Job; find its pods by a label scan."""
    cache = world.cache
    config = resolve(cache.configs())
    detected = 0
    all_pods: Sequence[PodView] = world.pods
    for job in cache.jobs():
        if job.complete or job.reported:
            continue
        pods = [p for p in all_pods if p.task_id == job.task_id]
        verdict = decide(GateInputs(
            job_name=job.name, job=job, pods=pods, now=NOW, grace=GRACE,
            deadline=DeadlineInputs(deadline=config.deadline_of_job(job.assignee),
                                    heartbeat_window=DEFAULT_LIVENESS_WINDOW,
                                    last_heartbeat=world.book.last_heartbeat(job.task_id))))
        detected += isinstance(verdict, Verdict)
    return detected


def _check(world: World, detected: Iterable[int]) -> None:
    for value in detected:
        if value != world.expected_detections:
            raise AssertionError(f"sweep detected {value}, expected {world.expected_detections}")


def sweep_and_check(world: World) -> int:
    """One sweep, then the storm guard's check of what it holds (none when it is off)."""
    detected = world.sweeper.sweep_once().detected
    world.storm.release()
    return detected


def storm_guard_cost(count: int, repeats: int) -> list[Row]:
    """The guard's cost on one sweep of ``count`` Jobs: on against off, interleaved."""
    off, on = build_world(count), build_world(count, storm=True)
    _check(off, [sweep_and_check(off)])
    _check(on, [sweep_and_check(on)])
    guard = on.storm.guard
    held = len(guard.held()) if guard is not None else 0
    if held != count * 10 // 1000 or guard is None or guard.open_incidents != 1:
        raise AssertionError(f"the guard holds {held} Jobs, expected one incident of "
                             f"{count * 10 // 1000}")
    without: list[float] = []
    with_guard: list[float] = []
    for _ in range(repeats):  # interleaved; CPU time: the other helpers' load cancels out
        without += timed_runs(partial(sweep_and_check, off), 1, warmup=0,
                              clock=time.process_time)
        with_guard += timed_runs(partial(sweep_and_check, on), 1, warmup=0,
                                 clock=time.process_time)
    cost = (median(with_guard) / median(without) - 1) * 100
    return [Row(
        NAME, f"storm guard's cost on one sweep of {count:,} Jobs (on vs off, CPU time)",
        cost, "%", 5.0, "<=",
        f"median of {repeats}, interleaved: on {median(with_guard) * 1000:.1f} ms (one incident "
        f"holding {held} Jobs, offered again by the sweep, then the guard's check) vs off "
        f"{median(without) * 1000:.1f} ms",
        tuple((w / o - 1) * 100 for w, o in zip(with_guard, without, strict=True)),
        extra={"on_ms": [x * 1000 for x in with_guard], "off_ms": [x * 1000 for x in without]})]


def run(*, quick: bool) -> list[Row]:
    repeats = 3 if quick else 7
    rows: list[Row] = storm_guard_cost(100_000, max(repeats, 9))
    targets = {10_000: 20.0, 100_000: 250.0}
    for count, target_ms in targets.items():
        world = build_world(count)
        _check(world, [world.sweeper.sweep_once().detected])
        samples = [s * 1000 for s in timed_runs(world.sweeper.sweep_once, repeats)]
        _check(world, [world.sweeper.sweep_once().detected])
        rows.append(Row(
            NAME, f"one sweep, {count:,} in-flight Jobs (Sweeper.sweep_once)", median(samples),
            "ms", target_ms, "<=",
            f"median of {repeats}; {len(world.attention)} Jobs in the attention index, "
            f"{world.expected_detections} detected per sweep", tuple(samples)))
    world = build_world(100_000, feed=True)
    _check(world, [world.sweeper.sweep_once().detected])
    samples = [s * 1000 for s in timed_runs(world.sweeper.sweep_once, repeats)]
    rows.append(Row(
        NAME, "one sweep, 100,000 in-flight Jobs with the task feed (101,000 tasks)",
        median(samples), "ms", 250.0, "<=",
        f"median of {repeats}; every Job named by its task, 1,000 tasks naming a missing "
        "Job (settling); no API request", tuple(samples)))
    for count in (1_000, 10_000):
        world = build_world(count)
        _check(world, [world.sweeper.sweep_once().detected, naive_sweep(world)])
        naive_repeats = 3 if count >= 10_000 else repeats
        ours: list[float] = []
        naive: list[float] = []
        for _ in range(naive_repeats):  # side by side, interleaved
            ours += timed_runs(world.sweeper.sweep_once, 1)
            naive += timed_runs(partial(naive_sweep, world), 1, warmup=0)
        ratio = median(naive) / median(ours)
        rows.append(Row(
            NAME, f"naive label-scan sweep / indexed sweep, {count:,} Jobs", ratio, "x",
            detail=f"naive {median(naive) * 1000:.1f} ms vs indexed "
                   f"{median(ours) * 1000:.2f} ms, median of {naive_repeats}",
            samples=tuple(n / o for n, o in zip(naive, ours, strict=True)),
            extra={"naive_ms": [x * 1000 for x in naive], "indexed_ms": [x * 1000 for x in ours]}))
    return rows

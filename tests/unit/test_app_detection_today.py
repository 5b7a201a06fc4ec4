"""The informer path on Kubernetes as it runs today: a drain, a ``kubectl delete pod`` and a
Job deadline, with the Job and Pod streams interleaved in every order the two watches allow.

What the real v1.37 node wrote (NODE.md): a drained pod gets ``DisruptionTarget`` while
still running, the Job ``FailureTarget`` (``BackoffLimitExceeded``) ~1 s later, the pod
ends ``Failed`` 137 and is deleted, and the Job gets ``Failed`` once the pod is terminal.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from typing import Literal

import pytest

from tests.builders import job_view, pod_view
from tests.unit.worlds.reporting import World
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.views import ContainerView, JobView, PodPhase, PodView

Event = tuple[Literal["job", "pod", "deleted"], JobView | PodView]

JOB = job_view()
RUNNING = replace(pod_view(JOB, phase=PodPhase.RUNNING, running=True), scheduled=True)
KILLED = (ContainerView(name="agent", terminated_exit_code=137),)


def failed_job(world: World, *, reason: str, target: bool) -> JobView:
    return replace(JOB, failed_reason=reason, failure_target=target,
                   failed_at=world.clock.now())


def interleavings(first: list[Event], second: list[Event]) -> Iterator[list[Event]]:
    """Every merge of two streams that keeps each stream's own order."""
    total = len(first) + len(second)
    for slots in itertools.combinations(range(total), len(first)):
        a, b = iter(first), iter(second)
        yield [next(a) if i in slots else next(b) for i in range(total)]


def play(world: World, events: list[Event]) -> None:
    for kind, obj in events:
        world.clock.advance(1)
        if kind == "job":
            assert isinstance(obj, JobView)
            world.cache.put_job(obj)
            world.detection.on_job(obj)
        elif kind == "pod":
            assert isinstance(obj, PodView)
            world.cache.put_pod(obj)
            world.detection.on_pod(obj)
        else:
            assert isinstance(obj, PodView)
            world.cache.drop_pod(obj)
            world.detection.on_pod_deleted(obj)


def scenarios(pod_stream: list[Event], job_stream: list[Event]) -> list[list[Event]]:
    """The pod's MODIFIED events may each be missed (coalesced, watch reconnect); its DELETED
    event, whose object is the pod's last state, always arrives."""
    *modified, deleted = pod_stream
    out: list[list[Event]] = []
    for keep in itertools.product((True, False), repeat=len(modified)):
        seen = [e for e, k in zip(modified, keep, strict=True) if k] + [deleted]
        out.extend(interleavings(job_stream, seen))
    return out


def drain_streams(world: World) -> tuple[list[Event], list[Event]]:
    disrupted = replace(RUNNING, disruption_reason="EvictionByEvictionAPI")
    ended = replace(disrupted, phase=PodPhase.FAILED, containers=KILLED)
    pods: list[Event] = [("pod", disrupted), ("pod", ended), ("deleted", ended)]
    jobs: list[Event] = [
        ("job", failed_job(world, reason="BackoffLimitExceeded", target=True)),
        ("job", failed_job(world, reason="BackoffLimitExceeded", target=False)),
    ]
    return pods, jobs


def delete_streams(world: World) -> tuple[list[Event], list[Event]]:
    ended = replace(RUNNING, phase=PodPhase.FAILED, containers=KILLED)
    pods: list[Event] = [("pod", RUNNING), ("pod", ended), ("deleted", ended)]
    jobs: list[Event] = [
        ("job", failed_job(world, reason="BackoffLimitExceeded", target=True)),
        ("job", failed_job(world, reason="BackoffLimitExceeded", target=False)),
    ]
    return pods, jobs


CASES = [
    pytest.param(drain_streams, i, ZombieReason.POD_EVICTED, id=f"drain-{i}")
    for i in range(len(scenarios(*drain_streams(World()))))
] + [
    pytest.param(delete_streams, i, ZombieReason.POD_CRASH_NO_STDOUT, id=f"kubectl-delete-{i}")
    for i in range(len(scenarios(*delete_streams(World()))))
]


@pytest.mark.parametrize(("streams", "index", "expected"), CASES)
async def test_every_order_of_the_two_watches_gives_the_pods_reason_once(
    streams: object, index: int, expected: ZombieReason
) -> None:
    # Arrange
    world = World()
    world.cache.put_job(JOB)
    world.cache.put_pod(RUNNING)
    assert callable(streams)
    events = scenarios(*streams(world))[index]
    # Act
    play(world, events)
    await world.settle()
    # Assert
    assert [f.reason for f in world.publisher.published] == [expected], events


async def test_a_drained_pod_force_deleted_while_running_is_pod_evicted() -> None:
    # Arrange: the Job's failure arrives first and waits for the terminating pod
    world = World()
    world.cache.put_job(JOB)
    world.cache.put_pod(RUNNING)
    disrupted = replace(RUNNING, disruption_reason="EvictionByEvictionAPI")
    # Act
    play(world, [("job", failed_job(world, reason="BackoffLimitExceeded", target=True))])
    await world.settle()
    waited = list(world.publisher.published)
    play(world, [("deleted", disrupted)])
    await world.settle()
    # Assert
    assert waited == []
    assert [f.reason for f in world.publisher.published] == [ZombieReason.POD_EVICTED]


async def test_the_jobs_own_deadline_is_reported_at_its_failure_target() -> None:
    # Arrange: the Job controller kills the still-running pod after FailureTarget
    world = World()
    world.cache.put_job(JOB)
    world.cache.put_pod(RUNNING)
    # Act
    play(world, [("job", failed_job(world, reason="DeadlineExceeded", target=True))])
    await world.settle()
    reported = [f.reason for f in world.publisher.published]
    play(world, [("pod", replace(RUNNING, phase=PodPhase.FAILED, containers=KILLED))])
    await world.settle()
    # Assert
    assert reported == [ZombieReason.DEADLINE_EXCEEDED]
    assert [f.reason for f in world.publisher.published] == [ZombieReason.DEADLINE_EXCEEDED]


async def test_a_job_complete_by_success_criteria_is_never_reported() -> None:
    # Arrange
    world = World()
    done = replace(JOB, complete=True)
    world.cache.put_job(done)
    # Act
    play(world, [("job", done),
                 ("pod", replace(RUNNING, phase=PodPhase.FAILED, containers=KILLED))])
    await world.settle()
    # Assert
    assert world.publisher.published == []

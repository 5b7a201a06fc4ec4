"""The task feed's two scenarios, as the controller sees them (SPEC §6, §13).

A real daemon process follows the harness controller's event topic, over the
API server and the broker. The controller's vault decides:

- a task whose Job was deleted (with its pod) while the task still names it is
  reported from the feed alone — ``executor_watch_lost``, past its deadline from
  ``job_started_at``, no host registration — and freed exactly once; a task whose
  missing Job is still within its deadline is left alone;
- a late failure of an old Job after its task was re-dispatched publishes
  nothing: the new Job keeps its ``current_job`` and the task its count. A
  control zombie failed after the old Job proves the daemon saw the failure.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from harness import kubelet
from harness.daemons import daemon_processes, free_port, sample, wait_ready
from harness.waiting import wait_until
from tests.integration.faults.rig import IMAGE_PULL, SWEEP_SECONDS, Rig, metrics_of, report
from zombiewatch.domain.taskfile import Value

pytestmark = pytest.mark.integration

DEADLINE = timedelta(seconds=1800)
"""The default ``zombieJobTimeoutSeconds`` (no Config sets another)."""


def in_flight(job: str, started: datetime, *, trigger_count: int = 0) -> dict[str, Value]:
    return {"assignee": "claude", "phase": "in_progress", "current_job": job,
            "job_started_at": kubelet.rfc3339(started), "trigger_count": trigger_count}


async def wait_feed(port: int, tasks: int) -> None:
    """Until the daemon's feed has read the controller's topic to its end."""
    def caught_up() -> bool:
        text = metrics_of(port)
        return (sample(text, "zombiewatch_task_feed_caught_up") == 1
                and sample(text, "zombiewatch_task_feed_tasks") >= tasks)

    await wait_until(caught_up, timeout=60, what="the task feed caught up")


async def test_a_task_whose_job_was_deleted_is_reported_from_the_feed(rig: Rig) -> None:
    rig.use_fast_sweeper()
    now = datetime.now(UTC)
    lost = rig.agent()
    rig.core.delete_namespaced_pod(lost.pod.metadata.name, rig.namespace)
    # Background: no orphan finalizer, which only a garbage collector would remove.
    rig.batch.delete_namespaced_job(lost.name, rig.namespace, propagation_policy="Background")
    rig.vault.put(lost.task_id, in_flight(lost.name, now - DEADLINE - timedelta(minutes=5)))
    rig.expected[lost.name] = ["executor_watch_lost"]
    young_task, young_job = str(uuid.uuid4()), f"claude-{uuid.uuid4().hex[:8]}-young"
    rig.vault.put(young_task, in_flight(young_job, now - timedelta(minutes=1)))
    await rig.controller.publish_all()

    port = free_port()
    with daemon_processes(rig.tmp_path) as start:
        started = time.monotonic()
        proc = start(rig.settings, port=port)
        await wait_ready(proc, port)
        await wait_feed(port, tasks=2)
        await rig.wait_all(timeout=90)
        reported = time.monotonic() - started
        await rig.reader.quiet(SWEEP_SECONDS + 2.0)  # another sweep: nothing twice
        log_text = proc.log_text()

    assert rig.reader.reasons_by_job() == {lost.name: ["executor_watch_lost"]}, log_text[-3000:]
    await rig.assert_freed_once("a task whose Job was deleted")
    young = rig.vault.task(young_task)
    assert young is not None
    assert young.frontmatter["current_job"] == young_job  # within its deadline: untouched
    assert young.frontmatter["trigger_count"] == 0
    report("a task whose Job was deleted", isolation=rig.isolation.value,
           seconds_from_start_to_reported=reported)


async def test_a_late_failure_of_an_old_job_after_re_dispatch_publishes_nothing(
    rig: Rig,
) -> None:
    rig.use_fast_sweeper()
    old = rig.agent()
    new_name = f"claude-{old.task_id[:8]}-{uuid.uuid4().hex[:6]}-next"
    new_job = kubelet.create_agent_job(rig.batch, rig.namespace, task_id=old.task_id,
                                       name=new_name)
    new_pod = kubelet.create_agent_pod(rig.core, rig.namespace, job=new_job,
                                       task_id=old.task_id)
    kubelet.set_running(rig.core, rig.namespace, new_pod)
    redispatched = datetime.now(UTC) + timedelta(seconds=1)  # after the old Job's creation
    rig.vault.put(old.task_id, in_flight(new_name, redispatched, trigger_count=1))
    await rig.controller.publish_all()

    port = free_port()
    with daemon_processes(rig.tmp_path) as start:
        proc = start(rig.settings, port=port)
        await wait_ready(proc, port)
        await wait_feed(port, tasks=1)
        old.mode.apply(rig.core, rig.namespace, old.pod)  # the old Job's late failure
        control = rig.zombie()  # failed after it: once reported, the old one was judged
        await rig.wait_all(timeout=90)
        await rig.reader.quiet(2 * SWEEP_SECONDS + 2.0)  # two sweeps judge the old Job too
        log_text = proc.log_text()

    assert rig.reader.reasons_by_job() == {control: [IMAGE_PULL.reason_line]}, log_text[-3000:]
    await rig.assert_freed_once("a late failure of an old Job after re-dispatch")
    task = rig.vault.task(old.task_id)
    assert task is not None
    assert task.frontmatter["current_job"] == new_name
    assert task.frontmatter["trigger_count"] == 1
    assert not rig.annotated(old.name)
    assert not rig.annotated(new_name)
    report("a late failure of an old Job after re-dispatch", isolation=rig.isolation.value,
           old_job_published=0, new_job_untouched=True)

"""The daemon against today's agent system: the task's vault and evidence on every failure
(and on its repairs), closed tasks never reported, the success clear once per Job."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from dependency_injector import providers

from tests.builders import job_view, pod_view
from zombiewatch.app.confirming import ConfirmationMetrics, Confirmer
from zombiewatch.app.container import Container
from zombiewatch.domain.commands import IncrementFrontmatter, UpdateFrontmatter
from zombiewatch.domain.confirmation import RepairPolicy, Watchlist
from zombiewatch.domain.ledger import clear_request_id
from zombiewatch.domain.tasks import TaskState
from zombiewatch.domain.views import JobView, PodPhase
from zombiewatch.testing.containers import Fakes, faked_container
from zombiewatch.testing.fakes import T0, FakeLeader

TASK = "4aa57614-8835-4992-87e9-ca483ddbeae6"
JOB = "claude-4aa57614-20260602090000"


def state(*, current_job: str = JOB, target_vault: str = "work", status: str = "in_progress",
          started: timedelta = timedelta(0)) -> TaskState:
    return TaskState(current_job=current_job, job_started_at=T0 + started, assignee="claude",
                     trigger_count=1, max_triggers=3, phase="in_progress",
                     target_vault=target_vault, status=status)


class Daemon:
    """One process of the daemon over shared fakes (the topic and the cluster outlive it)."""

    def __init__(self, fakes: Fakes, *, task_feed: bool = True) -> None:
        self.fakes = fakes
        self.container: Container = faked_container(fakes, task_feed=task_feed)
        self.confirmer = Confirmer(
            publisher=fakes.publisher, tasks=self.container.task_view(), leader=fakes.leader,
            clock=fakes.clock, metrics=ConfirmationMetrics(self.container.metrics()),
            policy=RepairPolicy(), watchlist=Watchlist(), events=self.container.events())
        self.container.confirmer.override(providers.Object(self.confirmer))
        self.reporter = self.container.reporter()
        self.detection = self.container.detection()
        self.sweeper = self.container.sweeper()

    def oom_killed(self, job: JobView) -> None:
        self.fakes.cache.put_job(job)
        pod = pod_view(job, phase=PodPhase.FAILED, exit_code=137, terminated_reason="OOMKilled")
        self.fakes.cache.put_pod(pod)
        self.detection.on_pod(pod)

    def job_event(self, job: JobView) -> None:
        self.fakes.cache.put_job(job)
        self.detection.on_job(job)

    async def settle(self) -> None:
        await self.reporter.flush()
        await self.reporter.close()


def shared_fakes(*, leading: bool = True) -> Fakes:
    fakes = Fakes(leader=FakeLeader(leading))
    fakes.publisher.topic = fakes.history  # what is published is on the ledger
    return fakes


# --- A: the task's vault and the evidence --------------------------------------------------


async def test_a_failure_names_the_task_s_own_vault_and_its_evidence_on_the_reason_line() -> None:
    fakes = shared_fakes()
    fakes.tasks.put(TASK, state(target_vault="work"))
    daemon = Daemon(fakes)

    daemon.oom_killed(job_view(JOB, task_id=TASK))
    await daemon.settle()

    (report,) = fakes.publisher.published
    update, increment = report.commands
    assert isinstance(update, UpdateFrontmatter)
    assert isinstance(increment, IncrementFrontmatter)
    assert (update.target_vault, increment.target_vault) == ("work", "work")
    assert update.body is not None
    assert "- **Reason:** pod_oom_killed (OOMKilled/137)\n" in update.body.section


async def test_a_task_the_feed_knows_no_vault_of_gets_a_failure_for_every_vault() -> None:
    fakes = shared_fakes()
    fakes.tasks.put(TASK, state(target_vault=""))
    daemon = Daemon(fakes)

    daemon.oom_killed(job_view(JOB, task_id=TASK))
    await daemon.settle()

    (report,) = fakes.publisher.published
    assert [c.target_vault for c in report.commands] == [None, None]


async def test_a_repair_re_sends_the_very_commands_of_the_first_publish() -> None:
    """Same vault, same section (timestamp and evidence): byte-identical on the wire."""
    fakes = shared_fakes()
    fakes.tasks.put(TASK, state(target_vault="work"))
    daemon = Daemon(fakes)
    daemon.oom_killed(job_view(JOB, task_id=TASK))
    await daemon.settle()
    confirmer = daemon.confirmer

    fakes.clock.advance(confirmer.policy.window.total_seconds())  # still current_job: lost
    await confirmer.tick()

    first, repair = fakes.publisher.published
    assert repair.commands == first.commands
    assert repair.target_vault == "work"
    assert repair.evidence == "OOMKilled/137"


async def test_a_new_leader_repairs_a_predecessor_s_failure_with_its_vault_and_evidence() -> None:
    fakes = shared_fakes()
    fakes.tasks.put(TASK, state(target_vault="work"))
    first = Daemon(fakes)
    first.oom_killed(job_view(JOB, task_id=TASK))
    await first.settle()
    (original,) = fakes.publisher.published

    successor = Daemon(fakes)  # a restart: it learns the failure from the ledger only
    assert await successor.reporter.recall_history()
    confirmer = successor.confirmer
    fakes.clock.advance(confirmer.policy.window.total_seconds())
    await confirmer.tick()

    repair = fakes.publisher.published[-1]
    update = repair.commands[0]
    assert update == original.commands[0]
    assert all(c.target_vault == "work" for c in repair.commands)


# --- item 7: completed and aborted tasks ---------------------------------------------------


async def test_a_zombie_of_a_completed_or_aborted_task_is_never_reported_by_either_path() -> None:
    for status in ("completed", "aborted"):
        fakes = shared_fakes()
        fakes.tasks.put(TASK, state(status=status))
        daemon = Daemon(fakes)

        daemon.oom_killed(job_view(JOB, task_id=TASK))
        fakes.clock.advance(3 * 3600)  # far past every deadline
        daemon.sweeper.sweep_once()
        await daemon.settle()

        assert fakes.publisher.published == [], status


async def test_the_same_zombie_of_a_task_in_progress_is_reported() -> None:
    fakes = shared_fakes()
    fakes.tasks.put(TASK, state(status="in_progress"))
    daemon = Daemon(fakes)

    daemon.oom_killed(job_view(JOB, task_id=TASK))
    await daemon.settle()

    assert fakes.publisher.reported_jobs() == [JOB]


# --- C: the success clear -------------------------------------------------------------------


def completed(name: str = JOB) -> JobView:
    return job_view(name, task_id=TASK, complete=True)


async def test_a_completed_job_its_task_still_names_gets_one_clear_with_the_task_s_vault() -> None:
    fakes = shared_fakes()
    fakes.tasks.put(TASK, state(target_vault="work"))
    daemon = Daemon(fakes)

    daemon.job_event(completed())
    await daemon.settle()
    daemon.job_event(completed())  # the informer's next event of the same Job
    daemon.sweeper.sweep_once()  # and the sweep's offer
    await daemon.settle()

    assert fakes.publisher.commands == [UpdateFrontmatter(
        task_identifier=TASK, updates={"current_job": ""}, target_vault="work")]
    assert fakes.publisher.command_ids == [clear_request_id(JOB)]
    assert fakes.publisher.published == []  # no failure, no increment


async def test_a_restarted_daemon_does_not_send_the_clear_again() -> None:
    fakes = shared_fakes()
    fakes.tasks.put(TASK, state())
    first = Daemon(fakes)
    first.job_event(completed())
    await first.settle()
    fakes.clock.advance(30)

    # The feed has not shown the clear applied yet: the task still names the Job.
    second = Daemon(fakes)
    second.job_event(completed())  # the informer lists the completed Job again
    second.sweeper.sweep_once()
    await second.settle()

    assert fakes.publisher.command_ids == [clear_request_id(JOB)]


async def test_a_task_that_names_a_newer_job_or_none_gets_no_clear() -> None:
    for current in ("claude-4aa57614-20260602100000", ""):
        fakes = shared_fakes()
        fakes.tasks.put(TASK, state(current_job=current, started=timedelta(hours=1)))
        daemon = Daemon(fakes)

        daemon.job_event(completed())
        daemon.sweeper.sweep_once()
        await daemon.settle()

        assert fakes.publisher.commands == [], current


async def test_without_the_task_feed_or_before_it_caught_up_no_clear_is_sent() -> None:
    fakes = shared_fakes()
    fakes.tasks.put(TASK, state())
    without = Daemon(fakes, task_feed=False)
    without.job_event(completed())
    without.sweeper.sweep_once()
    await without.settle()
    assert fakes.publisher.commands == []

    fakes.feed.caught_up = False
    behind = Daemon(fakes)
    behind.job_event(completed())
    await behind.settle()
    assert fakes.publisher.commands == []

    fakes.feed.caught_up = True  # caught up: the next sweep offers it again
    behind.sweeper.sweep_once()
    await behind.settle()
    assert fakes.publisher.command_ids == [clear_request_id(JOB)]


async def test_a_follower_sends_no_clear_and_a_failed_send_is_retried_once_known() -> None:
    fakes = shared_fakes(leading=False)
    fakes.tasks.put(TASK, state())
    daemon = Daemon(fakes)
    daemon.job_event(completed())
    await daemon.settle()
    assert fakes.publisher.commands == []

    fakes.leader.set_leading(True)
    fakes.publisher.fail_next = 1
    daemon.sweeper.sweep_once()
    await daemon.settle()
    assert fakes.publisher.commands == []  # refused: nothing reached the topic

    daemon.sweeper.sweep_once()
    await daemon.settle()
    assert fakes.publisher.command_ids == [clear_request_id(JOB)]


def test_a_clear_id_is_distinct_from_the_job_s_failure_ids() -> None:
    from zombiewatch.domain.commands import Operation  # noqa: PLC0415
    from zombiewatch.domain.ledger import failure_request_id  # noqa: PLC0415

    ids = {failure_request_id(job_name=JOB, operation=op) for op in Operation}
    assert clear_request_id(JOB) not in ids
    assert clear_request_id(JOB) == clear_request_id(JOB)
    assert clear_request_id(JOB) != clear_request_id(replace(completed(), name="other").name)

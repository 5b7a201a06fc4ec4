"""Whole sequences through the domain: a simulated detector drives classification,
dedupe and the doctrine against the task-file reference model.

The detector here is deliberately small and mirrors SPEC §5-§7: pod and Job
events are classified as they arrive, the sweeper re-judges every in-flight
Job, a failure is published at most once per Job (in-memory dedupe plus
durable annotations), a failed publish records nothing, and a restart loses
the in-memory layer but keeps the annotations. The controller side applies
every published command and then its trigger cap, as the host does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.builders import sweep_verdict
from zombiewatch.domain.classification import (
    COMPLETED,
    Verdict,
    classify_job,
    classify_pod,
)
from zombiewatch.domain.commands import Command, FailureReport, UpdateFrontmatter
from zombiewatch.domain.dedupe import RecentFailures
from zombiewatch.domain.doctrine import spawn_notification, zombie_failure
from zombiewatch.domain.manifest import job_name
from zombiewatch.domain.taskfile import (
    TRIGGER_CAP_HEADING,
    TaskFile,
    apply,
    apply_trigger_cap,
    int_field,
    parse,
    render,
)
from zombiewatch.domain.views import (
    ContainerView,
    InFlightJob,
    JobView,
    PodPhase,
    PodView,
)

START = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
DEADLINE = timedelta(seconds=1800)
HEARTBEAT = timedelta(minutes=5)
MAX_TRIGGERS = 3
TASK_IDS = ("3f2a9c1d-7b4e-4c1a-9d2e-0123456789ab", "8e1b2c3d-1111-4222-8333-444455556666")
AGENTS = ("claude", "codex", "gemini")
PHASE, STATUS = "in_progress", "open"


def _waiting(reason: str) -> tuple[ContainerView, ...]:
    return (ContainerView(name="agent", waiting_reason=reason),)


POD_STATES: dict[str, tuple[PodPhase, str | None, bool | None, tuple[ContainerView, ...]]] = {
    "running": (PodPhase.RUNNING, None, True, (ContainerView(name="agent", running=True),)),
    "creating": (PodPhase.PENDING, None, True, _waiting("ContainerCreating")),
    "image_pull": (PodPhase.PENDING, None, True, _waiting("ErrImagePull")),
    "crash_loop": (PodPhase.RUNNING, None, True, _waiting("CrashLoopBackOff")),
    "evicted": (PodPhase.FAILED, "Evicted", True, ()),
    "oom_killed": (
        PodPhase.FAILED,
        None,
        True,
        (ContainerView(name="agent", terminated_exit_code=137),),
    ),
    "unschedulable": (PodPhase.PENDING, None, False, ()),
    "config_error": (PodPhase.PENDING, None, True, _waiting("CreateContainerConfigError")),
}
"""States of a Job's single pod: (phase, status reason, scheduled, containers)."""


@dataclass
class SimulatedJob:
    view: JobView
    pod: PodView | None = None


class DoctrineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.tasks: dict[str, TaskFile] = {
            task_id: TaskFile(
                frontmatter={
                    "task_identifier": task_id,
                    "assignee": "claude",
                    "phase": PHASE,
                    "status": STATUS,
                    "current_job": "",
                    "trigger_count": 0,
                    "max_triggers": MAX_TRIGGERS,
                },
                body="# Task\n\nDo the thing.\n",
            )
            for task_id in TASK_IDS
        }
        self.jobs: dict[str, SimulatedJob] = {}
        self.annotated: set[str] = set()
        self.dedupe = RecentFailures()
        self.fail_next_publish = False
        self.published: list[FailureReport] = []
        # The independent model of the controller's side.
        self.expected_assignee = dict.fromkeys(TASK_IDS, "claude")
        self.failures_of_task: Counter[str] = Counter()
        self.escalated_from: dict[str, str] = {}

    # --- the controller -------------------------------------------------------------------

    def _controller_applies(self, task_id: str, command: Command) -> None:
        task = apply(self.tasks[task_id], command)
        self.tasks[task_id] = apply_trigger_cap(task)

    # --- the detector ---------------------------------------------------------------------

    def _report(self, job: SimulatedJob, verdict: Verdict) -> None:
        name = job.view.name
        if name in self.annotated or self.dedupe.seen(name, now=self.now):
            return
        assert not job.view.complete, "a completed Job must never be reported"
        report = zombie_failure(
            task_id=job.view.task_id, job_name=name, reason=verdict.reason, at=self.now
        )
        if self.fail_next_publish:
            self.fail_next_publish = False
            return
        for command in report.commands:
            self._controller_applies(job.view.task_id, command)
        self.published.append(report)
        event(f"published {verdict.rule}")
        self.annotated.add(name)
        self.dedupe.record(name, now=self.now)
        self._model_failure(job.view.task_id)

    def _model_failure(self, task_id: str) -> None:
        self.failures_of_task[task_id] += 1
        if self.failures_of_task[task_id] == MAX_TRIGGERS:
            self.escalated_from[task_id] = self.expected_assignee[task_id]
            self.expected_assignee[task_id] = ""
            event("escalated")

    def _running_jobs(self) -> list[str]:
        return sorted(
            name
            for name, job in self.jobs.items()
            if not job.view.complete and job.view.failed_reason is None
        )

    # --- rules ----------------------------------------------------------------------------

    @rule(task_index=st.integers(min_value=0, max_value=len(TASK_IDS) - 1))
    def spawn(self, task_index: int) -> None:
        task_id = TASK_IDS[task_index]
        frontmatter = self.tasks[task_id].frontmatter
        assignee = frontmatter["assignee"]
        if (
            not isinstance(assignee, str)
            or not assignee
            or frontmatter["current_job"] != ""
            or int_field(frontmatter, "trigger_count") >= MAX_TRIGGERS
        ):
            return  # the dispatch path would not spawn
        self.now += timedelta(seconds=1)
        name = job_name(assignee=assignee, task_id=task_id, at=self.now)
        assert name not in self.jobs
        self.jobs[name] = SimulatedJob(
            view=JobView(
                namespace="agents",
                name=name,
                uid=f"uid-{name}",
                task_id=task_id,
                assignee=assignee,
                created_at=self.now,
                started_at=self.now,
                failed_reason=None,
                complete=False,
            )
        )
        notification = spawn_notification(task_id=task_id, job_name=name, started_at=self.now)
        self._controller_applies(task_id, notification)

    @precondition(lambda self: bool(self._running_jobs()))
    @rule(data=st.data(), state=st.sampled_from(sorted(POD_STATES)))
    def pod_event(self, data: st.DataObject, state: str) -> None:
        name = data.draw(st.sampled_from(self._running_jobs()))
        job = self.jobs[name]
        phase, status_reason, scheduled, containers = POD_STATES[state]
        job.pod = PodView(
            namespace="agents",
            name=f"{name}-pod",
            uid=f"uid-{name}-pod",
            task_id=job.view.task_id,
            job_name=name,
            phase=phase,
            status_reason=status_reason,
            created_at=job.view.created_at,
            scheduled=scheduled,
            containers=containers,
        )
        verdict = classify_pod(job.pod, now=self.now)
        if verdict is not None:
            self._report(job, verdict)

    @precondition(lambda self: bool(self._running_jobs()))
    @rule(
        data=st.data(),
        condition=st.sampled_from(["complete", "DeadlineExceeded", "BackoffLimitExceeded", ""]),
    )
    def job_event(self, data: st.DataObject, condition: str) -> None:
        name = data.draw(st.sampled_from(self._running_jobs()))
        job = self.jobs[name]
        if condition == "complete":
            job.view = replace(job.view, complete=True)
            # The agent published its own result, which frees the task.
            result = UpdateFrontmatter(
                task_identifier=job.view.task_id, updates={"current_job": ""}
            )
            self._controller_applies(job.view.task_id, result)
        else:
            job.view = replace(job.view, failed_reason=condition)
        outcome = classify_job(job.view)
        if outcome is COMPLETED:
            self.dedupe.forget(name)
        elif isinstance(outcome, Verdict):
            self._report(job, outcome)

    @rule(seconds=st.sampled_from([1, 30, 119, 120, 600, 1799, 1800, 3600, 4000]))
    def advance_time(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def sweep(self) -> None:
        for name in sorted(self.jobs):
            job = self.jobs[name]
            if name in self.annotated:
                continue
            record = InFlightJob(
                task_id=job.view.task_id,
                job_name=name,
                assignee=job.view.assignee,
                started_at=job.view.started_at,
            )
            verdict = sweep_verdict(
                record,
                job=replace(job.view, reported_reason=None),
                pods=() if job.pod is None else (job.pod,),
                now=self.now,
                deadline=DEADLINE,
                heartbeat_window=HEARTBEAT,
                last_heartbeat=None,
            )
            if verdict is not None:
                self._report(job, verdict)

    @rule()
    def fail_the_next_publish(self) -> None:
        self.fail_next_publish = True

    @rule()
    def restart(self) -> None:
        self.dedupe = RecentFailures()

    @rule(
        task_index=st.integers(min_value=0, max_value=len(TASK_IDS) - 1),
        agent=st.sampled_from(AGENTS),
    )
    def redelegate(self, task_index: int, agent: str) -> None:
        task_id = TASK_IDS[task_index]
        self._controller_applies(
            task_id, UpdateFrontmatter(task_identifier=task_id, updates={"assignee": agent})
        )
        # Before the cap the new agent inherits the retries; after it the operator's
        # choice stands (the cap never fires twice).
        self.expected_assignee[task_id] = agent

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def at_most_one_published_failure_per_job(self) -> None:
        counts = Counter(report.job_name for report in self.published)
        assert all(count == 1 for count in counts.values()), counts

    @invariant()
    def phase_and_status_are_never_written(self) -> None:
        for task in self.tasks.values():
            assert task.frontmatter["phase"] == PHASE
            assert task.frontmatter["status"] == STATUS
        for report in self.published:
            for command in report.commands:
                if isinstance(command, UpdateFrontmatter):
                    assert not {"phase", "status", "assignee", "previous_assignee"} & set(
                        command.updates
                    )

    @invariant()
    def trigger_count_counts_published_failures(self) -> None:
        for task_id, task in self.tasks.items():
            assert int_field(task.frontmatter, "trigger_count") == self.failures_of_task[task_id]

    @invariant()
    def the_assignee_is_kept_until_the_cap(self) -> None:
        for task_id, task in self.tasks.items():
            assert task.frontmatter["assignee"] == self.expected_assignee[task_id]

    @invariant()
    def escalation_happens_exactly_once_at_the_cap(self) -> None:
        for task_id, task in self.tasks.items():
            sections = task.body.count(TRIGGER_CAP_HEADING)
            assert sections == (1 if task_id in self.escalated_from else 0)

    @invariant()
    def previous_assignee_is_the_last_agent(self) -> None:
        for task_id, last_agent in self.escalated_from.items():
            assert self.tasks[task_id].frontmatter["previous_assignee"] == last_agent

    @invariant()
    def task_files_survive_a_text_round_trip(self) -> None:
        for task in self.tasks.values():
            assert parse(render(task)) == task


TestDoctrineStateMachine = DoctrineMachine.TestCase

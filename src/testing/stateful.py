"""A Hypothesis state machine over the whole loop: host dispatch, our services, the controller.

:class:`DispatchMachine` runs zombiewatch's real services — the detection
path, the sweeper and the reporter, wired by the
:class:`~zombiewatch.app.container.Container` with the recording fakes of
:mod:`zombiewatch.testing.fakes` — through spawns, pod and Job events,
heartbeats, results, time, sweeps, publish and annotation failures, restarts
and operator actions. Every record (the host's dispatch, the agent's result,
each committed failure encoded with our real codec) is applied by the
:class:`~zombiewatch.testing.controller.ReferenceController` to a vault of
task files, and an independent model checks the doctrine's invariants:

- at most one failure is published per Job, and never for a completed one;
- ``trigger_count`` counts every increment (dispatches and failures);
- below the cap the assignee stays; the increment reaching ``max_triggers``
  clears it, and every later increment keeps it clear (until an operator
  re-assigns, and then the next increment clears it again);
- ``phase`` and ``status`` change only when an operator changes them, and
  ``human_review`` moves the assignee to ``previous_assignee``;
- the body holds exactly one ``## Failure`` section, the latest failure's;
- a type mismatch escalates at once and never moves ``trigger_count``.

A host tests *its own* dispatch path by subclassing and overriding the hooks
(:meth:`dispatch_records`, :meth:`result_records`, :meth:`on_spawned`,
:meth:`on_heartbeat`, :meth:`on_result`, :meth:`on_type_mismatch`); ``TestX = MyMachine.TestCase``.
The defaults are zombiewatch's own doctrine and codec.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from dependency_injector import providers
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from zombiewatch.adapters.kafka.codec import Envelope, encode
from zombiewatch.app.container import Container
from zombiewatch.app.detection import DetectionService
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings
from zombiewatch.app.sweeping import Sweeper
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.commands import (
    Command,
    FailureReport,
    IncrementFrontmatter,
    UpdateFrontmatter,
)
from zombiewatch.domain.consumer import Outcome
from zombiewatch.domain.doctrine import (
    FAILURE_HEADING,
    ReportedFailure,
    increment_trigger_count,
    parse_failure_section,
    spawn_notification,
    type_mismatch_failure,
)
from zombiewatch.domain.ledger import failure_request_id
from zombiewatch.domain.manifest import job_name as make_job_name
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.taskfile import DEFAULT_MAX_TRIGGERS, TaskFile, Value, is_go_int
from zombiewatch.domain.views import ContainerView, JobView, PodPhase, PodView
from zombiewatch.testing.containers import NoTaskFeed
from zombiewatch.testing.controller import ReferenceController
from zombiewatch.testing.fakes import (
    FakeCache,
    FakeClock,
    FakeLeader,
    ManualScheduler,
    RecordingAnnotator,
    RecordingPublisher,
    RecordingReaper,
    ScriptedHistory,
)
from zombiewatch.testing.taskfile_text import read_task_text, write_task_text

START = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
NAMESPACE = "agents"
REVIEW = "human_review"
IN_PROGRESS = "in_progress"
STATUS = "in_progress"


def _waiting(reason: str) -> tuple[ContainerView, ...]:
    return (ContainerView(name="agent", waiting_reason=reason),)


POD_STATES: dict[str, tuple[PodPhase, str | None, bool | None, tuple[ContainerView, ...]]] = {
    "running": (PodPhase.RUNNING, None, True, (ContainerView(name="agent", running=True),)),
    "creating": (PodPhase.PENDING, None, True, _waiting("ContainerCreating")),
    "image_pull": (PodPhase.PENDING, None, True, _waiting("ErrImagePull")),
    "crash_loop": (PodPhase.RUNNING, None, True, _waiting("CrashLoopBackOff")),
    "evicted": (PodPhase.FAILED, "Evicted", True, ()),
    "oom_killed": (
        PodPhase.FAILED, None, True, (ContainerView(name="agent", terminated_exit_code=137),)),
    "unschedulable": (PodPhase.PENDING, None, False, ()),
    "config_error": (PodPhase.PENDING, None, True, _waiting("CreateContainerConfigError")),
}
"""States of a Job's single pod: (phase, status reason, scheduled, containers)."""


@dataclass
class TaskModel:
    """What the doctrine says one task file must hold, kept independently of the controller."""

    cap: int
    assignee: str = "claude"
    previous_assignee: str | None = None
    phase: str = IN_PROGRESS
    current_job: str = ""
    increments: int = 0
    failures: list[FailureReport] = field(default_factory=list)


def _settings() -> Settings:
    return Settings(
        namespace=NAMESPACE, kubeconfig=Path("/nonexistent"),
        kafka=KafkaOptions(brokers="127.0.0.1:9"), leader=LeaderOptions(enabled=False),
        serve_http=False,
    )


class DispatchMachine(RuleBasedStateMachine):
    """Host dispatch + zombiewatch's real services + the reference controller, with a model."""

    task_ids: ClassVar[tuple[str, ...]] = (
        "3f2a9c1d-7b4e-4c1a-9d2e-0123456789ab", "8e1b2c3d-1111-4222-8333-444455556666")
    agents: ClassVar[tuple[str, ...]] = ("claude", "codex", "gemini")
    dispatch_increments: ClassVar[int] = 1
    """How many ``trigger_count`` increments the host's dispatch publishes per spawn."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(START)
        self.cache = FakeCache()
        self.publisher = RecordingPublisher()
        self.history = ScriptedHistory()
        self.annotator = RecordingAnnotator(cache=self.cache)
        self.scheduler = ManualScheduler()
        self.controller = ReferenceController()
        self.models: dict[str, TaskModel] = {}
        self.jobs: dict[str, str] = {}
        """Job name → task id, for every Job spawned."""
        self.applied = 0
        self.restarts = 0
        self.outage_spans_a_restart = False
        self._reads: dict[str, TaskFile] = {}
        self._wire()

    # --- wiring -------------------------------------------------------------------------------

    def _wire(self) -> None:
        """A fresh Container (a process start): new in-memory state, same cluster and topic."""
        container = Container()
        container.settings.override(_settings())
        container.clock.override(providers.Object(self.clock))
        container.cache.override(providers.Object(self.cache))
        container.api_client.override(providers.Object(None))
        container.publisher.override(providers.Object(self.publisher))
        container.leader.override(providers.Object(FakeLeader()))
        container.annotator.override(providers.Object(self.annotator))
        container.job_reaper.override(providers.Object(RecordingReaper()))
        container.history.override(providers.Object(self.history))
        container.task_feed.override(providers.Object(NoTaskFeed()))  # cluster only
        container.detection.add_kwargs(schedule=self.scheduler)
        self.container = container
        self.detection: DetectionService = container.detection()
        self.sweeper: Sweeper = container.sweeper()
        self.reporter: Reporter = container.reporter()
        self.book: InFlightBook = container.book()

    def teardown(self) -> None:
        self.loop.run_until_complete(self.reporter.close())
        self.loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.loop.run_until_complete(coroutine)

    # --- hooks a host overrides ---------------------------------------------------------------

    def request(self, command: Command, *, request_id: UUID | None = None) -> bytes:
        """One command as a record value at the current time (our codec)."""
        return encode(Envelope(request_id=request_id or UUID(int=self.applied + 1),
                               request_time=self.clock.now(), command=command))

    def dispatch_records(
        self, *, task_id: str, assignee: str, job_name: str, at: datetime
    ) -> Sequence[bytes]:
        """What the host publishes when it spawns a Job: increment first, then the notification."""
        return [
            self.request(increment_trigger_count(task_id)),
            self.request(spawn_notification(task_id=task_id, job_name=job_name, started_at=at)),
        ]

    def result_records(self, *, task_id: str, job_name: str, at: datetime) -> Sequence[bytes]:
        """What the agent publishes with its result: the task is free again."""
        return [self.request(UpdateFrontmatter(task_identifier=task_id,
                                               updates={"current_job": ""}))]

    def on_spawned(self, *, task_id: str, job_name: str, assignee: str, at: datetime) -> None:
        """The host tells zombiewatch about the spawn (``ZombieWatch.job_spawned``)."""
        self.book.register(task_id=task_id, job_name=job_name, assignee=assignee, started_at=at)

    def on_type_mismatch(self, failure: FailureReport) -> None:
        """The host reports a type mismatch (``ZombieWatch.report_type_mismatch``)."""
        self._run(self._publish(failure))

    async def _recall(self) -> None:
        await self.reporter.recall_history()

    async def _publish(self, failure: FailureReport) -> None:
        await self.publisher.publish_failures([failure])

    def on_heartbeat(self, *, task_id: str) -> None:
        """The host saw the agent alive (``ZombieWatch.heartbeat``)."""
        self.book.heartbeat(task_id, at=self.clock.now())

    def on_result(self, *, task_id: str) -> None:
        """The host saw the agent's result (``ZombieWatch.result_observed``)."""
        self.book.result_observed(task_id, at=self.clock.now())

    # --- the controller side ------------------------------------------------------------------

    def _apply(self, value: bytes) -> None:
        dispatch = self.controller.apply(value, now=self.clock.now())
        assert dispatch.outcome is Outcome.HANDLED, dispatch

    def task(self, task_id: str) -> TaskFile:
        """The task as the controller reads it back (memoised: invariants read it often)."""
        text = self.controller.files[self.path(task_id)]
        found = self._reads.get(text)
        if found is None:
            found = read_task_text(text)
            self._reads = {text: found, **dict(list(self._reads.items())[:32])}
        return found

    @staticmethod
    def path(task_id: str) -> str:
        return f"tasks/{task_id}.md"

    def _model_increment(self, model: TaskModel) -> None:
        model.increments += 1
        if model.increments >= model.cap:
            if model.assignee:
                event("assignee cleared by the trigger cap")
            model.assignee = ""

    def _model_update(self, model: TaskModel) -> None:
        """The human_review rule after every update-frontmatter."""
        if model.phase == REVIEW:
            if model.assignee:
                model.previous_assignee = model.assignee
            model.assignee = ""

    def _check_the_cap(self, task_id: str, *, before: Value, cap: int) -> None:
        """After a failure's increment: at or past the cap no assignee; below it, unchanged."""
        after = self.task(task_id).frontmatter
        count = after["trigger_count"]
        assert isinstance(count, int)
        if count >= cap:
            assert after["assignee"] == "", f"{task_id} keeps {after['assignee']!r} at {count}"
        else:
            assert after["assignee"] == before, f"{task_id} lost its assignee below the cap"

    def _drain(self) -> None:
        """Let the reporter publish what is pending, then feed the commits to the controller."""
        self._run(self.reporter.flush())
        self._run(self.reporter.close())
        for report in self.publisher.published[self.applied:]:
            self.applied += 1
            job = self.cache.job(report.job_name)
            assert job is None or not job.complete, f"completed {report.job_name} reported"
            model = self.models[report.task_id]
            if report.reason is ZombieReason.TYPE_MISMATCH:
                self._apply_type_mismatch(report, model)
                continue
            for command in report.commands:
                request_id = failure_request_id(job_name=report.job_name,
                                                operation=command.operation)
                before = self.task(report.task_id).frontmatter.get("assignee")
                self._apply(self.request(command, request_id=request_id))
                if isinstance(command, IncrementFrontmatter):
                    self._model_increment(model)
                    self._check_the_cap(report.task_id, before=before, cap=model.cap)
                else:
                    self._model_update(model)
            model.current_job = ""
            model.failures.append(report)
            self.history.failures.append(ReportedFailure(
                job_name=report.job_name, reason=report.reason, at=report.occurred_at))
            event(f"published {report.reason.value}")

    def _apply_type_mismatch(self, report: FailureReport, model: TaskModel) -> None:
        """The immediate escalation: one update, no ``trigger_count`` change."""
        (update,) = report.commands
        assert isinstance(update, UpdateFrontmatter)
        count = self.task(report.task_id).frontmatter["trigger_count"]
        self._apply(self.request(update, request_id=failure_request_id(
            job_name=report.job_name, operation=update.operation)))
        assert self.task(report.task_id).frontmatter["trigger_count"] == count
        prior = update.updates.get("previous_assignee")
        if isinstance(prior, str) and prior:
            model.previous_assignee = prior
        model.assignee = ""
        model.current_job = ""
        model.failures.append(report)
        self._model_update(model)
        event("published type_mismatch")

    def _running_jobs(self) -> list[str]:
        names = []
        for name in sorted(self.jobs):
            job = self.cache.job(name)
            if job is not None and not job.complete and job.failed_reason is None:
                names.append(name)
        return names

    # --- rules --------------------------------------------------------------------------------

    @initialize(cap=st.sampled_from([None, 0, 1, 2, 3, 5]))
    def create_tasks(self, cap: int | None) -> None:
        for task_id in self.task_ids:
            frontmatter: dict[str, Value] = {
                "task_identifier": task_id, "assignee": "claude", "phase": IN_PROGRESS,
                "status": STATUS, "current_job": "", "trigger_count": 0,
            }
            if cap is not None:
                frontmatter["max_triggers"] = cap
            text = write_task_text(TaskFile(frontmatter=frontmatter,
                                            body="# Task\n\nDo the thing.\n"))
            self.controller.put(self.path(task_id), text)
            self.models[task_id] = TaskModel(cap=DEFAULT_MAX_TRIGGERS if cap is None else cap)

    @rule(data=st.data())
    def spawn(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(self.task_ids), label="task")
        frontmatter = self.task(task_id).frontmatter
        assignee = frontmatter.get("assignee")
        if (not isinstance(assignee, str) or not assignee or frontmatter.get("current_job")
                or frontmatter.get("phase") != IN_PROGRESS):
            return  # the host would not dispatch this task now
        self.clock.advance(1)
        at = self.clock.now()
        name = make_job_name(assignee=assignee, task_id=task_id, at=at)
        model = self.models[task_id]
        for value in self.dispatch_records(task_id=task_id, assignee=assignee, job_name=name,
                                           at=at):
            self._apply(value)
        for _ in range(self.dispatch_increments):
            self._model_increment(model)
        self._model_update(model)
        model.current_job = name
        job = JobView(
            namespace=NAMESPACE, name=name, uid=f"uid-{name}", task_id=task_id,
            assignee=assignee, created_at=at, started_at=at,
            failed_reason=None, complete=False,
        )
        self.jobs[name] = task_id
        self.on_spawned(task_id=task_id, job_name=name, assignee=assignee, at=at)
        self.cache.put_job(job)
        self.detection.on_job(job)
        self._drain()

    @rule(data=st.data())
    def type_mismatch(self, data: st.DataObject) -> None:
        """The host's dispatch finds that the agent does not take the task's type."""
        task_id = data.draw(st.sampled_from(self.task_ids), label="task")
        frontmatter = self.task(task_id).frontmatter
        assignee = frontmatter.get("assignee")
        if not isinstance(assignee, str) or not assignee or frontmatter.get("current_job"):
            return
        self.clock.advance(1)
        at = self.clock.now()
        failure = type_mismatch_failure(
            task_id=task_id, job_name=make_job_name(assignee=assignee, task_id=task_id, at=at),
            prior_assignee=assignee, detail=f"{assignee} does not take this task type", at=at)
        self.on_type_mismatch(failure)
        self._drain()

    @precondition(lambda self: bool(self._running_jobs()))
    @rule(data=st.data(), state=st.sampled_from(sorted(POD_STATES)))
    def pod_event(self, data: st.DataObject, state: str) -> None:
        name = data.draw(st.sampled_from(self._running_jobs()), label="job")
        job = self.cache.job(name)
        assert job is not None
        phase, status_reason, scheduled, containers = POD_STATES[state]
        pod = PodView(
            namespace=NAMESPACE, name=f"{name}-pod", uid=f"uid-{name}-pod", task_id=job.task_id,
            job_name=name, phase=phase, status_reason=status_reason, created_at=job.created_at,
            scheduled=scheduled, containers=containers,
        )
        previous = self.cache.pods_of_job(name)
        self.cache.put_pod(pod)
        self.detection.on_pod(pod, previous=previous[0] if previous else None)
        self._drain()

    @precondition(lambda self: bool(self._running_jobs()))
    @rule(
        data=st.data(),
        condition=st.sampled_from(["complete", "DeadlineExceeded", "BackoffLimitExceeded", ""]),
    )
    def job_event(self, data: st.DataObject, condition: str) -> None:
        name = data.draw(st.sampled_from(self._running_jobs()), label="job")
        job = self.cache.job(name)
        assert job is not None
        if condition == "complete":
            at = self.clock.now()
            for value in self.result_records(task_id=job.task_id, job_name=name, at=at):
                self._apply(value)
            model = self.models[job.task_id]
            model.current_job = ""
            self._model_update(model)
            self.on_result(task_id=job.task_id)
            job = replace(job, complete=True)
        else:
            job = replace(job, failed_reason=condition)
        self.cache.put_job(job)
        self.detection.on_job(job)
        self._drain()

    @precondition(lambda self: bool(self._running_jobs()))
    @rule(data=st.data())
    def heartbeat(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._running_jobs()), label="job")
        self.on_heartbeat(task_id=self.jobs[name])

    @rule(seconds=st.sampled_from([1, 30, 119, 121, 600, 1799, 1801, 3600]))
    def advance_time(self, seconds: int) -> None:
        if self.annotator.unavailable and self.outage_spans_a_restart:
            # An outage that spans a restart ends (and its annotations land) before the
            # dedupe TTL runs out: a restart recalls only one TTL of the topic, so an
            # un-annotated failure older than that can be re-published by design. Without
            # a restart an owed annotation holds the Job for as long as the outage lasts.
            self.annotator.unavailable = False
            self.outage_spans_a_restart = False
            self._drain()
        self.clock.advance(seconds)

    @rule()
    def grace_timers_fire(self) -> None:
        self.scheduler.fire_all()
        self._drain()

    @rule()
    def sweep(self) -> None:
        self.sweeper.sweep_once()
        self._drain()

    @rule()
    def the_next_publish_fails(self) -> None:
        self.publisher.fail_next = 1

    @rule(down=st.booleans())
    def the_api_server_refuses_annotations(self, down: bool) -> None:
        """While down, committed failures stay un-annotated; once it is back they are
        retried by the next sweep or flush, like the daemon (nothing flushes here: the
        owed annotations must keep their Jobs reported however much time passes first).
        """
        self.annotator.unavailable = down
        if not down:
            self.outage_spans_a_restart = False

    @rule()
    def restart(self) -> None:
        """The process restarts: memory is lost, annotations and the topic are not."""
        self._run(self.reporter.close())
        self.detection.close()
        self.restarts += 1
        event("restarted")
        if self.annotator.unavailable:
            self.outage_spans_a_restart = True
        self._wire()
        # The daemon's first term starts with the topic's read-back (Runtime).
        self._run(self._recall())

    @rule(data=st.data())
    def operator_reassigns(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(self.task_ids), label="task")
        agent = data.draw(st.sampled_from(self.agents), label="agent")
        self._apply(self.request(UpdateFrontmatter(task_identifier=task_id,
                                                   updates={"assignee": agent})))
        model = self.models[task_id]
        model.assignee = agent
        self._model_update(model)

    @rule(data=st.data(), review=st.booleans())
    def operator_moves_the_phase(self, data: st.DataObject, review: bool) -> None:
        task_id = data.draw(st.sampled_from(self.task_ids), label="task")
        phase = REVIEW if review else IN_PROGRESS
        self._apply(self.request(UpdateFrontmatter(task_identifier=task_id,
                                                   updates={"phase": phase})))
        model = self.models[task_id]
        model.phase = phase
        self._model_update(model)

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def at_most_one_failure_is_published_per_job(self) -> None:
        counts = Counter(report.job_name for report in self.publisher.published)
        assert all(count == 1 for count in counts.values()), counts

    @invariant()
    def our_failures_never_write_phase_or_status(self) -> None:
        """Zombie failures leave the assignee too; only a type mismatch escalates."""
        for report in self.publisher.published:
            allowed = (
                {"assignee", "current_job", "previous_assignee"}
                if report.reason is ZombieReason.TYPE_MISMATCH else {"current_job"}
            )
            for command in report.commands:
                if isinstance(command, UpdateFrontmatter):
                    assert set(command.updates) <= allowed, command.updates

    @invariant()
    def the_task_files_hold_what_the_doctrine_says(self) -> None:
        for task_id, model in self.models.items():
            frontmatter = self.task(task_id).frontmatter
            count = frontmatter["trigger_count"]
            assert is_go_int(count), count
            assert count == model.increments, (count, model)
            assert frontmatter["assignee"] == model.assignee, (frontmatter, model)
            assert frontmatter.get("previous_assignee") == model.previous_assignee
            assert frontmatter["phase"] == model.phase
            assert frontmatter["status"] == STATUS
            assert frontmatter["current_job"] == model.current_job

    @invariant()
    def one_failure_section_holds_the_latest_failure(self) -> None:
        for task_id, model in self.models.items():
            body = self.task(task_id).body
            assert body.count(FAILURE_HEADING) == (1 if model.failures else 0), body
            if not model.failures:
                continue
            latest = model.failures[-1]
            section = body[body.index(FAILURE_HEADING):]
            (update,) = [c for c in latest.commands if isinstance(c, UpdateFrontmatter)]
            assert update.body is not None
            assert section == update.body.section, (section, latest)
            if latest.reason is not ZombieReason.TYPE_MISMATCH:
                parsed = parse_failure_section(section)
                assert parsed is not None, section
                assert (parsed.job_name, parsed.reason) == (latest.job_name, latest.reason)

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
- ``trigger_count`` counts every increment (dispatches and failures); the
  dispatch charges today's scoped trigger budget (the first write adopts the
  scope with the count, later ones increment) and a spent budget spawns nothing;
- below the cap the assignee stays; the increment reaching ``max_triggers``
  clears it, and every later increment keeps it clear (until an operator
  re-assigns, and then the next increment clears it again); a task without
  ``max_triggers`` is never capped (today's controller);
- ``phase`` and ``status`` change only when an operator changes them, and
  ``human_review`` moves the assignee to ``previous_assignee``;
- the body holds exactly one ``## Failure`` section, the latest failure's;
- a type mismatch escalates at once and never moves ``trigger_count``.

A host tests *its own* dispatch path by subclassing and setting two class
attributes, never by overriding the machine's internals: ``hooks``, an object
of the small :class:`DispatchHooks` protocol (the records its dispatch and its
agents publish, and the calls it makes into zombiewatch), and ``world``, a
:class:`DispatchWorld` (namespace, assignees, clock start, task ids);
``TestX = MyMachine.TestCase``. The defaults (:class:`LibraryDispatch`,
``DispatchWorld()``) are zombiewatch's own doctrine and codec in the
``agents`` namespace.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar
from uuid import UUID

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from zombiewatch.adapters.kafka.codec import Envelope, encode
from zombiewatch.app.detection import DetectionService
from zombiewatch.app.reporting import Reporter
from zombiewatch.app.sweeping import Sweeper
from zombiewatch.app.tracking import InFlightBook
from zombiewatch.domain.budget import BudgetSpent, trigger_budget
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
    parse_failure_section,
    spawn_notification,
    type_mismatch_failure,
)
from zombiewatch.domain.ledger import failure_request_id
from zombiewatch.domain.manifest import job_name as make_job_name
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.taskfile import TaskFile, Value, is_go_int
from zombiewatch.domain.views import ContainerView, JobView, PodPhase, PodView
from zombiewatch.testing._taskfile_text import read_task_text, write_task_text
from zombiewatch.testing.containers import Fakes, faked_container, unit_settings
from zombiewatch.testing.controller import ReferenceController
from zombiewatch.testing.fakes import T0, FakeClock

__all__ = [
    "POD_STATES",
    "DispatchHooks",
    "DispatchMachine",
    "DispatchWorld",
    "EmbeddedZombieWatch",
    "LibraryDispatch",
    "TaskModel",
]

_T = TypeVar("_T")

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
    "oom_killed": (PodPhase.FAILED, None, True, (
        ContainerView(name="agent", terminated_exit_code=137, terminated_reason="OOMKilled"),)),
    "crashed": (PodPhase.FAILED, None, True, (
        ContainerView(name="agent", terminated_exit_code=1, terminated_reason="Error"),)),
    "unschedulable": (PodPhase.PENDING, None, False, ()),
    "config_error": (PodPhase.PENDING, None, True, _waiting("CreateContainerConfigError")),
}
"""States of a Job's single pod: (phase, status reason, scheduled, containers)."""


@dataclass
class TaskModel:
    """What the doctrine says one task file must hold, kept independently of the controller."""

    cap: int | None
    """``max_triggers``; None: the task has none and is never capped."""
    assignee: str
    previous_assignee: str | None = None
    phase: str = IN_PROGRESS
    current_job: str = ""
    increments: int = 0
    scoped: bool = False
    """A dispatch wrote ``trigger_scope`` (today's budget): later ones increment."""
    failures: list[FailureReport] = field(default_factory=list)


@dataclass(frozen=True)
class DispatchWorld:
    """Where a :class:`DispatchMachine` runs: a host sets its own on its subclass (``world``)."""

    namespace: str = "agents"
    """The namespace of the Jobs and pods (and the daemon's)."""
    assignees: tuple[str, ...] = ("claude", "codex", "gemini")
    """The agents: every task starts assigned to the first; an operator re-assigns to any."""
    start: datetime = T0
    """When the fake clock starts (timezone-aware)."""
    task_ids: tuple[str, ...] = (
        "3f2a9c1d-7b4e-4c1a-9d2e-0123456789ab", "8e1b2c3d-1111-4222-8333-444455556666")
    """The tasks in the vault (one file each)."""

    def __post_init__(self) -> None:
        if not self.assignees or not all(self.assignees):
            raise ValueError(f"DispatchWorld needs non-empty assignees, got {self.assignees!r}")
        if not self.task_ids:
            raise ValueError("DispatchWorld needs at least one task id")
        if self.start.tzinfo is None:
            raise ValueError(f"DispatchWorld.start must be timezone-aware, got {self.start}")


class EmbeddedZombieWatch:
    """zombiewatch as a host's hooks see it: the calls of the embedding API
    (:class:`~zombiewatch.app.library.ZombieWatch`) on the machine's real services,
    synchronous, at the machine's clock; and the record its publishing helpers write."""

    def __init__(self, machine: DispatchMachine) -> None:
        self._machine = machine

    def record(self, command: Command, *, request_id: UUID | None = None) -> bytes:
        """One command as a record value at the current time (zombiewatch's codec)."""
        return self._machine.request(command, request_id=request_id)

    def frontmatter(self, task_id: str) -> Mapping[str, Value]:
        """The task's frontmatter as the host's dispatch reads it now (the vault's file)."""
        return self._machine.task(task_id).frontmatter

    def job_spawned(self, *, task_id: str, job_name: str, assignee: str,
                    started_at: datetime) -> None:
        """``ZombieWatch.job_spawned``: judge the Job even if it never shows up."""
        self._machine.book.register(task_id=task_id, job_name=job_name, assignee=assignee,
                                    started_at=started_at)

    def heartbeat(self, task_id: str) -> None:
        """``ZombieWatch.heartbeat``: the task's agent showed life."""
        self._machine.book.heartbeat(task_id, at=self._machine.clock.now())

    def result_observed(self, task_id: str) -> None:
        """``ZombieWatch.result_observed``: the agent published its result."""
        self._machine.book.result_observed(task_id, at=self._machine.clock.now())

    def publish_failure(self, failure: FailureReport) -> None:
        """What ``ZombieWatch.report_type_mismatch`` does with its failure: publish it.

        A refused publish loses it, like a host that does not retry (the
        machine's invariants hold either way)."""
        self._machine.run_coroutine(self._machine.publisher.publish_failures([failure]))


class DispatchHooks(Protocol):
    """A host's dispatch path, as :class:`DispatchMachine` drives it.

    The records are applied by the reference controller in the order given; the
    ``on_*`` calls are what the host tells zombiewatch (through ``zombiewatch``).
    :class:`LibraryDispatch` is zombiewatch's own; subclass it to replace a part.
    """

    @property
    def dispatch_increments(self) -> int:
        """How many ``trigger_count`` increments :meth:`dispatch_records` publishes."""
        ...

    @property
    def scoped_budget(self) -> bool:
        """:meth:`dispatch_records` charges today's executor's scoped trigger budget
        (:mod:`zombiewatch.domain.budget`): one write per spawn (the scope adopted or
        reset, or an increment), and no records at all (no spawn) once it is spent."""
        ...

    def dispatch_records(
        self, zombiewatch: EmbeddedZombieWatch, *, task_id: str, assignee: str, job_name: str,
        at: datetime,
    ) -> Sequence[bytes]:
        """What the host publishes when it spawns a Job (nothing: it does not spawn)."""
        ...

    def result_records(
        self, zombiewatch: EmbeddedZombieWatch, *, task_id: str, job_name: str, at: datetime
    ) -> Sequence[bytes]:
        """What the agent publishes with its result."""
        ...

    def on_spawned(self, zombiewatch: EmbeddedZombieWatch, *, task_id: str, job_name: str,
                   assignee: str, at: datetime) -> None:
        """The host has created the Job."""
        ...

    def on_heartbeat(self, zombiewatch: EmbeddedZombieWatch, *, task_id: str) -> None:
        """The host saw the task's agent alive."""
        ...

    def on_result(self, zombiewatch: EmbeddedZombieWatch, *, task_id: str) -> None:
        """The host saw the agent's result."""
        ...

    def on_type_mismatch(self, zombiewatch: EmbeddedZombieWatch, failure: FailureReport) -> None:
        """The host's dispatch found that the agent does not take the task's type."""
        ...


class LibraryDispatch:
    """The dispatch path of a host using zombiewatch's library: its doctrine and codec."""

    dispatch_increments = 0
    scoped_budget = True

    def dispatch_records(
        self, zombiewatch: EmbeddedZombieWatch, *, task_id: str, assignee: str, job_name: str,
        at: datetime,
    ) -> Sequence[bytes]:
        """The trigger budget first (today's executor), then the notification with the
        task's own vault; nothing when the budget is spent."""
        frontmatter = zombiewatch.frontmatter(task_id)
        charge = trigger_budget(task_id, frontmatter)
        if isinstance(charge, BudgetSpent):
            return []
        vault = frontmatter.get("target_vault")
        return [
            zombiewatch.record(charge),
            zombiewatch.record(spawn_notification(
                task_id=task_id, job_name=job_name, started_at=at,
                target_vault=vault if isinstance(vault, str) else None)),
        ]

    def result_records(
        self, zombiewatch: EmbeddedZombieWatch, *, task_id: str, job_name: str, at: datetime
    ) -> Sequence[bytes]:
        """The task is free again."""
        return [zombiewatch.record(UpdateFrontmatter(task_identifier=task_id,
                                                     updates={"current_job": ""}))]

    def on_spawned(self, zombiewatch: EmbeddedZombieWatch, *, task_id: str, job_name: str,
                   assignee: str, at: datetime) -> None:
        zombiewatch.job_spawned(task_id=task_id, job_name=job_name, assignee=assignee,
                                started_at=at)

    def on_heartbeat(self, zombiewatch: EmbeddedZombieWatch, *, task_id: str) -> None:
        zombiewatch.heartbeat(task_id)

    def on_result(self, zombiewatch: EmbeddedZombieWatch, *, task_id: str) -> None:
        zombiewatch.result_observed(task_id)

    def on_type_mismatch(self, zombiewatch: EmbeddedZombieWatch, failure: FailureReport) -> None:
        zombiewatch.publish_failure(failure)


class DispatchMachine(RuleBasedStateMachine):
    """Host dispatch + zombiewatch's real services + the reference controller, with a model."""

    hooks: ClassVar[DispatchHooks] = LibraryDispatch()
    """The host's dispatch path (a host's subclass sets its own)."""
    world: ClassVar[DispatchWorld] = DispatchWorld()
    """Namespace, assignees, clock start and tasks (a host's subclass sets its own)."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.fakes = Fakes(clock=FakeClock(self.world.start))
        self.clock = self.fakes.clock
        self.cache = self.fakes.cache
        self.publisher = self.fakes.publisher
        self.history = self.fakes.history
        self.annotator = self.fakes.annotator
        self.scheduler = self.fakes.scheduler
        self.zombiewatch = EmbeddedZombieWatch(self)
        self.controller = ReferenceController()
        self.models: dict[str, TaskModel] = {}
        self.jobs: dict[str, str] = {}
        """Job name → task id, for every Job spawned."""
        self.applied = 0
        self.restarts = 0
        self.outage_spans_a_restart = False
        self.outage_since: datetime | None = None
        """When the annotation outage began (None: the API server takes annotations)."""
        self._reads: dict[str, TaskFile] = {}
        self._wire()

    # --- wiring -------------------------------------------------------------------------------

    def _wire(self) -> None:
        """A fresh Container (a process start): new in-memory state, same cluster and topic."""
        container = faked_container(
            self.fakes, unit_settings(namespace=self.world.namespace), task_feed=False)
        self.container = container
        self.detection: DetectionService = container.detection()
        self.sweeper: Sweeper = container.sweeper()
        self.reporter: Reporter = container.reporter()
        self.book: InFlightBook = container.book()

    def teardown(self) -> None:
        self.loop.run_until_complete(self.reporter.close())
        self.loop.close()

    def run_coroutine(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run one coroutine to its end in the machine's loop."""
        return self.loop.run_until_complete(coroutine)

    def request(self, command: Command, *, request_id: UUID | None = None) -> bytes:
        """One command as a record value at the current time (our codec)."""
        return encode(Envelope(request_id=request_id or UUID(int=self.applied + 1),
                               request_time=self.clock.now(), command=command))

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
        if model.cap is not None and model.increments >= model.cap:
            if model.assignee:
                event("assignee cleared by the trigger cap")
            model.assignee = ""

    def _model_update(self, model: TaskModel) -> None:
        """The human_review rule after every update-frontmatter."""
        if model.phase == REVIEW:
            if model.assignee:
                model.previous_assignee = model.assignee
            model.assignee = ""

    def _check_the_cap(self, task_id: str, *, before: Value, cap: int | None) -> None:
        """After a failure's increment: at or past the cap no assignee; below it, unchanged."""
        after = self.task(task_id).frontmatter
        count = after["trigger_count"]
        assert isinstance(count, int)
        if cap is not None and count >= cap:
            assert after["assignee"] == "", f"{task_id} keeps {after['assignee']!r} at {count}"
        else:
            assert after["assignee"] == before, f"{task_id} lost its assignee below the cap"

    def _drain(self) -> None:
        """Let the reporter publish what is pending, then feed the commits to the controller."""
        self.run_coroutine(self.reporter.flush())
        self.run_coroutine(self.reporter.close())
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
        assignee = self.world.assignees[0]
        for task_id in self.world.task_ids:
            frontmatter: dict[str, Value] = {
                "task_identifier": task_id, "assignee": assignee, "phase": IN_PROGRESS,
                "status": STATUS, "current_job": "", "trigger_count": 0,
            }
            if cap is not None:
                frontmatter["max_triggers"] = cap
            text = write_task_text(TaskFile(frontmatter=frontmatter,
                                            body="# Task\n\nDo the thing.\n"))
            self.controller.put(self.path(task_id), text)
            self.models[task_id] = TaskModel(cap=cap, assignee=assignee)

    @rule(data=st.data())
    def spawn(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(self.world.task_ids), label="task")
        frontmatter = self.task(task_id).frontmatter
        assignee = frontmatter.get("assignee")
        if (not isinstance(assignee, str) or not assignee or frontmatter.get("current_job")
                or frontmatter.get("phase") != IN_PROGRESS):
            return  # the host would not dispatch this task now
        self.clock.advance(1)
        at = self.clock.now()
        name = make_job_name(assignee=assignee, task_id=task_id, at=at)
        model = self.models[task_id]
        records = self.hooks.dispatch_records(self.zombiewatch, task_id=task_id,
                                              assignee=assignee, job_name=name, at=at)
        if self.hooks.scoped_budget and model.cap is not None and model.increments >= model.cap:
            # The scope never changes here (only in_progress tasks are dispatched, no ref).
            assert not records, f"{task_id} spawned past its budget: {model}"
            event("trigger budget spent: no spawn")
            return
        assert records or not self.hooks.scoped_budget, f"{task_id} not spawned: {model}"
        for value in records:
            self._apply(value)
        if self.hooks.scoped_budget:
            if model.scoped:
                self._model_increment(model)
            else:  # the scope adopted with the count: an update, never capped
                model.increments += 1
                model.scoped = True
        for _ in range(self.hooks.dispatch_increments):
            self._model_increment(model)
        self._model_update(model)
        model.current_job = name
        job = JobView(
            namespace=self.world.namespace, name=name, uid=f"uid-{name}", task_id=task_id,
            assignee=assignee, created_at=at, started_at=at,
            failed_reason=None, complete=False,
        )
        self.jobs[name] = task_id
        self.hooks.on_spawned(self.zombiewatch, task_id=task_id, job_name=name,
                              assignee=assignee, at=at)
        self.cache.put_job(job)
        self.detection.on_job(job)
        self._drain()

    @rule(data=st.data())
    def type_mismatch(self, data: st.DataObject) -> None:
        """The host's dispatch finds that the agent does not take the task's type."""
        task_id = data.draw(st.sampled_from(self.world.task_ids), label="task")
        frontmatter = self.task(task_id).frontmatter
        assignee = frontmatter.get("assignee")
        if not isinstance(assignee, str) or not assignee or frontmatter.get("current_job"):
            return
        self.clock.advance(1)
        at = self.clock.now()
        failure = type_mismatch_failure(
            task_id=task_id, job_name=make_job_name(assignee=assignee, task_id=task_id, at=at),
            prior_assignee=assignee, detail=f"{assignee} does not take this task type", at=at)
        self.hooks.on_type_mismatch(self.zombiewatch, failure)
        self._drain()

    @precondition(lambda self: bool(self._running_jobs()))
    @rule(data=st.data(), state=st.sampled_from(sorted(POD_STATES)))
    def pod_event(self, data: st.DataObject, state: str) -> None:
        name = data.draw(st.sampled_from(self._running_jobs()), label="job")
        job = self.cache.job(name)
        assert job is not None
        phase, status_reason, scheduled, containers = POD_STATES[state]
        pod = PodView(
            namespace=self.world.namespace, name=f"{name}-pod", uid=f"uid-{name}-pod",
            task_id=job.task_id, job_name=name, phase=phase, status_reason=status_reason,
            created_at=job.created_at,
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
            for value in self.hooks.result_records(self.zombiewatch, task_id=job.task_id,
                                                   job_name=name, at=at):
                self._apply(value)
            model = self.models[job.task_id]
            model.current_job = ""
            self._model_update(model)
            self.hooks.on_result(self.zombiewatch, task_id=job.task_id)
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
        self.hooks.on_heartbeat(self.zombiewatch, task_id=self.jobs[name])

    @rule(seconds=st.sampled_from([1, 30, 119, 121, 600, 1799, 1801, 3600]))
    def advance_time(self, seconds: int) -> None:
        if self.annotator.unavailable and self.outage_spans_a_restart:
            # An outage that spans a restart ends (and its annotations land) before the
            # dedupe TTL runs out: a restart recalls only one TTL of the topic, so an
            # un-annotated failure older than that can be re-published by design. Without
            # a restart an owed annotation holds the Job for as long as the outage lasts.
            self._end_the_outage()
        self.clock.advance(seconds)

    def _end_the_outage(self) -> None:
        """The API server takes annotations again; the owed ones land."""
        self.annotator.unavailable = False
        self.outage_spans_a_restart = False
        self.outage_since = None
        self._drain()

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
        if down and not self.annotator.unavailable:
            self.outage_since = self.clock.now()
        self.annotator.unavailable = down
        if not down:
            self.outage_spans_a_restart = False
            self.outage_since = None

    @rule()
    def restart(self) -> None:
        """The process restarts: memory is lost, annotations and the topic are not."""
        if (self.outage_since is not None
                and self.clock.now() - self.outage_since >= self.container.dedupe().ttl):
            # The same design limit as in advance_time: the new process recalls one TTL
            # of the topic, so an outage that spans a restart has ended before its
            # owed failures are older than that.
            self._end_the_outage()
        self.run_coroutine(self.reporter.close())
        self.detection.close()
        self.restarts += 1
        event("restarted")
        if self.annotator.unavailable:
            self.outage_spans_a_restart = True
        self._wire()
        # The daemon's first term starts with the topic's read-back (Runtime).
        self.run_coroutine(self.reporter.recall_history())

    @rule(data=st.data())
    def operator_reassigns(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(self.world.task_ids), label="task")
        agent = data.draw(st.sampled_from(self.world.assignees), label="agent")
        self._apply(self.request(UpdateFrontmatter(task_identifier=task_id,
                                                   updates={"assignee": agent})))
        model = self.models[task_id]
        model.assignee = agent
        self._model_update(model)

    @rule(data=st.data(), review=st.booleans())
    def operator_moves_the_phase(self, data: st.DataObject, review: bool) -> None:
        task_id = data.draw(st.sampled_from(self.world.task_ids), label="task")
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

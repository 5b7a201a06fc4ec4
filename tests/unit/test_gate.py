"""The gate: one rule for "may this Job be reported now", asked by both paths."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from dependency_injector import providers
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import job_view, judged, pod_view
from zombiewatch.app.judging import Detection
from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.gate import (
    DeadlineInputs,
    GateInputs,
    Hold,
    decide,
    elapsed_since_start,
    hold_of,
    is_heartbeat,
)
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskState
from zombiewatch.domain.views import AgentConfigView, InFlightJob, PodPhase
from zombiewatch.testing.containers import Fakes, faked_container
from zombiewatch.testing.fakes import T0
from zombiewatch.testing.strategies import job_views, pod_views

NAME = "claude-4aa57614-20260602090000"
DEADLINE_RULES = {Rule.DEADLINE_NO_POD, Rule.DEADLINE_POD_NOT_RUNNING}


def registration(started_at: datetime | None = T0) -> InFlightJob:
    return InFlightJob(task_id="t-1", job_name=NAME, assignee="claude", started_at=started_at)


# ---------------------------------------------------------------- the holds


def test_a_job_neither_the_cache_nor_the_host_knows_is_held_as_unknown() -> None:
    assert hold_of(GateInputs(job_name=NAME, job=None, now=T0)) is Hold.UNKNOWN
    assert hold_of(GateInputs(job_name=NAME, job=None, registration=registration(),
                              now=T0)) is None


def test_completed_and_annotated_jobs_are_held_whatever_their_pods_say() -> None:
    failing = (pod_view(job_view(NAME), phase=PodPhase.FAILED, exit_code=1,
                        terminated_reason="Error"),)
    complete = GateInputs(job_name=NAME, job=job_view(NAME, complete=True), pods=failing, now=T0)
    reported = GateInputs(job_name=NAME, job=job_view(NAME, reported_reason="pod_evicted"),
                          pods=failing, now=T0)

    assert (decide(complete), decide(reported)) == (Hold.COMPLETE, Hold.REPORTED)


def test_the_memory_layer_holds_before_anything_else() -> None:
    inputs = GateInputs(job_name=NAME, job=None, recently_reported=True, now=T0)
    assert hold_of(inputs) is Hold.RECENTLY_REPORTED


def test_a_result_after_the_start_resolves_the_job_and_a_later_respawn_is_judged() -> None:
    failing = (pod_view(job_view(NAME), phase=PodPhase.FAILED, exit_code=1,
                        terminated_reason="Error"),)
    result_at = T0 + timedelta(minutes=1)
    before = GateInputs(job_name=NAME, job=job_view(NAME), pods=failing, result_at=result_at,
                        now=T0 + timedelta(minutes=2))
    respawn = replace(before, job=job_view(NAME, started_at=T0 + timedelta(minutes=2)))

    assert decide(before) is Hold.RESOLVED
    assert judged(decide(respawn)) == Verdict(
        ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, "Error/1")


def feed_task(current_job: str, started_at: datetime | None) -> TaskState:
    return TaskState(current_job=current_job, job_started_at=started_at, assignee="claude",
                     trigger_count=1, max_triggers=3, phase="in_progress")


def test_a_job_whose_task_names_a_newer_job_is_superseded() -> None:
    failing = (pod_view(job_view(NAME), phase=PodPhase.FAILED, exit_code=1,
                        terminated_reason="Error"),)
    newer = feed_task("claude-4aa57614-20260602100000", T0 + timedelta(minutes=5))
    inputs = GateInputs(job_name=NAME, job=job_view(NAME), pods=failing, now=T0, task=newer)

    assert decide(inputs) is Hold.SUPERSEDED
    assert judged(decide(replace(inputs, task=feed_task(NAME, T0)))) == Verdict(
        ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, "Error/1")


def test_a_lagging_feed_holds_nothing() -> None:
    """The feed lags the host: no current Job yet, an older Job, or an unknown start."""
    failing = (pod_view(job_view(NAME), phase=PodPhase.FAILED, exit_code=1,
                        terminated_reason="Error"),)
    inputs = GateInputs(job_name=NAME, job=job_view(NAME), pods=failing, now=T0)
    verdict = Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, "Error/1")
    older = feed_task("claude-4aa57614-20260601000000", T0 - timedelta(days=1))

    for task in (feed_task("", None), older, feed_task("claude-other", None)):
        assert judged(decide(replace(inputs, task=task))) == verdict


def test_the_deadline_is_judged_only_with_deadline_inputs() -> None:
    late = T0 + timedelta(hours=1)
    inputs = GateInputs(job_name=NAME, job=job_view(NAME), now=late)
    deadline = DeadlineInputs(deadline=timedelta(minutes=30), heartbeat_window=timedelta(0),
                              last_heartbeat=None)

    assert decide(inputs) is None
    assert judged(decide(replace(inputs, deadline=deadline))) == Verdict(
        ZombieReason.EXECUTOR_WATCH_LOST, Rule.DEADLINE_NO_POD)


def test_elapsed_counts_from_start_time_then_creation_then_the_host() -> None:
    now = T0 + timedelta(minutes=10)
    started = job_view(NAME, created_at=T0, started_at=T0 + timedelta(minutes=1))
    created = job_view(NAME, created_at=T0, started_at=None)
    host = registration(T0 + timedelta(minutes=2))

    assert elapsed_since_start(job=started, registration=host, now=now) == timedelta(minutes=9)
    assert elapsed_since_start(job=created, registration=host, now=now) == timedelta(minutes=10)
    assert elapsed_since_start(job=None, registration=host, now=now) == timedelta(minutes=8)
    assert elapsed_since_start(job=None, registration=registration(None), now=now) is None


def test_a_transition_of_a_known_pod_is_a_heartbeat_and_the_first_sight_is_not() -> None:
    pod = pod_view(job_view(NAME))
    assert not is_heartbeat(None, pod)
    assert not is_heartbeat(pod, pod)
    assert is_heartbeat(pod, replace(pod, phase=PodPhase.RUNNING))


# ---------------------------------------------------------------- both paths


@dataclass
class RecordingSink:
    detections: list[Detection] = field(default_factory=list)

    completions: list[tuple[str, str]] = field(default_factory=list)

    def submit(self, detection: Detection) -> None:
        self.detections.append(detection)

    def completed(self, job_name: str, task_id: str) -> None:
        self.completions.append((job_name, task_id))

    def changed(self, job_name: str) -> None:
        return None  # no storm guard here: the verdicts are what this test compares

    def verdicts(self) -> list[Verdict]:
        verdicts, self.detections = [d.verdict for d in self.detections], []
        return verdicts


def offsets(max_minutes: int = 120) -> st.SearchStrategy[datetime]:
    """Times around T0, so deadlines, grace windows and results interleave."""
    return st.integers(min_value=-10, max_value=max_minutes * 60).map(
        lambda s: T0 + timedelta(seconds=s))


def rarely() -> st.SearchStrategy[bool]:
    return st.sampled_from((False, False, False, True))


@st.composite
def states(draw: st.DrawFn) -> dict[str, object]:
    job = draw(st.one_of(st.none(), job_views(name=NAME), job_views(name=NAME)))
    if job is not None:
        job = replace(
            job, created_at=draw(offsets(5)), started_at=draw(st.one_of(st.none(), offsets(5))),
            complete=draw(rarely()), reported_reason="pod_evicted" if draw(rarely()) else None)
    pods = draw(st.lists(pod_views(job_name=NAME, created_at=offsets(30)), max_size=3))
    return {
        "job": job,
        "pods": pods,
        "registered": draw(st.one_of(st.none(), st.one_of(st.none(), offsets(5)))),
        "result_at": draw(st.one_of(st.none(), offsets(60))),
        "heartbeat_at": draw(st.one_of(st.none(), offsets(90))),
        "recently_reported": draw(rarely()),
        "timeout": draw(st.integers(min_value=30, max_value=3600)),
        "now": draw(offsets(120)),
    }


@settings(max_examples=200)
@given(state=states())
def test_the_event_path_and_the_sweeper_never_disagree_on_the_same_state(
    state: dict[str, object],
) -> None:
    # Arrange: one state, seen by the container's detection service and its sweeper.
    fakes = Fakes()
    container = faked_container(fakes)
    sink = RecordingSink()
    container.reporter.override(providers.Object(sink))
    job = state["job"]
    task_id = job.task_id if job is not None else "t-1"  # type: ignore[attr-defined]
    if job is not None:
        fakes.cache.put_job(job)  # type: ignore[arg-type]
    for pod in state["pods"]:  # type: ignore[attr-defined]
        fakes.cache.put_pod(replace(pod, task_id=task_id))
    book = container.book()
    if "registered" in state and state["registered"] is not None:
        book.register(task_id=task_id, job_name=NAME, assignee="claude",
                      started_at=state["registered"])  # type: ignore[arg-type]
    if state["result_at"] is not None:
        book.result_observed(task_id, at=state["result_at"])  # type: ignore[arg-type]
    if state["heartbeat_at"] is not None:
        book.heartbeat(task_id, at=state["heartbeat_at"])  # type: ignore[arg-type]
    fakes.clock.current = state["now"]  # type: ignore[assignment]
    if state["recently_reported"]:
        container.dedupe().record(NAME, now=fakes.clock.current)
    fakes.cache.config_views.append(AgentConfigView(
        namespace="agents", name="claude", assignee=job.assignee if job else "claude",  # type: ignore[attr-defined]
        zombie_job_timeout_seconds=state["timeout"]))  # type: ignore[arg-type]
    detection, sweeper = container.detection(), container.sweeper()

    # Act: every event the informers could deliver for this state, then one sweep.
    for pod in fakes.cache.pods_of_job(NAME):
        detection.on_pod(pod)
    if job is not None:
        detection.on_job(job)  # type: ignore[arg-type]
    event_path = sink.verdicts()
    sweeper.sweep_once()
    swept = sink.verdicts()

    # Assert: what the event path reports, the sweep reports; the sweep adds only deadlines.
    if event_path:
        assert set(event_path) == set(swept[:1])
    else:
        assert all(v.rule in DEADLINE_RULES for v in swept)

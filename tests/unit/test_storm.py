"""The storm guard's rules (domain/storm.py): gathering, incidents, release, the bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.classification import Rule, Verdict
from zombiewatch.domain.gate import Decision, Hold
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.storm import (
    Admission,
    CauseGroup,
    Ending,
    IncidentClosed,
    IncidentOpened,
    StormGuard,
    StormPolicy,
    can_run_again,
    clears,
    got_past,
    group_by_cause,
)
from zombiewatch.domain.views import ContainerView, JobView, PodPhase, PodView

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
IMAGE = Cause(CauseKind.IMAGE, "localhost/agent:missing")
SECRET = Cause(CauseKind.OBJECT, "secret/db-creds")
NODE = Cause(CauseKind.NODE, "node-1")
POLICY = StormPolicy(threshold=3, gather=timedelta(seconds=30), window=timedelta(minutes=10),
                     hold=timedelta(minutes=15), recovery=timedelta(seconds=330))


def pull_failure(cause: Cause | None = IMAGE) -> Verdict:
    return Verdict(ZombieReason.IMAGE_PULL_BACKOFF, Rule.WAITING_IMAGE_PULL, cause=cause)


def job(name: str, *, failed: str | None = None, complete: bool = False) -> JobView:
    return JobView(namespace="agents", name=name, uid=f"uid-{name}", task_id=f"task-{name}",
                   assignee="a", created_at=T0, started_at=T0, failed_reason=failed,
                   complete=complete)


def pod(job_name: str, phase: PodPhase = PodPhase.PENDING, *, scheduled: bool | None = True,
        waiting: str | None = "ImagePullBackOff") -> PodView:
    return PodView(namespace="agents", name=f"{job_name}-p", uid=f"p-{job_name}",
                   task_id=f"task-{job_name}", job_name=job_name, phase=phase,
                   status_reason=None, created_at=T0, scheduled=scheduled,
                   containers=(ContainerView(name="agent", waiting_reason=waiting,
                                             running=phase is PodPhase.RUNNING),))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def recheck(guard: StormGuard, name: str, decision: Decision, now: datetime, *,
            phase: PodPhase = PodPhase.PENDING, failed: str | None = None) -> Admission:
    return guard.recheck(name, decision, job=job(name, failed=failed),
                         pods=(pod(name, phase),), now=now)


# Gathering and incidents --------------------------------------------------------------


def test_a_zombie_without_a_cause_is_published_at_once() -> None:
    guard = StormGuard(POLICY)
    assert guard.offer("j-1", None, now=T0) is Admission.PUBLISH
    assert guard.held() == []


def test_a_lone_zombie_with_a_cause_is_held_for_the_gathering_then_released() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    assert guard.offer("j-1", IMAGE, now=T0, task_id="t-1") is Admission.HOLD
    # Act
    before = recheck(guard, "j-1", pull_failure(), at(29.9))
    after = recheck(guard, "j-1", pull_failure(), at(30))
    # Assert
    assert before is Admission.HOLD
    assert after is Admission.PUBLISH
    assert guard.held() == []
    assert guard.take_changes() == []  # no incident for one Job


def test_the_threshold_within_the_window_opens_one_incident_holding_every_job() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    # Act
    admissions = [guard.offer(f"j-{n}", IMAGE, now=at(n), task_id=f"t-{n}") for n in range(10)]
    # Assert
    assert set(admissions) == {Admission.HOLD}
    changes = guard.take_changes()
    assert changes == [IncidentOpened(IMAGE, at(2), ("j-0", "j-1", "j-2"), ("t-0", "t-1", "t-2"))]
    assert guard.open_incidents == 1
    assert sorted(guard.held()) == sorted(f"j-{n}" for n in range(10))
    # Past the gathering, an incident's Jobs stay held.
    assert all(recheck(guard, f"j-{n}", pull_failure(), at(300)) is Admission.HOLD
               for n in range(10))


def test_a_zombie_of_another_cause_in_the_same_window_is_not_held_in_the_incident() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    for n in range(3):
        guard.offer(f"j-{n}", IMAGE, now=T0)
    # Act
    crash = guard.offer("crash", None, now=at(1))
    secret = guard.offer("secret", SECRET, now=at(1))
    # Assert
    assert crash is Admission.PUBLISH
    assert secret is Admission.HOLD
    assert guard.incident_of("secret") is None
    assert recheck(guard, "secret", pull_failure(SECRET), at(31)) is Admission.PUBLISH


def test_jobs_seen_outside_the_window_do_not_count() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    guard.offer("j-0", IMAGE, now=T0)
    recheck(guard, "j-0", pull_failure(), at(30))  # released alone
    guard.offer("j-1", IMAGE, now=at(601))
    # Act
    guard.offer("j-2", IMAGE, now=at(602))
    # Assert
    assert guard.open_incidents == 0


def test_a_job_released_alone_still_counts_towards_the_threshold() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    guard.offer("j-0", IMAGE, now=T0)
    assert recheck(guard, "j-0", pull_failure(), at(30)) is Admission.PUBLISH
    # Act
    guard.offer("j-1", IMAGE, now=at(40))
    guard.offer("j-2", IMAGE, now=at(41))
    # Assert
    assert [type(c) for c in guard.take_changes()] == [IncidentOpened]
    assert guard.incident_of("j-2") == IMAGE
    assert guard.offer("j-0", IMAGE, now=at(42)) is Admission.PUBLISH  # released before


# Release ------------------------------------------------------------------------------


def storm(guard: StormGuard, jobs: int = 5) -> None:
    for n in range(jobs):
        guard.offer(f"j-{n}", IMAGE, now=T0, task_id=f"t-{n}")
    guard.take_changes()


def test_a_job_that_got_past_the_pull_publishes_nothing_and_clears_the_cause() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    storm(guard)
    # Act
    recovered = recheck(guard, "j-0", None, at(120), phase=PodPhase.RUNNING)
    # The others still wait on their back-off: given the recovery time.
    still = recheck(guard, "j-1", pull_failure(), at(121))
    # Assert
    assert recovered is Admission.RECOVERED
    assert still is Admission.HOLD
    assert guard.next_release() == at(120 + 330)


def test_after_the_cause_cleared_each_job_recovers_or_is_published_once() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    storm(guard, 4)
    recheck(guard, "j-0", None, at(120), phase=PodPhase.RUNNING)
    recheck(guard, "j-1", None, at(200), phase=PodPhase.RUNNING)
    # Act
    published = [recheck(guard, f"j-{n}", pull_failure(), at(450)) for n in (2, 3)]
    again = [recheck(guard, f"j-{n}", pull_failure(), at(451)) for n in (2, 3)]
    # Assert
    assert published == [Admission.PUBLISH, Admission.PUBLISH]
    assert again == [Admission.DROP, Admission.DROP]  # no longer held
    assert guard.take_changes() == [IncidentClosed(IMAGE, T0, at(450), Ending.CLEARED,
                                                   held=4, recovered=2, released=2)]


def test_a_failed_job_is_released_as_soon_as_the_cause_cleared() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    storm(guard, 3)
    recheck(guard, "j-0", None, at(60), phase=PodPhase.RUNNING)
    # Act
    dead = recheck(guard, "j-1", pull_failure(), at(61), failed="DeadlineExceeded")
    # Assert
    assert dead is Admission.PUBLISH


def test_the_bound_releases_an_incident_that_never_clears() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    storm(guard, 3)
    # Act
    before = recheck(guard, "j-0", pull_failure(), at(899))
    released = [recheck(guard, f"j-{n}", pull_failure(), at(900)) for n in range(3)]
    # Assert
    assert before is Admission.HOLD
    assert released == [Admission.PUBLISH] * 3
    assert guard.take_changes() == [IncidentClosed(IMAGE, T0, at(900), Ending.EXPIRED,
                                                   held=3, recovered=0, released=3)]


def test_a_held_job_the_gate_settled_otherwise_is_dropped() -> None:
    guard = StormGuard(POLICY)
    storm(guard, 3)
    assert recheck(guard, "j-0", Hold.SUPERSEDED, at(10)) is Admission.DROP
    assert guard.holds("j-0") is None
    assert guard.open_incidents == 1  # not evidence that the cause cleared


def test_a_held_job_now_a_zombie_without_a_cause_is_published_at_once() -> None:
    guard = StormGuard(POLICY)
    storm(guard, 3)
    crash = Verdict(ZombieReason.POD_CRASH_NO_STDOUT, Rule.FAILED_NONZERO_EXIT, "Error/1")
    assert recheck(guard, "j-0", crash, at(10)) is Admission.PUBLISH


def test_a_job_not_a_zombie_at_its_release_publishes_nothing() -> None:
    guard = StormGuard(POLICY)
    guard.offer("j-0", IMAGE, now=T0)
    assert recheck(guard, "j-0", None, at(10)) is Admission.HOLD  # e.g. a pod terminating
    assert recheck(guard, "j-0", None, at(30)) is Admission.DROP


def test_a_node_incident_clears_only_from_outside_evidence() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    for n in range(3):
        guard.offer(f"j-{n}", NODE, now=T0)
    # Act
    held = recheck(guard, "j-0", pull_failure(NODE), at(60), phase=PodPhase.RUNNING,
                   failed="BackoffLimitExceeded")
    guard.clear(NODE, now=at(61))
    released = recheck(guard, "j-0", pull_failure(NODE), at(61), failed="BackoffLimitExceeded")
    # Assert
    assert held is Admission.HOLD
    assert released is Admission.PUBLISH


# Evidence -----------------------------------------------------------------------------


def test_got_past_by_kind() -> None:
    running = (pod("j", PodPhase.RUNNING),)
    pending_scheduled = (pod("j", scheduled=True),)
    unscheduled = (pod("j", scheduled=False),)
    j = job("j")
    assert got_past(IMAGE, j, running)
    assert not got_past(IMAGE, j, pending_scheduled)
    assert got_past(SECRET, j, running)
    assert not got_past(SECRET, j, pending_scheduled)
    scheduling = Cause(CauseKind.SCHEDULING, "0/1 nodes are available")
    assert got_past(scheduling, j, pending_scheduled)
    assert not got_past(scheduling, j, unscheduled)
    quota = Cause(CauseKind.ADMISSION, "resourcequota/none")
    assert got_past(quota, j, unscheduled)
    assert not got_past(quota, j, ())
    assert not got_past(NODE, j, running)
    assert all(got_past(c, job("j", complete=True), ()) for c in (IMAGE, NODE, quota))
    assert can_run_again(j)
    assert not can_run_again(job("j", failed="DeadlineExceeded"))
    assert not can_run_again(None)


def test_group_by_cause_keeps_the_causes_past_the_threshold() -> None:
    zombies = [(f"j-{n}", f"t-{n}", IMAGE) for n in range(3)] + [
        ("s-1", "t-s", SECRET), ("s-2", "t-s", SECRET), ("c", "t-c", None)]
    assert group_by_cause(zombies, threshold=3) == (
        CauseGroup(IMAGE, ("j-0", "j-1", "j-2"), ("t-0", "t-1", "t-2")),)
    assert [g.cause for g in group_by_cause(zombies, threshold=2)] == [IMAGE, SECRET]


# Properties ---------------------------------------------------------------------------

CAUSES = st.sampled_from([IMAGE, SECRET, NODE, None])
JOBS = st.sampled_from([f"j-{n}" for n in range(6)])
DECISIONS = st.one_of(st.none(), st.just(Hold.SUPERSEDED),
                      CAUSES.map(pull_failure))
STEP = st.one_of(
    st.tuples(st.just("offer"), JOBS, CAUSES, st.floats(0, 120)),
    st.tuples(st.just("recheck"), JOBS, DECISIONS, st.floats(0, 120),
              st.sampled_from(list(PodPhase)), st.booleans()),
    st.tuples(st.just("clear"), CAUSES.filter(lambda c: c is not None), st.floats(0, 120)),
)


def play(guard: StormGuard, steps: list[tuple[object, ...]]) -> tuple[datetime, dict[str, int]]:
    """Run ``steps`` (each advancing time); count each Job's releases by ``recheck``."""
    now = T0
    releases: dict[str, int] = {}
    for step in steps:
        seconds = step[-1] if step[0] != "recheck" else step[3]
        assert isinstance(seconds, float)
        now += timedelta(seconds=seconds)
        match step:
            case ("offer", str(name), cause, _):
                assert isinstance(cause, Cause | None)
                guard.offer(name, cause, now=now)
            case ("recheck", str(name), decision, _, phase, failed):
                assert isinstance(decision, Verdict | Hold | None)
                assert isinstance(phase, PodPhase)
                if guard.holds(name) is not None and recheck(
                        guard, name, decision, now, phase=phase,
                        failed="BackoffLimitExceeded" if failed else None) is Admission.PUBLISH:
                    releases[name] = releases.get(name, 0) + 1
            case ("clear", cause, _):
                assert isinstance(cause, Cause)
                guard.clear(cause, now=now)
    return now, releases


@settings(max_examples=300)
@given(st.lists(STEP, max_size=40), JOBS)
def test_nothing_without_a_cause_is_delayed(steps: list[tuple[object, ...]], name: str) -> None:
    guard = StormGuard(POLICY)
    now, _ = play(guard, steps)
    assert guard.offer(name, None, now=now) is Admission.PUBLISH
    assert guard.holds(name) is None


@settings(max_examples=300)
@given(st.lists(STEP, max_size=40))
def test_a_held_job_is_released_at_most_once_while_its_release_is_remembered(
        steps: list[tuple[object, ...]]) -> None:
    # Hold is 15 min and the steps stay within 40 x 120 s = 80 min: bounded below by
    # using a policy whose hold outlasts the whole run.
    guard = StormGuard(StormPolicy(threshold=3, gather=timedelta(seconds=30),
                                   window=timedelta(minutes=10), hold=timedelta(hours=2),
                                   recovery=timedelta(seconds=330)))
    _, releases = play(guard, steps)
    assert all(count == 1 for count in releases.values())


@settings(max_examples=300)
@given(st.lists(STEP, max_size=40))
def test_the_bound_always_releases(steps: list[tuple[object, ...]]) -> None:
    # Arrange
    guard = StormGuard(POLICY)
    now, _ = play(guard, steps)
    held = {name: guard.holds(name) for name in guard.held()}
    # Act: the bound has passed for every Job held now, whatever the state.
    later = now + POLICY.hold
    results = {name: recheck(guard, name, pull_failure(cause), later)
               for name, cause in held.items()}
    # Assert
    assert set(results.values()) <= {Admission.PUBLISH}
    assert guard.held() == []
    assert guard.open_incidents == 0
    assert guard.next_release() is None


@settings(max_examples=300)
@given(st.lists(STEP, max_size=40), st.integers(3, 8))
def test_after_a_clear_every_still_zombie_job_is_published_exactly_once(
        steps: list[tuple[object, ...]], jobs: int) -> None:
    # Arrange: whatever came before, a storm of one cause, then the cause clears.
    guard = StormGuard(POLICY)
    now, _ = play(guard, steps)
    names = [f"s-{n}" for n in range(jobs)]
    for name in names:
        guard.offer(name, SECRET, now=now)
    guard.clear(SECRET, now=now + timedelta(seconds=1))
    published = dict.fromkeys(names, 0)
    # Act: checks every 10 s until the recovery time is over, still failing each time.
    for tick in range(0, 400, 10):
        moment = now + timedelta(seconds=1 + tick)
        for name in names:
            if guard.holds(name) == SECRET and recheck(
                    guard, name, pull_failure(SECRET), moment) is Admission.PUBLISH:
                published[name] += 1
    # Assert
    assert published == dict.fromkeys(names, 1)
    assert not any(guard.holds(name) for name in names)


def test_a_running_container_of_the_image_clears_an_image_incident() -> None:
    # Arrange
    guard = StormGuard(POLICY)
    storm(guard, 3)
    other = pod("elsewhere", PodPhase.RUNNING)
    pulled = replace(other, containers=tuple(replace(c, image=IMAGE.subject)
                                             for c in other.containers))
    # Act
    unrelated = guard.observe([other], now=at(60))
    cleared = guard.observe([pulled], now=at(61))
    # Assert
    assert not unrelated
    assert cleared
    assert guard.next_release() == at(61 + 330)


def test_a_new_pod_running_on_the_node_clears_a_node_incident() -> None:
    guard = StormGuard(POLICY)
    for n in range(3):
        guard.offer(f"j-{n}", NODE, now=at(10))
    before = replace(pod("old", PodPhase.RUNNING), node_name="node-1")
    after = replace(before, created_at=at(20))
    assert not clears(NODE, before, opened_at=at(10))
    assert not guard.observe([before], now=at(30))
    assert guard.observe([after], now=at(31))
    assert recheck(guard, "j-0", pull_failure(NODE), at(31), failed="BackoffLimitExceeded") \
        is Admission.PUBLISH

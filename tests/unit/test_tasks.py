"""The task state as the controller's values say it, and the compact store of all tasks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.tasks import (
    TaskProblem,
    TaskState,
    TaskStates,
    controller_int,
    task_id_of,
    task_key,
    task_state,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)


def state(**overrides: object) -> TaskState | TaskProblem:
    values: dict[str, object] = {
        "current_job": "claude-4aa57614-20260602091530", "job_started_at": "2026-06-02T09:15:30Z",
        "assignee": "claude", "trigger_count": 1, "max_triggers": 3, "phase": "in_progress"}
    values.update(overrides)
    return task_state(**values)


def test_a_well_formed_task_keeps_its_values() -> None:
    assert state(target_vault="personal", status="in_progress") == TaskState(
        current_job="claude-4aa57614-20260602091530",
        job_started_at=datetime(2026, 6, 2, 9, 15, 30, tzinfo=UTC), assignee="claude",
        trigger_count=1, max_triggers=3, phase="in_progress", target_vault="personal",
        status="in_progress")


@pytest.mark.parametrize("value", [None, 7, True, ["personal"], {"vault": "personal"}, 1.5])
def test_a_vault_or_status_that_is_not_a_string_is_unknown_not_a_problem(value: object) -> None:
    # Unknown: the failure then goes to every vault, and the task is not taken for closed.
    result = state(target_vault=value, status=value)
    assert isinstance(result, TaskState)
    assert (result.target_vault, result.status, result.closed) == ("", "", False)


@pytest.mark.parametrize(("status", "closed"), [
    ("completed", True), ("aborted", True), ("in_progress", False), ("todo", False),
    ("", False), ("Completed", False), (" completed", False),
])
def test_only_completed_and_aborted_tasks_are_closed(status: str, closed: bool) -> None:
    result = state(status=status)
    assert isinstance(result, TaskState)
    assert result.closed is closed


@pytest.mark.parametrize(("value", "expected"), [
    (2, 2), (2.9, 2), (-1.5, -1), ("2", 0), (True, 0), (None, 0), ([1], 0), (float("nan"), 0),
])
def test_trigger_count_is_read_as_the_controller_reads_it(value: object, expected: int) -> None:
    assert controller_int(value, default=0) == expected


def test_max_triggers_defaults_to_three_and_zero_is_kept() -> None:
    assert isinstance(missing := state(max_triggers=None), TaskState)
    assert missing.max_triggers == 3
    assert isinstance(quoted := state(max_triggers="5"), TaskState)
    assert quoted.max_triggers == 3
    assert isinstance(zero := state(max_triggers=0), TaskState)
    assert zero.max_triggers == 0


def test_missing_strings_are_empty_and_no_start_time_is_none() -> None:
    idle = state(current_job=None, job_started_at=None, assignee=None, phase=None)
    assert idle == TaskState(current_job="", job_started_at=None, assignee="", trigger_count=1,
                             max_triggers=3, phase="")
    assert isinstance(empty := state(job_started_at=""), TaskState)
    assert empty.job_started_at is None


@pytest.mark.parametrize(("field", "value"), [
    ("current_job", 42), ("assignee", ["a"]), ("phase", {"x": 1}),
    ("job_started_at", "yesterday"), ("job_started_at", "2026-06-02T09:15:30"),
    ("job_started_at", 1780000000),
])
def test_a_field_of_the_wrong_type_is_a_problem_named_after_it(field: str, value: object) -> None:
    assert state(**{field: value}) == TaskProblem(field)


@given(st.tuples(JSON, JSON, JSON, JSON, JSON, JSON), JSON, JSON)
def test_any_json_values_give_a_state_or_a_problem(
    values: tuple[object, ...], vault: object, status: object
) -> None:
    a, b, c, d, e, f = values
    result = task_state(current_job=a, job_started_at=b, assignee=c, trigger_count=d,
                        max_triggers=e, phase=f, target_vault=vault, status=status)
    assert isinstance(result, TaskState | TaskProblem)
    # The vault and the status never make a problem of an event the other values allow.
    assert type(result) is type(task_state(current_job=a, job_started_at=b, assignee=c,
                                           trigger_count=d, max_triggers=e, phase=f))
    if isinstance(result, TaskState):
        assert result.target_vault == (vault if isinstance(vault, str) else "")


@given(st.uuids() | st.text(max_size=40))
def test_task_keys_round_trip(task_id: uuid.UUID | str) -> None:
    text = str(task_id)
    assert task_id_of(task_key(text)) == text


def test_only_canonical_uuids_are_stored_as_integers() -> None:
    canonical = "4aa57614-2026-4602-8915-30aabbccddee"
    assert isinstance(task_key(canonical), int)
    assert task_key(canonical.upper()) == canonical.upper()
    states = TaskStates()
    one, other = state(), state(current_job="")
    assert isinstance(one, TaskState)
    assert isinstance(other, TaskState)
    states.put(canonical, one)
    states.put(canonical.upper(), other)
    assert states.get(canonical) == one
    assert states.get(canonical.upper()) == other
    assert len(states) == 2


def test_idle_states_are_shared_between_tasks() -> None:
    states = TaskStates()
    for n in range(3):
        idle = state(current_job="", job_started_at=None)
        assert isinstance(idle, TaskState)
        states.put(str(uuid.UUID(int=n)), idle)
    first, second, third = (states.get(str(uuid.UUID(int=n))) for n in range(3))
    assert first is second is third


def test_idle_states_of_two_vaults_are_never_shared() -> None:
    states = TaskStates()
    for n, vault in enumerate(("personal", "work")):
        idle = state(current_job="", job_started_at=None, target_vault=vault)
        assert isinstance(idle, TaskState)
        states.put(str(uuid.UUID(int=n)), idle)
    vaults = [states.get(str(uuid.UUID(int=n))) for n in range(2)]
    assert [v.target_vault if v else None for v in vaults] == ["personal", "work"]


def in_flight(states: TaskStates) -> list[str]:
    """The tasks whose ``current_job`` names a Job, through the job index the product reads."""
    return [named[0] for job in states.jobs_in_flight()
            if (named := states.naming(job)) is not None]


def test_in_flight_lists_tasks_with_a_current_job_and_remove_forgets() -> None:
    states = TaskStates()
    busy, idle = state(), state(current_job="")
    assert isinstance(busy, TaskState)
    assert isinstance(idle, TaskState)
    states.put("task-busy", busy)
    states.put("task-idle", idle)
    assert in_flight(states) == ["task-busy"]
    states.remove("task-busy")
    states.remove("never-there")
    assert "task-busy" not in states
    assert [task for task, _ in states.items()] == ["task-idle"]


def test_the_job_index_follows_every_change_of_current_job() -> None:
    states = TaskStates()
    task = str(uuid.UUID(int=7))

    def put(job: str) -> None:
        value = state(current_job=job)
        assert isinstance(value, TaskState)
        states.put(task, value)

    put("job-1")
    assert set(states.jobs_in_flight()) == {"job-1"}
    assert states.naming("job-1") == (task, states.get(task))
    put("job-2")  # re-dispatched
    assert set(states.jobs_in_flight()) == {"job-2"}
    assert states.naming("job-1") is None
    put("")  # freed
    assert set(states.jobs_in_flight()) == set()
    put("job-3")
    states.remove(task)  # tombstone
    assert set(states.jobs_in_flight()) == set()
    assert in_flight(states) == []


def test_a_job_named_by_two_tasks_stays_indexed_until_neither_names_it() -> None:
    states = TaskStates()
    busy = state(current_job="job-x")
    assert isinstance(busy, TaskState)
    states.put("task-a", busy)
    states.put("task-b", busy)
    assert states.naming("job-x") == ("task-b", busy)
    states.remove("task-a")  # not the one indexed: the index keeps task-b
    assert states.naming("job-x") == ("task-b", busy)
    states.remove("task-b")
    assert states.naming("job-x") is None
    states.put("task-a", busy)
    states.clear()
    assert set(states.jobs_in_flight()) == set()

"""The task as the controller last published it: a compact state per task (SPEC §6, §13).

The controller publishes every changed task on its event topic. Of the whole
task (frontmatter and markdown body) zombiewatch keeps eight values, enough to
tell whether a Job is still its task's ``current_job`` and when it started,
whether the task is closed, and which vault's controller owns it:
:class:`TaskState`. The values are read the way the controller reads them
(``trigger_count`` / ``max_triggers`` as integers, a float truncated, anything
else 0 / 3), so the state agrees with what the controller will do next.

:class:`TaskStates` holds the states of every task of the vault: tens of
thousands in a large one, so it is built for size. Task ids that are canonical
UUIDs are kept as 128-bit integers, the few distinct idle states (no
``current_job``) are shared between tasks, and repeated strings (assignees,
phases) are interned. ``make bench`` prints the bytes per task.
"""

from __future__ import annotations

import math
import sys
import uuid
from collections.abc import Iterator, KeysView, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from zombiewatch.domain.views import InFlightJob

DEFAULT_MAX_TRIGGERS: Final = 3
"""The controller's default when ``max_triggers`` is missing or not a number."""

CLOSED_STATUSES: Final = frozenset({"completed", "aborted"})
"""Task statuses after which no Job of the task is reported (executor v0.13)."""

_SHARED_STATES_LIMIT: Final = 4096
"""Distinct idle states shared at most (assignee x phase x counters is small in practice)."""


@dataclass(frozen=True, slots=True)
class TaskState:
    """What the feed knows of one task."""

    current_job: str
    """The Job in flight for the task, ``""`` when none."""
    job_started_at: datetime | None
    """When ``current_job`` was spawned (the host's ``job_started_at``), if known; None
    for an idle task."""
    assignee: str
    trigger_count: int
    max_triggers: int
    phase: str
    target_vault: str = ""
    """The task's own ``target_vault`` (the controller stamps it); ``""`` when absent or not
    a string. Failures for the task name it as ``targetVault`` so only that vault applies them."""
    status: str = ""
    """The task's ``status``; a ``completed`` or ``aborted`` task is never reported."""

    @property
    def closed(self) -> bool:
        """The task is done with (``completed``/``aborted``): today's executor ignores it."""
        return self.status in CLOSED_STATUSES


@dataclass(frozen=True, slots=True)
class TaskProblem:
    """Why a task event was not understood (a label value for the metric)."""

    why: str


def task_state(
    *,
    current_job: object,
    job_started_at: object,
    assignee: object,
    trigger_count: object,
    max_triggers: object,
    phase: object,
    target_vault: object = None,
    status: object = None,
) -> TaskState | TaskProblem:
    """The state of a task from its frontmatter values as the event carried them.

    Strings that are missing (``None``) count as empty; a string field holding
    another type, or a start time that is not RFC 3339, makes the event a
    problem: guessing would let a wrong ``current_job`` silence a zombie.
    ``target_vault`` and ``status`` that are not strings count as unknown
    (``""``): the failure is then sent to every vault, the task not skipped.
    """
    job = _text(current_job)
    if job is None:
        return TaskProblem("current_job")
    who = _text(assignee)
    if who is None:
        return TaskProblem("assignee")
    where = _text(phase)
    if where is None:
        return TaskProblem("phase")
    try:
        started = _moment(job_started_at)
    except ValueError:
        return TaskProblem("job_started_at")
    return TaskState(
        current_job=job,
        # An idle task's start time says nothing (no Job in flight) and would make every
        # idle state distinct: the few shared ones would become one per task ever freed.
        job_started_at=started if job else None,
        assignee=sys.intern(who),
        trigger_count=controller_int(trigger_count, default=0),
        max_triggers=controller_int(max_triggers, default=DEFAULT_MAX_TRIGGERS),
        phase=sys.intern(where),
        target_vault=sys.intern(target_vault) if isinstance(target_vault, str) else "",
        status=sys.intern(status) if isinstance(status, str) else "",
    )


def controller_int(value: object, *, default: int) -> int:
    """An integer field as the controller reads it: int, float truncated, else ``default``."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return default


def _text(value: object) -> str | None:
    if value is None:
        return ""
    return value if isinstance(value, str) else None


def _moment(value: object) -> datetime | None:
    """An RFC 3339 time with its offset; ValueError for anything else that is not empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"no offset: {value!r}")
    return moment.astimezone(UTC)


TaskKey = int | str
"""A task id as stored: the UUID's integer for canonical UUIDs (smaller), else the text."""


def task_key(task_id: str) -> TaskKey:
    """The stored form of ``task_id``; reversible, so keys of both forms never collide."""
    if len(task_id) == 36:
        try:
            parsed = uuid.UUID(task_id)
        except ValueError:
            return task_id
        if str(parsed) == task_id:
            return parsed.int
    return task_id


def task_id_of(key: TaskKey) -> str:
    return key if isinstance(key, str) else str(uuid.UUID(int=key))


class TaskStates:
    """Every task the feed knows, by task id (mutable, pure; owned by the feed).

    Tasks with a Job in flight are also indexed by that Job's name (the key
    shares the state's string), so a sweep finds the Jobs the cluster lacks by
    one set difference instead of a lookup per task.
    """

    __slots__ = ("_by_job", "_shared", "_states")

    def __init__(self) -> None:
        self._states: dict[TaskKey, TaskState] = {}
        self._shared: dict[TaskState, TaskState] = {}
        self._by_job: dict[str, TaskKey] = {}

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, task_id: str) -> bool:
        return task_key(task_id) in self._states

    def get(self, task_id: str) -> TaskState | None:
        return self._states.get(task_key(task_id))

    def put(self, task_id: str, state: TaskState) -> None:
        if not state.current_job:
            shared = self._shared.get(state)
            if shared is not None:
                state = shared
            elif len(self._shared) < _SHARED_STATES_LIMIT:
                self._shared[state] = state
        key = task_key(task_id)
        self._unindex(key)
        self._states[key] = state
        if state.current_job:
            self._by_job[state.current_job] = key

    def remove(self, task_id: str) -> None:
        key = task_key(task_id)
        self._unindex(key)
        self._states.pop(key, None)

    def clear(self) -> None:
        self._states.clear()
        self._shared.clear()
        self._by_job.clear()

    @property
    def shared_states(self) -> int:
        """Distinct idle states shared between tasks (at most ``_SHARED_STATES_LIMIT``)."""
        return len(self._shared)

    def items(self) -> Iterator[tuple[str, TaskState]]:
        for key, state in self._states.items():
            yield task_id_of(key), state

    def jobs_in_flight(self) -> KeysView[str]:
        """The Jobs named by some task's ``current_job`` (a live view)."""
        return self._by_job.keys()

    def naming(self, job_name: str) -> tuple[str, TaskState] | None:
        """The task whose ``current_job`` is ``job_name`` (the latest to name it)."""
        key = self._by_job.get(job_name)
        return None if key is None else (task_id_of(key), self._states[key])

    def _unindex(self, key: TaskKey) -> None:
        old = self._states.get(key)
        if old is not None and old.current_job and self._by_job.get(old.current_job) == key:
            del self._by_job[old.current_job]


class TaskSource(Protocol):
    """The task feed as the judge and the sweeper read it.

    :meth:`get` answers from whatever was read, even while the feed is down or
    catching up: good enough to know a Job was replaced (a replaced Job never
    becomes current again). :meth:`ready` says whether the states are current
    (the feed is up and has read to the end); only then may a task's
    ``current_job`` stand for a Job in flight (:meth:`jobs_in_flight`), since a
    stale one may name a Job whose task was freed meanwhile.
    """

    def get(self, task_id: str) -> TaskState | None: ...

    def ready(self) -> bool: ...

    def jobs_in_flight(self) -> Set[str]:
        """The Jobs some task names as its ``current_job``; none while not :meth:`ready`."""
        ...

    def naming(self, job_name: str) -> tuple[str, TaskState] | None:
        """The task (id, state) whose ``current_job`` is ``job_name``, if any."""
        ...


def feed_registration(task_id: str, state: TaskState) -> InFlightJob:
    """The task's ``current_job`` as an in-flight record, like the host's registration
    (SPEC §6): the third source of in-flight work, for a Job the cluster does not have."""
    return InFlightJob(task_id=task_id, job_name=state.current_job, assignee=state.assignee,
                       started_at=state.job_started_at)

"""A reference controller that does to a task file what the agent system's controller does.

Built from the controller's observed behaviour (the 83 conformance cases in
``tests/data/controller-vectors.json`` pass): the consumer's envelope rules
and the two executors' rules are :mod:`zombiewatch.domain.consumer` and
:mod:`zombiewatch.domain.taskfile`; the file split and yaml.v3's reading and
writing are :mod:`zombiewatch.testing._taskfile_text` and
:mod:`zombiewatch.testing._yamlv3`. The written YAML is not byte-identical to
yaml.v3's, but it reads back to the same values, kinds and body.

Nothing here raises on data: every record gets an :class:`Outcome`.

>>> from datetime import UTC, datetime
>>> applied = apply_record("---\\ntask_identifier: t1\\n---\\n", b"not json",
...                        now=datetime.now(UTC))
>>> applied.outcome
<Outcome.DROPPED_UNMARSHAL: 'dropped_unmarshal'>
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from zombiewatch.domain.commands import Operation
from zombiewatch.domain.consumer import (
    IncrementRequest,
    Outcome,
    UpdateRequest,
    decode_increment,
    decode_update,
    envelope_outcome,
    is_expired,
)
from zombiewatch.domain.taskfile import Frontmatter, TaskFile, increment, is_noop_update, update
from zombiewatch.testing._envelope import EnvelopeError, decode_envelope
from zombiewatch.testing._taskfile_text import (
    TaskTextError,
    extract_frontmatter,
    read_back,
    read_task_text,
    write_task_text,
)
from zombiewatch.testing._yamlv3 import task_identifier_text

TASKS_DIR: Final = "tasks/"
TASK_PATH: Final = "tasks/task.md"
"""Where :func:`apply_record` keeps its one file."""

__all__ = ["TASK_PATH", "Applied", "Dispatch", "Outcome", "ReferenceController", "apply_record"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """One record applied to one task file.

    ``frontmatter`` and ``body`` are the new file read back with the
    controller's parser (None, with ``parse_error`` set, when it cannot read
    it: the controller would then answer ``error`` or not find the task).
    ``text`` is the whole file after the record (unchanged unless ``handled``).
    """

    outcome: Outcome
    frontmatter: Frontmatter | None
    body: str | None
    text: str
    parse_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Dispatch:
    """What the controller did with one record of a stream."""

    outcome: Outcome
    path: str | None = None
    """The task file looked at (found or written), if any."""
    task_identifier: str | None = None
    error: str | None = None


def is_task_path(path: str) -> bool:
    """``tasks/*.md``: the only files the lookup reads."""
    return (
        path.startswith(TASKS_DIR) and path.endswith(".md") and "/" not in path[len(TASKS_DIR):]
    )


@dataclass
class ReferenceController:
    """A vault of task files (path → text) and the controller's consumer in front of it.

    ``history`` keeps every :class:`Dispatch`, in order. The same record
    applied twice is applied twice, as the real consumer does on redelivery.
    """

    files: dict[str, str] = field(default_factory=dict)
    history: list[Dispatch] = field(default_factory=list)

    def put(self, path: str, text: str) -> None:
        self.files[path] = text

    def find(self, task_identifier: str) -> str | None:
        """The first ``tasks/*.md`` (by path) whose ``task_identifier`` text is this one."""
        for path in sorted(self.files):
            if not is_task_path(path):
                continue
            frontmatter = extract_frontmatter(self.files[path])
            if frontmatter is None:
                continue
            if task_identifier_text(frontmatter) == task_identifier:
                return path
        return None

    def task(self, task_identifier: str) -> TaskFile | None:
        """The task as the controller reads it, or None when not found or unreadable."""
        path = self.find(task_identifier)
        if path is None:
            return None
        try:
            return read_task_text(self.files[path])
        except TaskTextError:
            return None

    def apply(self, value: bytes, *, now: datetime) -> Dispatch:
        """Consume one record value at ``now``."""
        dispatch = self._dispatch(value, now=now)
        self.history.append(dispatch)
        return dispatch

    def apply_all(self, values: Iterable[bytes], *, now: datetime) -> list[Dispatch]:
        return [self.apply(value, now=now) for value in values]

    def _dispatch(self, value: bytes, *, now: datetime) -> Dispatch:
        try:
            envelope = decode_envelope(value)
        except EnvelopeError as exc:
            return Dispatch(outcome=Outcome.DROPPED_UNMARSHAL, error=str(exc))
        if is_expired(envelope.request_time, now=now):
            return Dispatch(outcome=Outcome.DROPPED_EXPIRED)
        dropped = envelope_outcome(
            request_id=envelope.request_id,
            operation=envelope.operation,
            initiator=envelope.initiator,
        )
        if dropped is not None:
            return Dispatch(outcome=dropped)
        request: UpdateRequest | IncrementRequest | None
        if envelope.operation == Operation.UPDATE_FRONTMATTER:
            request = decode_update(envelope.data)
        else:
            request = decode_increment(envelope.data)
        if request is None:
            return Dispatch(outcome=Outcome.SKIPPED)
        if isinstance(request, UpdateRequest) and is_noop_update(request.updates, request.body):
            return Dispatch(outcome=Outcome.HANDLED_NOOP, task_identifier=request.task_identifier)
        return self._execute(request)

    def _execute(self, request: UpdateRequest | IncrementRequest) -> Dispatch:
        task_id = request.task_identifier
        path = self.find(task_id)
        if path is None:
            return Dispatch(outcome=Outcome.HANDLED_TASK_NOT_FOUND, task_identifier=task_id)
        try:
            task = read_task_text(self.files[path])
        except TaskTextError as exc:
            return Dispatch(outcome=Outcome.ERROR, path=path, task_identifier=task_id,
                            error=str(exc))
        if isinstance(request, UpdateRequest):
            changed = update(task, request.updates, request.body)
        else:
            changed = increment(task, request.field, request.delta)
        self.files[path] = write_task_text(changed)
        return Dispatch(outcome=Outcome.HANDLED, path=path, task_identifier=task_id)


def apply_record(file_text: str, value: bytes, *, now: datetime) -> Applied:
    """Apply one record value to a vault holding only ``file_text`` (at ``tasks/task.md``)."""
    controller = ReferenceController(files={TASK_PATH: file_text})
    dispatch = controller.apply(value, now=now)
    text = controller.files[TASK_PATH]
    back = read_back(text)
    return Applied(
        outcome=dispatch.outcome,
        frontmatter=back.frontmatter,
        body=back.body,
        text=text,
        parse_error=back.error,
    )


def vault(files: Mapping[str, str]) -> ReferenceController:
    """A controller over a copy of ``files``."""
    return ReferenceController(files=dict(files))

"""A reference controller that does to a task file what the agent system's controller does.

Built from the controller's observed behaviour: today's controller by default
(every case of ``tests/data/controller-vectors-current.json`` passes), the
v0.3 one with ``profile="v0.3"`` (every case of
``tests/data/controller-vectors.json``); the differences are
:mod:`zombiewatch.domain.controller_profile`. The consumer's envelope rules
and the two executors' rules are :mod:`zombiewatch.domain.consumer` and
:mod:`zombiewatch.domain.taskfile`; the file split and yaml.v3's reading and
writing are :mod:`zombiewatch.testing._taskfile_text` and
:mod:`zombiewatch.testing._yamlv3`. The written YAML is not byte-identical to
yaml.v3's, but it reads back to the same values, kinds and body.

Today's controller, in the order it decides:

1. the envelope (not JSON: ``dropped_unmarshal``; older than the 60-minute
   expiry: ``dropped_expired``; invalid: ``dropped_invalid``; an operation no
   executor handles: ignored);
2. the command data (wrong types, a non-string ``targetVault``: ``skipped``);
3. the vault: a ``targetVault`` other than its own ``vault`` is ``skipped``,
   before anything below, so no no-op, lookup or file rule applies to it;
4. an update with nothing to merge and no section: ``handled_noop``;
5. the lookup: the scanner's index first (``index``: a hit is read without
   checking its id), else every ``tasks/*.md`` whose ``task_identifier`` text
   is the id (none: ``handled_task_not_found``; two: ``error``);
6. the file split and YAML (unreadable: ``error``), the executor's rules, the
   ``target_vault`` stamp, the write.

Nothing here raises on data: every record gets an :class:`Outcome`.

>>> from datetime import UTC, datetime
>>> applied = apply_record("---\\ntask_identifier: t1\\n---\\n", b"not json",
...                        now=datetime.now(UTC))
>>> applied.outcome
<Outcome.DROPPED_UNMARSHAL: 'dropped_unmarshal'>
"""

from __future__ import annotations

from collections.abc import Iterable
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
    is_for_vault,
)
from zombiewatch.domain.controller_profile import ControllerProfile, controller_profile
from zombiewatch.domain.taskfile import (
    Frontmatter,
    TaskFile,
    increment,
    is_noop_update,
    stamp_vault,
    update,
)
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
VAULT: Final = "personal"
"""The controller's own vault name (its ``VAULT_NAME``) unless told otherwise."""
PROFILE: Final = "current"
"""Today's controller, unless told ``"v0.3"`` (:mod:`zombiewatch.domain.controller_profile`)."""

__all__ = [
    "PROFILE",
    "TASK_PATH",
    "VAULT",
    "Applied",
    "Dispatch",
    "Outcome",
    "ReferenceController",
    "apply_record",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """One record applied to one task file.

    ``frontmatter`` and ``body`` are the new file read back with the
    controller's parser (None, with ``parse_error`` set, when it cannot read
    it: the controller would then answer ``error`` or not find the task).
    ``text`` is the whole file after the record (unchanged unless ``handled``).
    ``detail`` says why a record was ``skipped`` (``decode: ...`` or
    ``vault_mismatch: ...``) or failed (``error``).
    """

    outcome: Outcome
    frontmatter: Frontmatter | None
    body: str | None
    text: str
    parse_error: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Dispatch:
    """What the controller did with one record of a stream."""

    outcome: Outcome
    path: str | None = None
    """The task file looked at (found or written), if any."""
    task_identifier: str | None = None
    error: str | None = None
    """Why it was skipped or failed (as :attr:`Applied.detail`)."""


def is_task_path(path: str) -> bool:
    """``tasks/*.md``: the only files the lookup reads."""
    return (
        path.startswith(TASKS_DIR) and path.endswith(".md") and "/" not in path[len(TASKS_DIR):]
    )


class _LookupError(Exception):
    """The lookup failed loudly (two files with one id): the command is an ``error``."""


@dataclass
class ReferenceController:
    """A vault of task files (path → text) and the controller's consumer in front of it.

    ``vault`` is the controller's own vault name; ``profile`` the controller
    it models (``"current"`` or ``"v0.3"``; anything else is a
    :class:`ValueError`); ``index`` the vault scanner's identifier → path
    index that today's lookup consults first (None: walk only, as v0.3 and
    as a freshly started controller). ``history`` keeps every
    :class:`Dispatch`, in order. The same record applied twice is applied
    twice, as the real consumer does on redelivery.
    """

    files: dict[str, str] = field(default_factory=dict)
    history: list[Dispatch] = field(default_factory=list)
    vault: str = VAULT
    profile: str = PROFILE
    index: dict[str, str] | None = None
    rules: ControllerProfile = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rules = controller_profile(self.profile)

    def put(self, path: str, text: str) -> None:
        self.files[path] = text

    def copy(self) -> ReferenceController:
        """Another controller of the same vault, profile and index over a copy of the files."""
        return ReferenceController(files=dict(self.files), vault=self.vault,
                                   profile=self.profile,
                                   index=None if self.index is None else dict(self.index))

    def find(self, task_identifier: str) -> str | None:
        """The first ``tasks/*.md`` (by path) whose ``task_identifier`` text is this one."""
        found = self._walk(task_identifier)
        return found[0] if found else None

    def _walk(self, task_identifier: str) -> list[str]:
        """Every readable ``tasks/*.md`` whose ``task_identifier`` text is this one, by path."""
        found = []
        for path in sorted(self.files):
            if not is_task_path(path):
                continue
            frontmatter = extract_frontmatter(self.files[path])
            if frontmatter is None:
                continue
            if task_identifier_text(frontmatter) == task_identifier:
                found.append(path)
        return found

    def _lookup(self, task_identifier: str) -> str | None:
        """The file a command for this id writes; :class:`_LookupError` when ambiguous."""
        indexed = None if self.index is None else self.index.get(task_identifier)
        if indexed is not None and indexed in self.files and (
                extract_frontmatter(self.files[indexed]) is not None):
            return indexed  # a hit is not re-checked: a stale entry still resolves
        found = self._walk(task_identifier)
        if len(found) > 1 and self.rules.unique_ids:
            raise _LookupError(
                f"duplicate task_identifier {task_identifier} in {' and '.join(found)}")
        return found[0] if found else None

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
        if is_expired(envelope.request_time, now=now, expiry=self.rules.expiry):
            return Dispatch(outcome=Outcome.DROPPED_EXPIRED)
        dropped = envelope_outcome(
            request_id=envelope.request_id,
            operation=envelope.operation,
            initiator=envelope.initiator,
        )
        if dropped is not None:
            return Dispatch(outcome=dropped)
        routed = self.rules.routes_by_vault
        request: UpdateRequest | IncrementRequest | None
        if envelope.operation == Operation.UPDATE_FRONTMATTER:
            request = decode_update(envelope.data, routed=routed)
        else:
            request = decode_increment(envelope.data, routed=routed)
        if request is None:
            return Dispatch(outcome=Outcome.SKIPPED,
                            error=f"decode: {envelope.operation} data does not decode")
        if routed and not is_for_vault(request.target_vault, self.vault):
            return Dispatch(outcome=Outcome.SKIPPED, task_identifier=request.task_identifier,
                            error=f"vault_mismatch: {envelope.operation} for vault "
                                  f"{request.target_vault!r}, this is {self.vault!r}")
        if isinstance(request, UpdateRequest) and is_noop_update(request.updates, request.body):
            return Dispatch(outcome=Outcome.HANDLED_NOOP, task_identifier=request.task_identifier)
        return self._execute(request)

    def _execute(self, request: UpdateRequest | IncrementRequest) -> Dispatch:
        task_id = request.task_identifier
        try:
            path = self._lookup(task_id)
        except _LookupError as exc:
            return Dispatch(outcome=Outcome.ERROR, task_identifier=task_id, error=str(exc))
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
            changed = increment(task, request.field, request.delta,
                                cap_opt_in=self.rules.cap_opt_in)
        if self.rules.routes_by_vault:
            changed = stamp_vault(changed, self.vault)
        self.files[path] = write_task_text(changed)
        return Dispatch(outcome=Outcome.HANDLED, path=path, task_identifier=task_id)


def apply_record(
    file_text: str, value: bytes, *, now: datetime, vault: str = VAULT, profile: str = PROFILE
) -> Applied:
    """Apply one record value to a vault holding only ``file_text`` (at ``tasks/task.md``).

    ``vault`` and ``profile`` as for :class:`ReferenceController`.
    """
    controller = ReferenceController(files={TASK_PATH: file_text}, vault=vault, profile=profile)
    dispatch = controller.apply(value, now=now)
    text = controller.files[TASK_PATH]
    back = read_back(text)
    return Applied(
        outcome=dispatch.outcome,
        frontmatter=back.frontmatter,
        body=back.body,
        text=text,
        parse_error=back.error,
        detail=dispatch.error,
    )

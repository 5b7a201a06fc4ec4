"""A vault of task files the harness controller applies records to, with the controller's rules.

:class:`ReferenceVault` is :class:`zombiewatch.testing.controller.ReferenceController`
(the consumer's rules and the executors' rules of the real controller, proven by
the conformance vectors) over files mirrored into ``vault_dir/tasks/<task id>.md``,
plus what the event topic needs: each task's created/modified times and its
event value.

The vault has a name (the controller's ``VAULT_NAME``, ``personal`` unless
told otherwise) and a profile (today's controller unless told ``"v0.3"``):
today's controller skips a command whose ``targetVault`` names another vault
and stamps its own name as ``target_vault`` on every write, so two vaults can
consume one request topic. The reference controller drops a record its
profile's expiry after the ``requestTime`` (60 minutes today, 5 in v0.3). A
shorter ``expiry`` (tests) is had by consuming with a clock moved forward by
the difference, so the rule itself stays the reference's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.controller import Dispatched, task_event, write_file
from zombiewatch.domain.consumer import Outcome
from zombiewatch.domain.taskfile import TaskFile, Value
from zombiewatch.testing._taskfile_text import render
from zombiewatch.testing.controller import PROFILE, VAULT, ReferenceController


class ReferenceVault:
    """Task files by task id, mirrored into ``vault_dir``, of the vault called ``name``."""

    def __init__(self, vault_dir: Path, *, name: str = VAULT, profile: str = PROFILE) -> None:
        self.vault_dir = vault_dir
        self.controller = ReferenceController(vault=name, profile=profile)
        self._times: dict[str, tuple[datetime, datetime]] = {}

    def put(self, task_id: str, frontmatter: dict[str, Value], body: str = "") -> None:
        path = f"tasks/{task_id}.md"
        text = render({"task_identifier": task_id, **frontmatter}, body)
        self.controller.put(path, text)
        now = datetime.now(UTC)
        self._times[task_id] = (now, now)
        write_file(self.vault_dir, path, text)

    def remove(self, task_id: str) -> bool:
        """Delete the task's file (archived, or deleted by hand); False when there is none."""
        path = self.controller.find(task_id)
        self._times.pop(task_id, None)
        if path is None:
            return False
        del self.controller.files[path]
        (self.vault_dir / path).unlink(missing_ok=True)
        return True

    def task(self, task_id: str) -> TaskFile | None:
        return self.controller.task(task_id)

    def freeing(self, task_id: str) -> str:
        """How a zombie task's failure landed: ``freed_once`` (``trigger_count`` exactly
        +1 from 0 and ``current_job`` cleared), ``doubled`` (bumped more than once) or
        ``lost`` (anything else) — the column of every delivery table."""
        task = self.task(task_id)
        assert task is not None, task_id
        bumps = task.frontmatter.get("trigger_count")
        if bumps == 1 and task.frontmatter.get("current_job") == "":
            return "freed_once"
        if isinstance(bumps, int) and bumps > 1:
            return "doubled"
        return "lost"

    @property
    def name(self) -> str:
        return self.controller.vault

    @property
    def expiry(self) -> timedelta:
        """The profile's expiry: what the controller drops records after, unless shortened."""
        return self.controller.rules.expiry

    def task_ids(self) -> list[str]:
        return sorted(self._times)

    def would_write(self, value: bytes, *, now: datetime, expiry: timedelta) -> bool:
        trial = self.controller.copy()
        return trial.apply(value, now=self._as_seen(now, expiry)).outcome is Outcome.HANDLED

    def apply(self, value: bytes, *, now: datetime, expiry: timedelta) -> Dispatched:
        dispatch = self.controller.apply(value, now=self._as_seen(now, expiry))
        changed = dispatch.outcome is Outcome.HANDLED and dispatch.path is not None
        task_id = dispatch.task_identifier
        if changed and dispatch.path is not None:
            write_file(self.vault_dir, dispatch.path, self.controller.files[dispatch.path])
            if task_id is not None and task_id in self._times:
                self._times[task_id] = (self._times[task_id][0], now)
        return Dispatched(dispatch.outcome.value, task_id, changed)

    def event(self, task_id: str) -> bytes | None:
        path = self.controller.find(task_id)
        task = self.controller.task(task_id)
        if path is None or task is None:
            return None
        created, modified = self._times.get(task_id, (datetime.now(UTC), datetime.now(UTC)))
        return task_event(task_id=task_id, path=path, frontmatter=task.frontmatter,
                          body=task.body, created=created, modified=modified)

    def _as_seen(self, now: datetime, expiry: timedelta) -> datetime:
        """The clock the reference consumer is given so its profile's rule acts as ``expiry``."""
        return now + (self.expiry - expiry)

"""Testing a host's own dispatch path with zombiewatch.testing (the ``testing`` extra).

Run it with ``pytest examples/host_state_machine.py``; the project's suite runs
it too (tests/unit/test_examples.py).

The host here is a toy executor that writes its command records itself (its
own initiator, its own request ids, JSON by hand) instead of using
zombiewatch's codec. Handing it to :class:`DispatchMachine` as the hooks of a
subclass (the rest of :class:`LibraryDispatch`, zombiewatch's own, stays) puts
that dispatch path into the whole loop: Hypothesis spawns, breaks pods, fails Jobs, lets
time pass, sweeps, fails publishes and restarts zombiewatch, while the
reference controller applies every record (the host's and zombiewatch's
failures) to the task files and the kit checks the doctrine's invariants.
Break the executor (send ``"delta": 2``, forget the increment, send the
notification first) and the machine finds it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from hypothesis import settings

from zombiewatch.testing.stateful import (
    DispatchMachine,
    DispatchWorld,
    EmbeddedZombieWatch,
    LibraryDispatch,
)

HOST_NAMESPACE = uuid.UUID("6ba7b812-9dad-11d1-80b4-00c04fd430c8")


class ToyExecutor:
    """What a host would replace with its real dispatch code."""

    initiator = "toy-executor"

    def _record(self, operation: str, data: dict[str, object], *, key: str, at: datetime) -> bytes:
        return json.dumps({
            "requestID": str(uuid.uuid5(HOST_NAMESPACE, f"{key}/{operation}")),
            "requestTime": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "initiator": self.initiator,
            "operation": operation,
            "data": data,
        }).encode("utf-8")

    def dispatch(self, *, task_id: str, job_name: str, at: datetime) -> list[bytes]:
        """Count the trigger, then announce the Job (the controller's order)."""
        return [
            self._record("increment-frontmatter",
                         {"taskIdentifier": task_id, "field": "trigger_count", "delta": 1},
                         key=job_name, at=at),
            self._record("update-frontmatter",
                         {"taskIdentifier": task_id,
                          "updates": {"current_job": job_name, "spawn_notification": True,
                                      "job_started_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}},
                         key=job_name, at=at),
        ]

    def result(self, *, task_id: str, job_name: str, at: datetime) -> list[bytes]:
        return [self._record("update-frontmatter",
                             {"taskIdentifier": task_id, "updates": {"current_job": ""}},
                             key=f"{job_name}/result", at=at)]


class ToyHooks(LibraryDispatch):
    """The toy executor's records instead of zombiewatch's own (the ``on_*`` calls stay)."""

    executor = ToyExecutor()
    scoped_budget = False  # the toy executor increments before each spawn (the old way)
    dispatch_increments = 1

    def dispatch_records(
        self, zombiewatch: EmbeddedZombieWatch, *, task_id: str, assignee: str, job_name: str,
        at: datetime,
    ) -> Sequence[bytes]:
        return self.executor.dispatch(task_id=task_id, job_name=job_name, at=at)

    def result_records(
        self, zombiewatch: EmbeddedZombieWatch, *, task_id: str, job_name: str, at: datetime
    ) -> Sequence[bytes]:
        return self.executor.result(task_id=task_id, job_name=job_name, at=at)


class HostDispatchMachine(DispatchMachine):
    """The kit, driven by the toy executor in the toy host's own namespace and agents."""

    hooks = ToyHooks()
    world = DispatchWorld(namespace="toy-agents", assignees=("toy-claude", "toy-codex"))


TestHostDispatch = HostDispatchMachine.TestCase
TestHostDispatch.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)

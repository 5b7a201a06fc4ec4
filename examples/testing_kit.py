"""A host team's first tests with zombiewatch.testing: the example of docs/TESTING-KIT.md.

The document shows this file whole; tests/unit/test_testing_kit.py keeps the two
the same and tests/unit/test_examples.py runs these tests with the suite
(``pytest examples/testing_kit.py`` runs them alone).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings

from zombiewatch.testing import strategies
from zombiewatch.testing.controller import apply_record
from zombiewatch.testing.stateful import (
    DispatchMachine,
    DispatchWorld,
    EmbeddedZombieWatch,
    LibraryDispatch,
)

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
TASK = "---\ntask_identifier: t1\nassignee: builder\ntrigger_count: 0\n---\n# Task\n"


def record(operation: str, data: dict[str, object]) -> bytes:
    """A command record as the host's executor writes it (JSON by hand)."""
    return json.dumps({
        "requestID": "0b7e5f1c-2a4d-4c8e-9f10-1234567890ab",
        "requestTime": "2027-01-04T08:00:00Z",
        "initiator": "team-a-executor",
        "operation": operation,
        "data": data,
    }).encode("utf-8")


def test_the_controller_counts_our_trigger() -> None:
    """One record, one task file: what the real agent-task-controller would write."""
    applied = apply_record(TASK, record("increment-frontmatter", {
        "taskIdentifier": "t1", "field": "trigger_count", "delta": 1}), now=NOW)
    assert applied.outcome == "handled"
    assert applied.frontmatter is not None, applied.parse_error
    assert applied.frontmatter["trigger_count"] == 1
    assert applied.frontmatter["assignee"] == "builder"


@given(strategies.record_values())
def test_the_controller_takes_any_record(value: bytes) -> None:
    """Any bytes at all get an outcome, never an exception, and keep the file readable."""
    applied = apply_record(TASK, value, now=NOW)
    assert applied.parse_error is None, applied


class QuietHost(LibraryDispatch):
    """Our dispatch path: zombiewatch's library helpers, but our agents send no heartbeats."""

    def on_heartbeat(self, zombiewatch: EmbeddedZombieWatch, *, task_id: str) -> None:
        return None


class TeamMachine(DispatchMachine):
    """The whole loop in our namespace, with our agents, from our start time."""

    hooks = QuietHost()
    world = DispatchWorld(namespace="team-a", assignees=("builder", "reviewer"), start=NOW)


TestTeamDispatch = TeamMachine.TestCase
TestTeamDispatch.settings = settings(max_examples=10, stateful_step_count=20, deadline=None)

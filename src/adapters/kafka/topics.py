"""Which topic the task commands go to (SPEC §3).

The agent system names its topics ``<prefix>-agent-task-v1-request``. Older
deployments configure a *branch* that maps to the prefix; newer ones give the
prefix directly. Both are supported so zombiewatch can sit next to either.
"""

from __future__ import annotations

from typing import Final

REQUEST_TOPIC_BASE: Final = "agent-task-v1-request"
"""The unprefixed topic name the controller consumes commands from."""

EVENT_TOPIC_BASE: Final = "agent-task-v1-event"
"""The unprefixed topic the controller publishes every changed task on (the task feed)."""

_LEGACY_BRANCH_PREFIXES: Final = {"dev": "develop", "prod": "master"}
"""The two branch names the original deployment renamed; every other branch is verbatim."""


def prefix_for_branch(branch: str) -> str:
    """The topic prefix a legacy ``BRANCH`` setting stands for."""
    return _LEGACY_BRANCH_PREFIXES.get(branch, branch)


def request_topic(prefix: str) -> str:
    """``<prefix>-agent-task-v1-request``, or the bare name for an empty prefix."""
    return f"{prefix}-{REQUEST_TOPIC_BASE}" if prefix else REQUEST_TOPIC_BASE



def event_topic(prefix: str) -> str:
    """``<prefix>-agent-task-v1-event``, or the bare name for an empty prefix."""
    return f"{prefix}-{EVENT_TOPIC_BASE}" if prefix else EVENT_TOPIC_BASE

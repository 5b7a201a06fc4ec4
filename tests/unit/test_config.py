"""SPEC §8: Config validation, defaults and resolution."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.config import (
    ConfigProblem,
    ConfigValueError,
    parse_heartbeat,
    resolve,
)
from zombiewatch.domain.views import AgentConfigView
from zombiewatch.testing.strategies import agent_config_views


def config(name: str = "claude", **fields: object) -> AgentConfigView:
    return AgentConfigView(namespace="agents", name=name, assignee=name, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5m", timedelta(minutes=5)),
        ("30s", timedelta(seconds=30)),
        ("2h", timedelta(hours=2)),
        ("0s", timedelta(0)),
    ],
)
def test_heartbeat_parses_seconds_minutes_and_hours(text: str, expected: timedelta) -> None:
    assert parse_heartbeat(text) == expected


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "1d", "-5m", "5M", "1.5h", "5m\n"])
def test_a_malformed_heartbeat_is_refused(text: str) -> None:
    with pytest.raises(ConfigValueError, match=r"heartbeat invalid: must match \^\[0-9\]\+"):
        parse_heartbeat(text)


def test_nothing_configured_gives_the_defaults() -> None:
    # Act
    resolved = resolve([])
    # Assert
    assert resolved.deadline_for("anyone") == timedelta(seconds=1800)
    assert resolved.heartbeat_for("anyone") == timedelta(minutes=5)
    assert resolved.sweeper_interval == timedelta(seconds=60)
    assert resolved.dedupe_ttl == timedelta(seconds=3600)
    assert resolved.problems == ()


def test_valid_knobs_are_used() -> None:
    # Arrange
    views = [
        config(heartbeat="90s", zombie_sweeper_interval_seconds=10, zombie_job_timeout_seconds=30)
    ]
    # Act
    resolved = resolve(views)
    # Assert
    assert resolved.deadline_for("claude") == timedelta(seconds=30)
    assert resolved.heartbeat_for("claude") == timedelta(seconds=90)
    assert resolved.sweeper_interval == timedelta(seconds=10)
    assert resolved.problems == ()


def test_invalid_knobs_fall_back_to_defaults_with_the_exact_messages() -> None:
    # Arrange
    views = [
        config(
            heartbeat="5 minutes", zombie_sweeper_interval_seconds=9, zombie_job_timeout_seconds=29
        )
    ]
    # Act
    resolved = resolve(views)
    # Assert
    assert resolved.deadline_for("claude") == timedelta(seconds=1800)
    assert resolved.heartbeat_for("claude") == timedelta(minutes=5)
    assert resolved.sweeper_interval == timedelta(seconds=60)
    assert resolved.problems == (
        ConfigProblem(
            namespace="agents",
            name="claude",
            field="heartbeat",
            message="heartbeat invalid: must match ^[0-9]+(s|m|h)$",
        ),
        ConfigProblem(
            namespace="agents",
            name="claude",
            field="zombieSweeperIntervalSeconds",
            message="zombieSweeperIntervalSeconds invalid: must be >= 10",
        ),
        ConfigProblem(
            namespace="agents",
            name="claude",
            field="zombieJobTimeoutSeconds",
            message="zombieJobTimeoutSeconds invalid: must be >= 30",
        ),
    )


def test_the_sweeper_interval_is_the_smallest_configured() -> None:
    # Arrange
    views = [
        config("claude", zombie_sweeper_interval_seconds=45),
        config("codex", zombie_sweeper_interval_seconds=20),
        config("gemini"),
    ]
    # Act
    resolved = resolve(views)
    # Assert
    assert resolved.sweeper_interval == timedelta(seconds=20)


def test_the_dedupe_ttl_is_twice_the_longest_job_timeout() -> None:
    # Arrange
    views = [config("claude", zombie_job_timeout_seconds=3000), config("codex")]
    # Act
    resolved = resolve(views)
    # Assert
    assert resolved.dedupe_ttl == timedelta(seconds=6000)


def test_a_config_without_assignee_is_ignored_and_reported() -> None:
    # Arrange
    views = [AgentConfigView(namespace="agents", name="broken", assignee="")]
    # Act
    resolved = resolve(views)
    # Assert
    assert resolved.by_assignee == {}
    assert [p.message for p in resolved.problems] == ["assignee invalid: must not be empty"]


def test_of_two_configs_for_one_assignee_the_first_by_name_wins() -> None:
    # Arrange
    late = AgentConfigView(
        namespace="agents", name="z-claude", assignee="claude", zombie_job_timeout_seconds=60
    )
    early = AgentConfigView(
        namespace="agents", name="a-claude", assignee="claude", zombie_job_timeout_seconds=90
    )
    # Act
    resolved = resolve([late, early])
    # Assert
    assert resolved.deadline_for("claude") == timedelta(seconds=90)
    assert [(p.name, p.field) for p in resolved.problems] == [("z-claude", "assignee")]


@pytest.mark.parametrize(
    ("task_types", "task_type", "accepted"),
    [
        ((), "anything", True),
        (("code", "review"), "code", True),
        (("code", "review"), "docs", False),
        (("code",), "", True),
    ],
)
def test_task_type_acceptance(task_types: tuple[str, ...], task_type: str, accepted: bool) -> None:
    # Arrange
    resolved = resolve([config(task_types=task_types)])
    # Act
    result = resolved.accepts_task_type("claude", task_type)
    # Assert
    assert result is accepted


def test_an_assignee_without_config_is_not_judged_on_task_type() -> None:
    assert resolve([]).accepts_task_type("unknown", "docs")


@given(views=st.lists(agent_config_views(), max_size=6, unique_by=lambda v: v.name))
def test_resolution_is_total_and_respects_the_floors(views: list[AgentConfigView]) -> None:
    # Act
    resolved = resolve(views)
    # Assert
    assert resolved.sweeper_interval >= timedelta(seconds=10)
    for view in views:
        assert resolved.deadline_for(view.assignee) >= timedelta(seconds=30)
    assert resolve(list(reversed(views))) == resolved

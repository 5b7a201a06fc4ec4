"""SPEC §8: Config validation, defaults and resolution."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.config import (
    ConfigProblem,
    resolve,
    valid_vault_name,
)
from zombiewatch.domain.views import AgentConfigView
from zombiewatch.testing.strategies import agent_config_views


def config(name: str = "claude", **fields: object) -> AgentConfigView:
    return AgentConfigView(namespace="agents", name=name, assignee=name, **fields)  # type: ignore[arg-type]


def test_nothing_configured_gives_the_defaults() -> None:
    # Act
    resolved = resolve([])
    # Assert
    assert resolved.deadline_for("anyone") == timedelta(seconds=1800)
    assert resolved.deadline_of_job("anyone") == timedelta(seconds=1800)
    assert resolved.sweeper_interval == timedelta(seconds=60)
    assert resolved.dedupe_ttl == timedelta(seconds=3600)
    assert resolved.problems == ()


def test_valid_knobs_are_used() -> None:
    # Arrange
    views = [config(zombie_sweeper_interval_seconds=10, zombie_job_timeout_seconds=30)]
    # Act
    resolved = resolve(views)
    # Assert
    assert resolved.deadline_for("claude") == timedelta(seconds=30)
    assert resolved.sweeper_interval == timedelta(seconds=10)
    assert resolved.problems == ()


def test_invalid_knobs_fall_back_to_defaults_with_the_exact_messages() -> None:
    # Arrange
    views = [config(zombie_sweeper_interval_seconds=9, zombie_job_timeout_seconds=29)]
    # Act
    resolved = resolve(views)
    # Assert
    assert resolved.deadline_for("claude") == timedelta(seconds=1800)
    assert resolved.sweeper_interval == timedelta(seconds=60)
    assert resolved.problems == (
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


# ------------------------------------------------ which Config applies (today's executor)

PER_VAULT = [config("claude", zombie_job_timeout_seconds=1200),
             config("claude-personal", zombie_job_timeout_seconds=5400)]


def test_an_assignee_resolves_to_its_per_vault_config_first() -> None:
    resolved = resolve(PER_VAULT, vault="personal")
    assert resolved.deadline_for("claude") == timedelta(seconds=5400)
    found = resolved.config_for("claude")
    assert found is not None
    assert found.assignee == "claude-personal"


def test_an_assignee_without_a_per_vault_config_falls_back_to_the_plain_one() -> None:
    resolved = resolve(PER_VAULT, vault="work")
    assert resolved.deadline_for("claude") == timedelta(seconds=1200)
    assert resolve([config("claude-work")], vault="personal").config_for("claude") is None


def test_without_a_vault_only_the_plain_assignee_is_looked_up() -> None:
    resolved = resolve(PER_VAULT)
    assert resolved.deadline_for("claude") == timedelta(seconds=1200)
    assert resolve([config("claude-personal")]).config_for("claude") is None


@pytest.mark.parametrize("vault", [None, "personal", "work"])
def test_a_job_takes_the_config_its_assignee_label_names_exactly(vault: str | None) -> None:
    """The label already carries the resolved name: never composed again, whatever the
    vault (a ``claude`` Job stays on the plain Config even where ``claude-personal`` wins
    for a task)."""
    resolved = resolve(PER_VAULT, vault=vault)
    assert resolved.deadline_of_job("claude-personal") == timedelta(seconds=5400)
    assert resolved.deadline_of_job("claude") == timedelta(seconds=1200)
    assert resolved.deadline_of_job("claude-personal-personal") == timedelta(seconds=1800)


def test_task_types_are_judged_by_the_resolved_config() -> None:
    views = [config("claude", task_types=("code",)),
             config("claude-personal", task_types=("docs",))]
    assert resolve(views, vault="personal").accepts_task_type("claude", "docs")
    assert not resolve(views).accepts_task_type("claude", "docs")


def test_service_configs_are_ignored() -> None:
    views = [config("claude-personal", zombie_job_timeout_seconds=5400, type="service"),
             config("claude", zombie_job_timeout_seconds=1200, zombie_sweeper_interval_seconds=10,
                    type="service")]
    resolved = resolve(views, vault="personal")
    assert resolved.by_assignee == {}
    assert resolved.deadline_for("claude") == timedelta(seconds=1800)
    assert resolved.sweeper_interval == timedelta(seconds=60)
    assert resolved.problems == ()


def test_a_service_config_does_not_shadow_a_job_config_of_the_same_assignee() -> None:
    views = [config("a-claude", type="service", zombie_job_timeout_seconds=90),
             AgentConfigView(namespace="agents", name="b-claude", assignee="claude",
                             zombie_job_timeout_seconds=600)]
    resolved = resolve(views)
    assert resolved.deadline_for("claude") == timedelta(seconds=600)
    assert resolved.problems == ()


@pytest.mark.parametrize(("name", "valid"), [
    ("personal", True), ("p", True), ("work-2", True), ("a1-b2", True),
    ("", False), ("Personal", False), ("2work", False), ("-work", False), ("per sonal", False),
    ("work_2", False), ("personal\n", False),
])
def test_vault_names_follow_the_executor_rule(name: str, valid: bool) -> None:
    assert valid_vault_name(name) is valid


@given(views=st.lists(agent_config_views(), max_size=6, unique_by=lambda v: v.name),
       vault=st.sampled_from(["personal", "work"]))
def test_the_per_vault_config_wins_whenever_it_is_configured(
    views: list[AgentConfigView], vault: str,
) -> None:
    resolved = resolve(views, vault=vault)
    for view in views:
        found = resolved.config_for(view.assignee)
        composed = resolved.by_assignee.get(f"{view.assignee}-{vault}")
        plain = resolved.by_assignee.get(view.assignee)
        assert found == (composed if composed is not None else plain)

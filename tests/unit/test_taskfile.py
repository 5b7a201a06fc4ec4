"""The controller's task-file rules (domain.taskfile): merge, sections, increment, cap, review."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.commands import BodySection, IncrementFrontmatter, UpdateFrontmatter
from zombiewatch.domain.doctrine import FAILURE_HEADING, zombie_failure
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.taskfile import (
    INT64_MAX,
    INT64_MIN,
    TaskFile,
    Value,
    apply,
    increment,
    int_value,
    is_heading_line,
    max_triggers,
    replace_section,
    stamp_vault,
    trigger_cap,
    update,
)
from zombiewatch.testing.strategies import project_task_files, task_bodies, task_files

AT = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)
TASK = "3f2a9c1d-7b4e-4c1a-9d2e-0123456789ab"


def base(**frontmatter: Value) -> TaskFile:
    return TaskFile(
        frontmatter={"task_identifier": TASK, "assignee": "claude", "phase": "in_progress",
                     "status": "in_progress", "trigger_count": 0, **frontmatter},
        body="# Task\n\nDo the thing.\n",
    )


# --- update ---------------------------------------------------------------------------------


def test_update_merges_shallowly_and_deletes_nothing() -> None:
    # Arrange
    task = base(meta={"owner": "alice", "labels": ["x"]})
    # Act
    result = update(task, {"meta": {"owner": "bob"}, "note": None, "status": "blocked"})
    # Assert
    assert result.frontmatter["meta"] == {"owner": "bob"}
    assert result.frontmatter["note"] is None
    assert result.frontmatter["status"] == "blocked"
    assert result.frontmatter["assignee"] == "claude"
    assert task.frontmatter["status"] == "in_progress", "the argument is not mutated"


def test_human_review_moves_the_assignee_to_previous_assignee() -> None:
    # Act
    result = update(base(phase="human_review"), {"current_job": ""})
    # Assert
    assert result.frontmatter["assignee"] == ""
    assert result.frontmatter["previous_assignee"] == "claude"


def test_human_review_captures_an_assignee_set_in_the_same_update() -> None:
    result = update(base(), {"phase": "human_review", "assignee": "codex"})
    assert (result.frontmatter["assignee"], result.frontmatter["previous_assignee"]) == (
        "", "codex")


def test_human_review_with_an_empty_assignee_keeps_the_old_previous_assignee() -> None:
    task = base(phase="human_review", assignee="", previous_assignee="gemini")
    result = update(task, {"note": "x"})
    assert result.frontmatter["previous_assignee"] == "gemini"


@pytest.mark.parametrize("phase", ["Human_Review", "human-review", True, None])
def test_only_the_exact_string_human_review_counts(phase: Value) -> None:
    result = update(base(phase=phase), {"current_job": ""})
    assert result.frontmatter["assignee"] == "claude"
    assert "previous_assignee" not in result.frontmatter


def test_human_review_adds_the_assignee_key_and_replaces_a_non_string_one() -> None:
    task = TaskFile(frontmatter={"phase": "human_review", "assignee": 7})
    result = update(task, {"x": 1})
    assert result.frontmatter["assignee"] == ""
    assert "previous_assignee" not in result.frontmatter


# --- sections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "matches"),
    [
        ("## Failure", True), ("## Failure (2026-05-30)", True), ("## Failure\tretry", True),
        ("## Failure ", True), ("## Failure2", False), ("## Failures", False),
        ("## Failure:", False), ("## failure", False), ("  ## Failure", False),
        ("### Failure", False), ("## Failure\r", False), ("## Failure\u00a0x", False),
    ],
)  # fmt: skip
def test_a_heading_line_is_the_heading_or_the_heading_and_a_space_or_tab(
    line: str, matches: bool
) -> None:
    assert is_heading_line(line, "## Failure") is matches


def test_a_section_runs_to_the_next_h2_whatever_follows() -> None:
    body = "intro\n## Failure\nold\n### sub\n# H1\n---\n##Next\n## Notes\nkeep\n"
    result = replace_section(body, heading="## Failure", section="## Failure\n\nnew\n")
    assert result == "intro\n## Notes\nkeep\n\n## Failure\n\nnew\n"


def test_every_matching_section_goes_and_the_new_one_is_appended_once() -> None:
    body = "## Failure\na\n## Other\nb\n## Failure (old)\nc\n"
    result = replace_section(body, heading="## Failure", section="## Failure\nz")
    assert result == "## Other\nb\n\n## Failure\nz\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "\n\n## F\n"),
        ("\n\n\n", "\n\n## F\n"),
        ("## F", "\n\n## F\n"),
        ("text", "text\n\n## F\n"),
        ("text\n\n\n\n", "text\n\n## F\n"),
        ("text  \n", "text  \n\n## F\n"),
        ("\n\nlead\n", "\n\nlead\n\n## F\n"),
    ],
)
def test_the_body_is_trimmed_of_newlines_before_one_blank_line(body: str, expected: str) -> None:
    assert replace_section(body, heading="## F", section="## F\n\n") == expected


def test_crlf_headings_do_not_match_so_a_second_section_is_appended() -> None:
    result = replace_section("## Failure\r\nold\r\n", heading="## Failure", section="## Failure\n")
    assert result.count("## Failure") == 2


def test_an_empty_section_leaves_the_body_ending_in_three_newlines() -> None:
    assert replace_section("x\n", heading="## F", section="") == "x\n\n\n"


@given(body=task_bodies(), section=st.text())
def test_replacing_twice_is_replacing_once(body: str, section: str) -> None:
    section = "## Failure\n\n" + section.replace("\n## ", "\n")
    once = replace_section(body, heading="## Failure", section=section)
    assert replace_section(once, heading="## Failure", section=section) == once
    assert any(is_heading_line(line, "## Failure") for line in once.split("\n"))


# --- increment and the trigger cap ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, 2), (2.0, 2), (1.9, 1), (-1.9, -1), (10.0, 10), ("2", 0), (True, 0), (None, 0),
     ([1], 0), (2**63, 0)],
)  # fmt: skip
def test_int_value_reads_ints_and_truncated_floats_and_nothing_else(
    value: Value, expected: int
) -> None:
    assert int_value(value) == expected


@pytest.mark.parametrize(
    ("cap", "expected"),
    [(5, 5), (2.5, 2), (0, 0), (-1, -1), ("5", 3), ("10", 3), (None, 3), (True, 3)],
)
def test_max_triggers_is_an_int_or_a_truncated_float_else_3(cap: Value, expected: int) -> None:
    assert max_triggers({"max_triggers": cap}) == expected


def test_the_increment_wraps_on_int64_overflow() -> None:
    result = increment(base(retry=INT64_MAX), "retry", 1)
    assert result.frontmatter["retry"] == INT64_MIN


def test_below_the_cap_the_assignee_stays() -> None:
    result = increment(base(trigger_count=1, max_triggers=3), "trigger_count", 1)
    assert result.frontmatter["assignee"] == "claude"


def test_at_the_cap_only_the_assignee_is_cleared() -> None:
    # Arrange
    task = base(trigger_count=2, max_triggers=3)
    # Act
    result = increment(task, "trigger_count", 1)
    # Assert
    assert result.frontmatter == {**task.frontmatter, "trigger_count": 3, "assignee": ""}
    assert result.body == task.body


def test_every_increment_at_or_past_the_cap_clears_a_reassigned_assignee() -> None:
    task = increment(base(trigger_count=5, max_triggers=3, assignee="codex"), "trigger_count", 0)
    assert task.frontmatter["assignee"] == ""
    negative = increment(base(trigger_count=9, max_triggers=3), "trigger_count", -1)
    assert negative.frontmatter["assignee"] == ""


@pytest.mark.parametrize("field", ["retry_count", "max_triggers", "Trigger_Count", ""])
def test_the_cap_applies_only_to_trigger_count(field: str) -> None:
    result = increment(base(trigger_count=9, max_triggers=0), field, 1)
    assert result.frontmatter["assignee"] == "claude"


def test_increment_never_applies_the_human_review_rule() -> None:
    result = increment(base(phase="human_review"), "trigger_count", 1)
    assert result.frontmatter["assignee"] == "claude"


@pytest.mark.parametrize(
    ("frontmatter", "opt_in", "cap"),
    [({}, True, None), ({}, False, 3), ({"max_triggers": None}, True, 3),
     ({"max_triggers": "10"}, True, 3), ({"max_triggers": 0}, True, 0),
     ({"max_triggers": 2.5}, True, 2), ({"max_triggers": 5}, False, 5)],
)  # fmt: skip
def test_today_only_a_file_with_max_triggers_is_capped(
    frontmatter: dict[str, Value], opt_in: bool, cap: int | None
) -> None:
    assert trigger_cap(frontmatter, opt_in=opt_in) == cap


def test_without_max_triggers_today_no_count_clears_the_assignee() -> None:
    result = increment(base(trigger_count=99), "trigger_count", 1)
    assert result.frontmatter["assignee"] == "claude"
    old = increment(base(trigger_count=2), "trigger_count", 1, cap_opt_in=False)
    assert old.frontmatter["assignee"] == ""


@pytest.mark.parametrize("opt_in", [True, False], ids=["current", "v0.3"])
@given(task=project_task_files(), delta=st.integers(min_value=-3, max_value=3))
def test_a_trigger_count_increment_clears_the_assignee_exactly_when_it_reaches_the_cap(
    opt_in: bool, task: TaskFile, delta: int
) -> None:
    result = increment(task, "trigger_count", delta, cap_opt_in=opt_in)
    new = result.frontmatter["trigger_count"]
    assert isinstance(new, int)
    cap = trigger_cap(task.frontmatter, opt_in=opt_in)
    reached = cap is not None and new >= cap
    assert (result.frontmatter["assignee"] == "") is (reached or task.frontmatter["assignee"] == "")
    assert {k: v for k, v in result.frontmatter.items() if k not in ("assignee", "trigger_count")} \
        == {k: v for k, v in task.frontmatter.items() if k not in ("assignee", "trigger_count")}


@given(task=task_files())
def test_the_rules_never_mutate_their_argument(task: TaskFile) -> None:
    snapshot = repr(task)
    update(task, {"phase": "human_review"}, BodySection(heading="## F", section="## F\n"))
    increment(task, "trigger_count", 1)
    stamp_vault(task, "personal")
    assert repr(task) == snapshot


# --- the vault stamp ------------------------------------------------------------------------


def test_the_stamp_adds_the_controllers_vault_when_the_file_names_none() -> None:
    task = base()
    stamped = stamp_vault(task, "personal")
    assert stamped.frontmatter == {**task.frontmatter, "target_vault": "personal"}
    assert stamped.body == task.body


@pytest.mark.parametrize("existing", ["openclaw", "", None, 7, "personal"])
def test_the_stamp_never_replaces_a_target_vault_already_there(existing: Value) -> None:
    task = base(target_vault=existing)
    assert stamp_vault(task, "personal") == task


# --- our commands ---------------------------------------------------------------------------


def test_a_zombie_failure_frees_the_task_and_counts_one_trigger() -> None:
    # Arrange
    report = zombie_failure(task_id=TASK, job_name="claude-3f2a9c1d-20260602094600",
                            reason=ZombieReason.POD_EVICTED, at=AT)
    task = base(current_job="claude-3f2a9c1d-20260602094600", max_triggers=3)
    # Act
    for command in report.commands:
        task = apply(task, command)
    # Assert
    assert task.frontmatter["current_job"] == ""
    assert task.frontmatter["trigger_count"] == 1
    assert task.frontmatter["assignee"] == "claude"
    assert task.body.count(FAILURE_HEADING) == 1
    assert task.body.endswith("- **Reason:** pod_evicted\n")


def test_apply_handles_both_commands() -> None:
    task = apply(base(), UpdateFrontmatter(task_identifier=TASK, updates={"x": 1}))
    task = apply(task, IncrementFrontmatter(task_identifier=TASK, field="x", delta=2))
    assert task.frontmatter["x"] == 3

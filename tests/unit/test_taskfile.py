"""The task-file reference model (SPEC §2): text round-trip, both commands, the trigger cap."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given

from tests.strategies import task_files
from zombiewatch.domain.commands import BodySection, IncrementFrontmatter, UpdateFrontmatter
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.taskfile import (
    TRIGGER_CAP_HEADING,
    TaskFile,
    TaskFileError,
    apply,
    apply_trigger_cap,
    parse,
    render,
)

AT = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)
TASK = "3f2a9c1d-7b4e-4c1a-9d2e-0123456789ab"


def test_render_writes_the_supported_scalars() -> None:
    # Arrange
    task = TaskFile(
        frontmatter={
            "task_identifier": TASK,
            "assignee": "claude",
            "current_job": "",
            "trigger_count": 2,
            "spawn_notification": True,
            "title": "Fix: the thing",
            "answer": "yes",
        },
        body="# Task\n",
    )
    # Act
    text = render(task)
    # Assert
    assert text == (
        "---\n"
        f'task_identifier: "{TASK}"\n'
        "assignee: claude\n"
        'current_job: ""\n'
        "trigger_count: 2\n"
        "spawn_notification: true\n"
        'title: "Fix: the thing"\n'
        'answer: "yes"\n'
        "---\n"
        "# Task\n"
    )


def test_parse_reads_what_a_hand_written_task_file_holds() -> None:
    # Arrange
    text = (
        "---\n"
        "# a comment\n"
        f"task_identifier: {TASK}\n"
        "assignee: 'o''brien'\n"
        "current_job:\n"
        "trigger_count: 3 # bumped\n"
        "job_started_at: 2026-06-02T09:46:00Z\n"
        "\n"
        "done: False\n"
        "---\n"
        "body\n---\nnot frontmatter\n"
    )
    # Act
    task = parse(text)
    # Assert
    assert task.frontmatter == {
        "task_identifier": TASK,
        "assignee": "o'brien",
        "current_job": "",
        "trigger_count": 3,
        "job_started_at": "2026-06-02T09:46:00Z",
        "done": False,
    }
    assert task.body == "body\n---\nnot frontmatter\n"


def test_a_text_without_frontmatter_is_all_body() -> None:
    assert parse("# just markdown\n") == TaskFile(frontmatter={}, body="# just markdown\n")


@pytest.mark.parametrize(
    "text",
    [
        "---\nkey: value\n",
        "---\nlist:\n  - a\n---\n",
        "---\nkey:value\n---\n",
        '---\nkey: "unterminated\n---\n',
    ],
)
def test_unsupported_frontmatter_is_refused(text: str) -> None:
    with pytest.raises(TaskFileError):
        parse(text)


@given(task=task_files())
def test_render_then_parse_is_the_identity(task: TaskFile) -> None:
    # Act
    parsed = parse(render(task))
    # Assert
    assert parsed == task
    assert [type(v) for v in parsed.frontmatter.values()] == [
        type(v) for v in task.frontmatter.values()
    ]


def test_update_merges_shallowly_and_deletes_nothing() -> None:
    # Arrange
    task = TaskFile(frontmatter={"a": "1", "b": 2}, body="")
    command = UpdateFrontmatter(task_identifier=TASK, updates={"b": 3, "c": True})
    # Act
    updated = apply(task, command)
    # Assert
    assert updated.frontmatter == {"a": "1", "b": 3, "c": True}
    assert task.frontmatter == {"a": "1", "b": 2}


def test_update_replaces_every_section_with_the_heading_and_appends_once() -> None:
    # Arrange
    body = (
        "# Task\n\nintro\n\n"
        "## Failure\n\nold one\n\n"
        "## Notes\n\nkeep me\n"
        "## Failure\n\nold two\n"
        "## Failure detail\n\nkept: different heading\n"
    )
    command = UpdateFrontmatter(
        task_identifier=TASK,
        updates={},
        body=BodySection(heading="## Failure", section="## Failure\n\nnew\n"),
    )
    # Act
    updated = apply(TaskFile(frontmatter={}, body=body), command)
    # Assert
    assert updated.body == (
        "# Task\n\nintro\n\n"
        "## Notes\n\nkeep me\n"
        "## Failure detail\n\nkept: different heading\n"
        "\n## Failure\n\nnew\n"
    )


def test_applying_the_same_update_twice_changes_nothing_more() -> None:
    # Arrange
    (update, _) = zombie_failure(
        task_id=TASK, job_name="job-a", reason=ZombieReason.POD_EVICTED, at=AT
    ).commands
    task = TaskFile(frontmatter={"current_job": "job-a"}, body="intro")
    # Act
    once = apply(task, update)
    twice = apply(once, update)
    # Assert
    assert once == twice
    assert once.body.count("## Failure") == 1


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param({}, 1, id="missing counts as zero"),
        pytest.param({"trigger_count": 2}, 3, id="an int is incremented"),
        pytest.param({"trigger_count": "2"}, 3, id="a numeric string is a number"),
        pytest.param({"trigger_count": "many"}, 1, id="a non-numeric string counts as zero"),
        pytest.param({"trigger_count": True}, 1, id="a bool counts as zero"),
    ],
)
def test_increment_adds_delta_to_an_integer_field(
    before: dict[str, str | int | bool], after: int
) -> None:
    # Arrange
    command = IncrementFrontmatter(task_identifier=TASK, field="trigger_count", delta=1)
    # Act
    updated = apply(TaskFile(frontmatter=dict(before), body=""), command)
    # Assert
    assert updated.frontmatter["trigger_count"] == after


def capped(**frontmatter: str | int | bool) -> TaskFile:
    base: dict[str, str | int | bool] = {
        "assignee": "claude",
        "phase": "in_progress",
        "status": "open",
    }
    return TaskFile(frontmatter={**base, **frontmatter}, body="# Task\n")


def test_the_cap_does_nothing_below_max_triggers() -> None:
    # Arrange
    task = capped(trigger_count=2)
    # Act
    result = apply_trigger_cap(task)
    # Assert
    assert result == task


def test_the_cap_escalates_at_max_triggers_and_leaves_phase_and_status() -> None:
    # Arrange
    task = capped(trigger_count=3)
    # Act
    result = apply_trigger_cap(task)
    # Assert
    assert result.frontmatter == {
        "assignee": "",
        "previous_assignee": "claude",
        "phase": "in_progress",
        "status": "open",
        "trigger_count": 3,
    }
    assert result.body == (
        "# Task\n\n"
        "## Trigger Cap Escalation\n\n"
        "- **Trigger count:** 3\n"
        "- **Max triggers:** 3\n"
        "- **Previous assignee:** claude\n"
    )


def test_the_cap_reads_max_triggers_from_the_frontmatter() -> None:
    # Arrange
    task = capped(trigger_count=1, max_triggers=1)
    # Act
    result = apply_trigger_cap(task)
    # Assert
    assert result.frontmatter["assignee"] == ""


def test_a_max_triggers_of_zero_disables_the_cap() -> None:
    # Arrange
    task = capped(trigger_count=10, max_triggers=0)
    # Act
    result = apply_trigger_cap(task)
    # Assert
    assert result == task


def test_the_cap_escalates_only_once() -> None:
    # Arrange
    escalated = apply_trigger_cap(capped(trigger_count=3))
    redelegated = TaskFile(
        frontmatter={**escalated.frontmatter, "assignee": "codex", "trigger_count": 4},
        body=escalated.body,
    )
    # Act
    result = apply_trigger_cap(redelegated)
    # Assert
    assert result == redelegated
    assert result.body.count(TRIGGER_CAP_HEADING) == 1


def test_the_cap_keeps_previous_assignee_when_the_assignee_is_already_empty() -> None:
    # Arrange
    task = capped(trigger_count=3, assignee="", previous_assignee="gemini")
    # Act
    result = apply_trigger_cap(task)
    # Assert
    assert result.frontmatter["previous_assignee"] == "gemini"
    assert result.body.count(TRIGGER_CAP_HEADING) == 1


def test_acceptance_three_zombie_failures_escalate_exactly_once_at_the_cap() -> None:
    # Arrange
    task = TaskFile(
        frontmatter={
            "task_identifier": TASK,
            "assignee": "claude",
            "phase": "in_progress",
            "status": "open",
            "max_triggers": 3,
            "current_job": "",
        },
        body="# Task\n",
    )
    history: list[TaskFile] = []
    # Act
    for n in range(1, 4):
        job = f"claude-3f2a9c1d-2026060209460{n}"
        task = apply(task, UpdateFrontmatter(task_identifier=TASK, updates={"current_job": job}))
        report = zombie_failure(
            task_id=TASK, job_name=job, reason=ZombieReason.IMAGE_PULL_BACKOFF, at=AT
        )
        for command in report.commands:
            task = apply_trigger_cap(apply(task, command))
        history.append(task)
    # Assert
    after_second, after_third = history[1], history[2]
    assert after_second.frontmatter["assignee"] == "claude"
    assert after_second.frontmatter["trigger_count"] == 2
    assert "previous_assignee" not in after_second.frontmatter
    assert TRIGGER_CAP_HEADING not in after_second.body
    assert after_third.frontmatter["assignee"] == ""
    assert after_third.frontmatter["previous_assignee"] == "claude"
    assert after_third.frontmatter["trigger_count"] == 3
    assert after_third.frontmatter["current_job"] == ""
    assert after_third.body.count(TRIGGER_CAP_HEADING) == 1
    assert after_third.body.count("## Failure") == 1
    assert all(t.frontmatter["phase"] == "in_progress" for t in history)
    assert all(t.frontmatter["status"] == "open" for t in history)

"""The ``Detail:`` line of a zombie failure: written, read back, re-published, applied.

The section is body text the controller writes verbatim; whatever the cluster said, the
safe Detail is on the task file's ``- **Detail:** `` line byte for byte, under both
controller profiles, and a re-publish rebuilt from the read-back is the same record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.adapters.kafka.codec import Envelope, encode
from zombiewatch.domain.commands import UpdateFrontmatter
from zombiewatch.domain.consumer import Outcome
from zombiewatch.domain.detail import safe_detail
from zombiewatch.domain.doctrine import (
    DETAIL_PREFIX,
    failure_section,
    parse_failure_section,
    zombie_failure,
)
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.testing.controller import apply_record

NOW = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)
TASK = "3f2a9c1d-7b4e-4c1a-9d2e-0123456789ab"
JOB = "claude-3f2a9c1d-20260602094600"
FILE = (
    f"---\ntask_identifier: {TASK}\nassignee: claude\nphase: in_progress\n"
    "trigger_count: 0\n---\n# Task\n\n## Failure\n\n- **Reason:** an older one\n"
)
IMAGE = 'image "reg.io/agent:9": manifest unknown'


def test_the_detail_line_follows_the_reason_line() -> None:
    section = failure_section(at=NOW, job_name=JOB, reason=ZombieReason.IMAGE_PULL_BACKOFF,
                              evidence="ErrImagePull", detail=IMAGE)

    assert section == (
        "## Failure\n\n"
        "- **Timestamp:** 2026-06-02T09:46:00Z\n"
        f"- **Job:** {JOB}\n"
        "- **Reason:** image_pull_backoff (ErrImagePull)\n"
        f"- **Detail:** {IMAGE}\n"
    )


def test_without_a_detail_the_section_is_todays_executors() -> None:
    section = failure_section(at=NOW, job_name=JOB, reason=ZombieReason.DEADLINE_EXCEEDED,
                              detail=" \n\t")

    assert section.splitlines()[-1] == "- **Reason:** deadline_exceeded"


def test_an_unsafe_detail_is_made_safe_not_refused() -> None:
    report = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_CRASH_NO_STDOUT,
                            at=NOW, detail="line one\n## Heading token=abc")

    assert report.detail == "line one ## Heading token=***"
    update = report.commands[0]
    assert isinstance(update, UpdateFrontmatter)
    assert update.body is not None
    assert update.body.section.endswith("- **Detail:** line one ## Heading token=***\n")


@given(st.text())
def test_the_section_parses_back_with_its_detail_and_a_republish_is_byte_identical(
    detail: str,
) -> None:
    report = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_OOM_KILLED,
                            at=NOW, evidence="OOMKilled/137", detail=detail)
    update = report.commands[0]
    assert isinstance(update, UpdateFrontmatter)
    assert update.body is not None

    parsed = parse_failure_section(update.body.section)

    assert parsed is not None
    assert parsed.detail == safe_detail(detail)
    again = zombie_failure(task_id=TASK, job_name=parsed.job_name, reason=parsed.reason,
                           at=parsed.at, evidence=parsed.evidence, detail=parsed.detail)
    assert again == report


def _record(update: UpdateFrontmatter) -> bytes:
    return encode(Envelope(request_id=UUID(int=7), request_time=NOW, command=update,
                           initiator="executor"))


@pytest.mark.parametrize("profile", ["current", "v0.3"])
@given(detail=st.text(st.characters(exclude_categories=())))
def test_any_detail_survives_the_controllers_section_rules_byte_for_byte(
    profile: str, detail: str
) -> None:
    report = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.IMAGE_PULL_BACKOFF,
                            at=NOW, evidence="ImagePullBackOff", detail=detail)
    update = report.commands[0]
    assert isinstance(update, UpdateFrontmatter)

    applied = apply_record(FILE, _record(update), now=NOW, profile=profile)

    assert applied.outcome is Outcome.HANDLED
    assert applied.body is not None
    safe = safe_detail(detail)
    lines = applied.text.split("\n")
    detail_lines = [line for line in lines if line.startswith(DETAIL_PREFIX)]
    if safe:
        assert detail_lines == [DETAIL_PREFIX + safe]
    else:
        assert detail_lines == []
    section = applied.body[applied.body.index("## Failure"):]
    parsed = parse_failure_section(section)
    assert parsed is not None
    assert parsed.detail == safe

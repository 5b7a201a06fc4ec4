"""Topic naming, record keys and request ids."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.adapters.kafka.ids import message_key, random_request_id
from zombiewatch.adapters.kafka.topics import (
    prefix_for_branch,
    request_topic,
)
from zombiewatch.domain.commands import IncrementFrontmatter, Operation, UpdateFrontmatter
from zombiewatch.domain.ledger import PROJECT_NAMESPACE_UUID, failure_request_id


@pytest.mark.parametrize(
    ("branch", "topic"),
    [
        ("dev", "develop-agent-task-v1-request"),
        ("prod", "master-agent-task-v1-request"),
        ("staging", "staging-agent-task-v1-request"),
        ("develop", "develop-agent-task-v1-request"),
        ("master", "master-agent-task-v1-request"),
        ("", "agent-task-v1-request"),
    ],
)
def test_legacy_branch_maps_to_its_topic(branch: str, topic: str) -> None:
    assert request_topic(prefix_for_branch(branch)) == topic


@pytest.mark.parametrize(
    ("prefix", "topic"),
    [
        ("dev", "dev-agent-task-v1-request"),
        ("prod", "prod-agent-task-v1-request"),
        ("team-a", "team-a-agent-task-v1-request"),
        ("", "agent-task-v1-request"),
    ],
)
def test_explicit_prefix_is_used_as_is(prefix: str, topic: str) -> None:
    assert request_topic(prefix) == topic


def test_only_dev_and_prod_branches_are_renamed() -> None:
    assert prefix_for_branch("dev") == "develop"
    assert prefix_for_branch("prod") == "master"
    assert prefix_for_branch("Dev") == "Dev"


def test_the_namespace_uuid_is_the_documented_derivation() -> None:
    expected = uuid.uuid5(uuid.NAMESPACE_DNS, "zombiewatch.agent.benjamin-borbe.de")

    assert expected == PROJECT_NAMESPACE_UUID


def test_failure_request_id_is_uuid5_of_job_and_operation() -> None:
    request_id = failure_request_id(
        job_name="claude-agent-4aa57614-20260602091530", operation=Operation.UPDATE_FRONTMATTER
    )

    assert request_id == uuid.uuid5(
        PROJECT_NAMESPACE_UUID, "claude-agent-4aa57614-20260602091530/update-frontmatter"
    )
    assert request_id.version == 5
    # Pinned: a change would break dedupe of re-published failures across versions.
    assert request_id == uuid.UUID(str(request_id))


@given(job=st.text(), operation=st.sampled_from(Operation))
def test_same_job_and_operation_give_the_same_request_id(job: str, operation: Operation) -> None:
    first = failure_request_id(job_name=job, operation=operation)
    again = failure_request_id(job_name=job, operation=operation)

    assert first == again


@given(
    jobs=st.tuples(st.text(), st.text()),
    operations=st.tuples(st.sampled_from(Operation), st.sampled_from(Operation)),
)
def test_different_job_or_operation_give_different_request_ids(
    jobs: tuple[str, str], operations: tuple[Operation, Operation]
) -> None:
    first = failure_request_id(job_name=jobs[0], operation=operations[0])
    second = failure_request_id(job_name=jobs[1], operation=operations[1])

    assert (first == second) == (jobs[0] == jobs[1] and operations[0] == operations[1])


def test_the_two_commands_of_one_failure_get_different_ids() -> None:
    update = failure_request_id(job_name="j", operation=Operation.UPDATE_FRONTMATTER)
    increment = failure_request_id(job_name="j", operation=Operation.INCREMENT_FRONTMATTER)

    assert update != increment


def test_random_request_ids_are_fresh_uuid4s() -> None:
    first, second = random_request_id(), random_request_id()

    assert first != second
    assert first.version == 4


def test_message_key_is_the_task_identifier() -> None:
    update = UpdateFrontmatter(task_identifier="4aa57614-äö", updates={})
    increment = IncrementFrontmatter(task_identifier="4aa57614-äö", field="trigger_count", delta=1)

    assert message_key(update) == message_key(increment) == "4aa57614-äö".encode()

"""The embedding example runs against the real services and does what it says."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client

from examples import embed
from harness.services import Services
from harness.support import apply_config_crd, create_config, reading, request_topic_for
from zombiewatch.domain.commands import IncrementFrontmatter, UpdateFrontmatter
from zombiewatch.domain.views import TASK_ID_LABEL

pytestmark = pytest.mark.integration


async def test_the_embedding_example_spawns_a_job_and_publishes_the_dispatch_commands(
    services: Services, api_client: Any, namespace: str, bootstrap_servers: str,
) -> None:
    apply_config_crd(api_client)
    create_config(api_client, namespace, "claude", {
        "assignee": "claude", "taskTypes": ["code"], "zombieJobTimeoutSeconds": 600})
    prefix = f"embed-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(bootstrap_servers, prefix)
    args = embed.parse_args([
        "--kubeconfig", str(services.kubeconfig), "--namespace", namespace,
        "--kafka-brokers", bootstrap_servers, "--topic-prefix", prefix,
        "--watch-seconds", "0.5"])

    async with reading(bootstrap_servers, topic) as reader:
        assert await embed.main_async(args) == 0
        await reader.quiet(2.0)

    batch: Any = client.BatchV1Api(api_client)
    jobs = batch.list_namespaced_job(namespace).items
    assert len(jobs) == 1
    job = jobs[0]
    assert job.spec.active_deadline_seconds == 600
    task_id = job.metadata.labels[TASK_ID_LABEL]
    commands = [envelope.command for _, envelope, _, _ in reader.records]
    assert [type(c) for c in commands] == [IncrementFrontmatter, UpdateFrontmatter]
    assert all(c.task_identifier == task_id for c in commands)
    spawn = commands[1]
    assert isinstance(spawn, UpdateFrontmatter)
    assert spawn.updates["current_job"] == job.metadata.name
    assert spawn.updates["spawn_notification"] is True


async def test_the_embedding_example_escalates_a_type_the_agent_does_not_take(
    services: Services, api_client: Any, namespace: str, bootstrap_servers: str,
) -> None:
    apply_config_crd(api_client)
    create_config(api_client, namespace, "claude", {"assignee": "claude", "taskTypes": ["code"]})
    prefix = f"embed-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(bootstrap_servers, prefix)
    args = embed.parse_args([
        "--kubeconfig", str(services.kubeconfig), "--namespace", namespace,
        "--kafka-brokers", bootstrap_servers, "--topic-prefix", prefix,
        "--task-type", "poetry", "--watch-seconds", "0.2"])

    async with reading(bootstrap_servers, topic) as reader:
        assert await embed.main_async(args) == 0
        await reader.quiet(2.0)

    failures = reader.failures()
    assert [(f.reason, len(f.commands)) for f in failures] == [("type_mismatch", 1)]
    update = failures[0].commands[0].command
    assert isinstance(update, UpdateFrontmatter)
    assert update.updates == {"assignee": "", "current_job": "", "previous_assignee": "claude"}

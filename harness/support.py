"""What the end-to-end tests share: the Config CRD, a committed-records reader, daemons."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaConsumer
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.fixtures import create_topics
from harness.waiting import WAIT, wait_until, wait_until_sync
from zombiewatch.adapters.kafka.codec import Envelope, decode
from zombiewatch.domain.commands import IncrementFrontmatter, UpdateFrontmatter
from zwservices import paths

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DEPLOY_BASE = DEPLOY / "base"
"""The daemon's objects (everything but the CRD)."""
CRD_FILE = DEPLOY / "components" / "crd" / "crd-config.yaml"


def kubectl_binary() -> str:
    """The node's own kubectl (v1.37, built by ``make services-deps``), else one on PATH."""
    built = paths.node_bin_dir() / "kubectl"
    found = str(built) if built.is_file() else shutil.which("kubectl")
    assert found, "no kubectl: the node build makes one"
    return found


def kustomize_build(folder: Path = DEPLOY) -> list[dict[str, Any]]:
    """The objects ``kubectl apply -k <folder>`` would apply (``kubectl kustomize``)."""
    built = subprocess.run([kubectl_binary(), "kustomize", str(folder)], check=False,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return [body for body in yaml.safe_load_all(built.stdout) if body]


CRD_NAME = "configs.agent.benjamin-borbe.de"

_JOB = re.compile(r"^- \*\*Job:\*\* (.+)$", re.MULTILINE)
_REASON = re.compile(r"^- \*\*Reason:\*\* (.+)$", re.MULTILINE)

PULL_EITHER = "image_pull_backoff (ErrImagePull|ImagePullBackOff)"
"""An image pull's Reason line on the real node: the kubelet alternates the two waiting
reasons, so which one the failure names depends on when the daemon read the pod."""


def pull_either(table: dict[str, list[str]]) -> dict[str, list[str]]:
    """``reasons_by_job()`` with either image pull Reason line written :data:`PULL_EITHER`."""
    pulls = {"image_pull_backoff (ErrImagePull)", "image_pull_backoff (ImagePullBackOff)"}
    return {job: [PULL_EITHER if line in pulls else line for line in lines]
            for job, lines in table.items()}


def apply_config_crd(api_client: Any, *, body: dict[str, Any] | None = None) -> None:
    """Create or replace the Config CRD (deploy/ by default) and wait until Established."""
    ext: Any = client.ApiextensionsV1Api(api_client)
    manifest = body or yaml.safe_load(CRD_FILE.read_text())
    try:
        ext.create_custom_resource_definition(manifest)
    except ApiException as exc:
        if exc.status != 409:
            raise
        current = ext.read_custom_resource_definition(CRD_NAME)
        manifest = {**manifest, "metadata": {
            **manifest["metadata"], "resourceVersion": current.metadata.resource_version}}
        ext.replace_custom_resource_definition(CRD_NAME, manifest)

    def established() -> bool:
        crd = ext.read_custom_resource_definition(CRD_NAME)
        conditions = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_until_sync(established, "the Config CRD established")


def create_config(api_client: Any, namespace: str, name: str, spec: dict[str, Any]) -> None:
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "agent.benjamin-borbe.de", "v1", namespace, "configs",
        {"apiVersion": "agent.benjamin-borbe.de/v1", "kind": "Config",
         "metadata": {"name": name}, "spec": spec})


def request_topic_for(bootstrap: str, prefix: str, *, partitions: int = 3) -> str:
    """Create ``<prefix>-agent-task-v1-request`` (what the daemon publishes to)."""
    name = f"{prefix}-agent-task-v1-request"
    create_topics(bootstrap, [name], partitions)
    return name


@dataclass(frozen=True, slots=True)
class PublishedFailure:
    """A failure as read back: the job and reason from the section, the pair's partition."""

    job_name: str
    reason: str
    task_id: str
    partition: int
    commands: tuple[Envelope, ...]
    seen_at: float
    """When the last record of the failure was read (monotonic clock)."""


class CommittedReader:
    """Collects every committed record of a topic from the beginning (read_committed; with
    ``isolation_level="read_uncommitted"`` aborted transactions' records too, to prove a
    failure was not even attempted twice)."""

    def __init__(self, bootstrap: str, topic: str, *,
                 isolation_level: str = "read_committed") -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.isolation_level = isolation_level
        self.records: list[tuple[bytes, Envelope, int, float]] = []
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CommittedReader:
        self._consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, isolation_level=self.isolation_level,
            auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
            retry_backoff_ms=200, metadata_max_age_ms=2000,
            # A read_committed fetch parked at the broker is not woken when the commit
            # marker lands, only by new data or this timeout: keep it short so the
            # reader sees a commit within milliseconds (it measures latencies).
            fetch_max_wait_ms=20)
        await self._consumer.start()
        self._task = asyncio.create_task(self._pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._consumer.stop()

    async def _pump(self) -> None:
        while True:
            try:
                async for message in self._consumer:
                    self.records.append(
                        (message.key, decode(message.value), message.partition, time.monotonic()))
            except asyncio.CancelledError:
                raise
            except Exception:  # broker restarts in fault tests: keep reading
                await asyncio.sleep(0.2)

    def failures(self) -> list[PublishedFailure]:
        """Update/increment pairs grouped per task, in order of arrival."""
        found: list[PublishedFailure] = []
        pending: dict[bytes, tuple[Envelope, int]] = {}
        for key, envelope, partition, seen in self.records:
            command = envelope.command
            if isinstance(command, UpdateFrontmatter) and command.body is not None:
                if "assignee" in command.updates:  # type mismatch: a single command
                    found.append(_failure(envelope, None, partition, seen))
                else:
                    pending[key] = (envelope, partition)
            elif isinstance(command, IncrementFrontmatter) and key in pending:
                update, part = pending.pop(key)
                found.append(_failure(update, envelope, part, seen))
        return found

    def reasons_by_job(self) -> dict[str, list[str]]:
        table: dict[str, list[str]] = {}
        for failure in self.failures():
            table.setdefault(failure.job_name, []).append(failure.reason)
        return table

    async def wait_for_failures(self, count: int, *, timeout: float = WAIT) -> None:
        await wait_until(lambda: len(self.failures()) >= count, f"{count} failures",
                         timeout=timeout, detail=lambda: f"saw {self.reasons_by_job()}")

    async def quiet(self, seconds: float = 2.0) -> None:
        """Give stray duplicates the time to show up."""
        await asyncio.sleep(seconds)


def _failure(
    update: Envelope, increment: Envelope | None, partition: int, seen_at: float
) -> PublishedFailure:
    command = update.command
    assert isinstance(command, UpdateFrontmatter)
    assert command.body is not None
    section = command.body.section
    job = _JOB.search(section)
    reason = _REASON.search(section)
    return PublishedFailure(
        job_name=job.group(1) if job else "", reason=reason.group(1) if reason else "",
        task_id=command.task_identifier, partition=partition,
        commands=(update,) if increment is None else (update, increment), seen_at=seen_at)


@contextlib.asynccontextmanager
async def reading(bootstrap: str, topic: str, *,
                  isolation_level: str = "read_committed") -> AsyncIterator[CommittedReader]:
    async with CommittedReader(bootstrap, topic, isolation_level=isolation_level) as reader:
        yield reader

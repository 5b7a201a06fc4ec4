"""The demo: zombiewatch against a real kube-apiserver and a real Kafka broker.

``make demo`` (``python -m scripts.demo``) starts the services (building or
fetching them on first use), runs the daemon in-process, creates one agent
Job per failure mode plus a healthy one, plays the kubelet by patching pod
status, prints every failure command as a ``read_committed`` consumer receives
it, and ends with a table: job, expected reason, published reason, latency.
It exits non-zero if any expectation fails, and tears everything down.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client, config

from tests.harness import kubelet
from tests.harness.fixtures import create_topics
from tests.harness.services import Services, acquire
from tests.integration.support import CommittedReader, apply_config_crd, create_config
from zombiewatch.app.daemon import build_container
from zombiewatch.app.logs import configure_logging
from zombiewatch.app.runtime import Runtime
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings

GRACE_SECONDS = 3.0
"""The demo's grace window (120 s in production) so the time-dependent rows show quickly."""
WAIT_SECONDS = 60.0
QUIET_SECONDS = 3.0
ASSIGNEE = "claude"


@dataclass
class Case:
    """One Job of the demo and what should become of it."""

    title: str
    expected: str | None
    play: Callable[[Any, Any, str, Any, Any], object]
    """(core, batch, namespace, job, pod) -> None: the kubelet's part."""
    with_pod: bool = True
    started_ago: float | None = None
    job_name: str = ""
    played_at: float = 0.0
    published: list[str] = field(default_factory=list)
    seen_at: float | None = None


def _nothing(*_: Any) -> None:
    return None


def cases() -> list[Case]:
    return [
        Case("image pull backoff", "image_pull_backoff",
             lambda c, b, ns, j, p: kubelet.set_waiting(c, ns, p, "ImagePullBackOff")),
        Case("init container cannot pull", "image_pull_backoff",
             lambda c, b, ns, j, p: kubelet.set_waiting(c, ns, p, "ErrImagePull", init=True,
                                                        container="init")),
        Case("crash loop", "pod_crash_no_stdout",
             lambda c, b, ns, j, p: kubelet.set_waiting(c, ns, p, "CrashLoopBackOff",
                                                        restart_count=4)),
        Case("evicted", "pod_evicted", lambda c, b, ns, j, p: kubelet.set_evicted(c, ns, p)),
        Case("OOM killed before output", "pod_crash_no_stdout",
             lambda c, b, ns, j, p: kubelet.set_terminated(c, ns, p, 137, reason="OOMKilled")),
        Case("never scheduled", "pod_not_scheduled",
             lambda c, b, ns, j, p: kubelet.set_unschedulable(c, ns, p)),
        Case("missing secret", "container_config_error",
             lambda c, b, ns, j, p: kubelet.set_waiting(c, ns, p, "CreateContainerConfigError")),
        Case("job deadline exceeded", "deadline_exceeded",
             lambda c, b, ns, j, p: kubelet.set_job_failed(b, ns, j, "DeadlineExceeded"),
             started_ago=10),
        Case("stuck pending past the deadline", "deadline_exceeded", _nothing, started_ago=120),
        Case("job lost (no pod at all)", "executor_watch_lost", _nothing, with_pod=False,
             started_ago=120),
        Case("healthy, completes", None, _complete),
    ]


def _complete(core: Any, batch: Any, ns: str, job: Any, pod: Any) -> None:
    kubelet.set_running(core, ns, pod)
    kubelet.set_terminated(core, ns, pod, 0, phase="Succeeded", reason="Completed")
    kubelet.set_job_complete(batch, ns, job)


class Demo:
    def __init__(self, services: Services) -> None:
        self.services = services
        new_client: Any = config.new_client_from_config
        self.api = new_client(config_file=str(services.kubeconfig))
        self.core: Any = client.CoreV1Api(self.api)
        self.batch: Any = client.BatchV1Api(self.api)
        self.namespace = f"zombiewatch-demo-{uuid.uuid4().hex[:6]}"
        self.prefix = f"demo-{uuid.uuid4().hex[:6]}"
        self.topic = f"{self.prefix}-agent-task-v1-request"
        self.cases = cases()

    def prepare_cluster(self) -> None:
        self.core.create_namespace({"metadata": {"name": self.namespace}})
        apply_config_crd(self.api)
        create_config(self.api, self.namespace, ASSIGNEE, {
            "assignee": ASSIGNEE, "heartbeat": "1s", "zombieJobTimeoutSeconds": 60,
            "zombieSweeperIntervalSeconds": 10, "taskTypes": ["code"]})
        create_topics(self.services.bootstrap_servers, [self.topic], 3)

    def settings(self) -> Settings:
        return Settings(
            namespace=self.namespace, kubeconfig=self.services.kubeconfig,
            kafka=KafkaOptions(brokers=self.services.bootstrap_servers,
                               topic_prefix=self.prefix),
            leader=LeaderOptions(enabled=True, identity="demo"),
            listen_host="127.0.0.1", listen_port=0, grace_seconds=GRACE_SECONDS)

    def spawn(self, case: Case) -> tuple[Any, Any]:
        task_id = str(uuid.uuid4())
        case.job_name = f"{ASSIGNEE}-{task_id[:8]}-{datetime.now(UTC):%Y%m%d%H%M%S}"
        job = kubelet.create_agent_job(self.batch, self.namespace, task_id=task_id,
                                       name=case.job_name, assignee=ASSIGNEE)
        if case.started_ago is not None:
            kubelet.set_job_started(self.batch, self.namespace, job,
                                    datetime.now(UTC) - timedelta(seconds=case.started_ago))
        case.played_at = time.monotonic()  # cases without a kubelet part count from here
        pod = None
        if case.with_pod:
            pod = kubelet.create_agent_pod(
                self.core, self.namespace, job=job, task_id=task_id, assignee=ASSIGNEE,
                init_container="init" if "init" in case.title else None)
        return job, pod

    async def run(self) -> bool:
        self.prepare_cluster()
        print(f"namespace {self.namespace}, topic {self.topic}\n")
        runtime = Runtime(build_container(self.settings()))
        await runtime.start()
        try:
            async with CommittedReader(self.services.bootstrap_servers, self.topic) as reader:
                await self._play(reader)
        finally:
            await runtime.stop()
        return self._summary()

    async def _play(self, reader: CommittedReader) -> None:
        spawned = [(case, *self.spawn(case)) for case in self.cases]
        await asyncio.sleep(1.5)  # past the 1 s heartbeat window of the creations
        for case, job, pod in spawned:
            if case.play is not _nothing:
                case.played_at = time.monotonic()
                case.play(self.core, self.batch, self.namespace, job, pod)
        expected = sum(1 for c in self.cases if c.expected)
        printed = 0
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            printed = self._print_new(reader, printed)
            if len(reader.failures()) >= expected:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(QUIET_SECONDS)  # duplicates, if any, would show up now
        self._print_new(reader, printed)
        by_name = {c.job_name: c for c in self.cases}
        for failure in reader.failures():
            target = by_name.get(failure.job_name)
            if target is not None:
                target.published.append(failure.reason)
                target.seen_at = target.seen_at or failure.seen_at

    @staticmethod
    def _print_new(reader: CommittedReader, printed: int) -> int:
        for key, envelope, partition, _ in reader.records[printed:]:
            command = envelope.command
            print(f"<- partition {partition} key {key.decode()} {command.operation.value}: "
                  f"{_describe(command)}")
        return len(reader.records)

    def _summary(self) -> bool:
        rows = [("job", "case", "expected", "published", "latency")]
        ok = True
        for case in self.cases:
            published = ",".join(case.published) or "-"
            good = case.published == ([case.expected] if case.expected else [])
            ok = ok and good
            latency = (f"{(case.seen_at - case.played_at) * 1000:.0f} ms"
                       if case.seen_at is not None and case.expected else "-")
            rows.append((case.job_name, case.title, case.expected or "(none)",
                         published + ("" if good else "  <-- WRONG"), latency))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        print()
        for i, row in enumerate(rows):
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
            if i == 0:
                print("  ".join("-" * w for w in widths))
        print(f"\n{'all expectations met' if ok else 'SOME EXPECTATIONS FAILED'}")
        return ok

    def close(self) -> None:
        self.api.close()


def _describe(command: Any) -> str:
    if hasattr(command, "updates"):
        text = f"updates={dict(command.updates)}"
        if command.body is not None:
            reason = [line for line in command.body.section.splitlines() if "Reason" in line]
            text += f" body={command.body.heading!r} {reason[0] if reason else ''}"
        return text
    return f"{command.field} += {command.delta}"


async def main_async() -> int:
    configure_logging(log_format="text", level="WARNING")
    # A fresh topic's first offset fetch may hit a leader election: harmless, retried.
    logging.getLogger("aiokafka.consumer.fetcher").setLevel(logging.CRITICAL)
    print("zombiewatch demo: starting the real services (first run builds them) ...")
    services = acquire()
    demo = Demo(services)
    try:
        return 0 if await demo.run() else 1
    finally:
        demo.close()
        services.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async()))

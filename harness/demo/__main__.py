"""The demo: zombiewatch against a real single-node Kubernetes v1.37 and a real Kafka broker.

``make demo`` (``python -m harness.demo``) brings the node up (building it on first use,
or reusing the live node of ``services.py node-up``), embeds zombiewatch in-process
through the library (``ZombieWatch``), creates one real agent Job per failure mode plus a
healthy one and lets Kubernetes do the rest: no status is patched. It prints every
failure command as a ``read_uncommitted`` consumer (the controller's isolation) receives
it and ends with a table: job, case, expected reason, published reason, latency, and how
the Job itself ended. It exits non-zero if any expectation failed, and tears everything
down (its namespace; the node too when it started it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness import workloads
from harness.demo.cases import (
    GRACE_SECONDS,
    JOB_TIMEOUT_SECONDS,
    SWEEPER_INTERVAL_SECONDS,
    Case,
    cases,
)
from harness.demo.node import node_for_demo
from harness.demo.reader import UncommittedReader
from harness.node_fixtures import RealNode
from harness.observer import Observer
from harness.support import apply_config_crd, create_config, request_topic_for
from zombiewatch.app.library import ZombieWatch
from zombiewatch.app.logs import configure_logging
from zombiewatch.app.settings import Settings

ASSIGNEE = "claude"
WAIT_SECONDS = 240.0
"""Every row is due within ~45 s on an idle machine; a loaded 2-core one starts pods slowly."""
QUIET_SECONDS = 3.0


class Demo:
    def __init__(self, node: RealNode) -> None:
        self.node = node
        self.api = node.api_client()
        self.namespace = ""
        self.prefix = f"demo-{uuid.uuid4().hex[:6]}"
        self.cases = cases()
        self.registered_at = 0.0

    def prepare_cluster(self) -> str:
        self.namespace = self.node.create_namespace(self.api, "zw-demo")
        apply_config_crd(self.api)
        create_config(self.api, self.namespace, ASSIGNEE, {
            "assignee": ASSIGNEE, "heartbeat": "1s",
            "zombieJobTimeoutSeconds": JOB_TIMEOUT_SECONDS,
            "zombieSweeperIntervalSeconds": SWEEPER_INTERVAL_SECONDS, "taskTypes": ["code"]})
        return request_topic_for(self.node.bootstrap_servers, self.prefix)

    def settings(self) -> Settings:
        return Settings.for_embedding(
            namespace=self.namespace, kafka_brokers=self.node.bootstrap_servers,
            kubeconfig=self.node.kubeconfig, topic_prefix=self.prefix,
            # One Job per case, each expected within its own latency: no storm to guard.
            grace_seconds=GRACE_SECONDS, storm_guard=False)

    def spawn(self, watch: ZombieWatch, case: Case) -> None:
        case.task_id = str(uuid.uuid4())
        case.job_name = (
            watch.job_name(assignee=ASSIGNEE, task_id=case.task_id, at=datetime.now(UTC))
            if case.options is None else workloads.unique(case.key.replace("_", "-")))
        if case.options is None:  # the host's Job creation was lost: only the registration
            watch.job_spawned(task_id=case.task_id, job_name=case.job_name, assignee=ASSIGNEE)
            self.registered_at = time.monotonic()
            return
        manifest = workloads.job_manifest(case.job_name, task_id=case.task_id, **case.options)
        workloads.create_job(self.api, self.namespace, manifest)

    async def run(self) -> bool:
        topic = self.prepare_cluster()
        print(f"namespace {self.namespace}, topic {topic}; grace {GRACE_SECONDS:.0f} s, "
              f"Config: timeout {JOB_TIMEOUT_SECONDS} s, sweeper every "
              f"{SWEEPER_INTERVAL_SECONDS} s\n")
        with Observer(self.api, self.namespace) as observer:
            async with ZombieWatch(self.settings()) as watch, \
                    UncommittedReader(self.node.bootstrap_servers, topic) as reader:
                if not await watch.wait_synced(60):
                    raise RuntimeError("zombiewatch did not sync with the node")
                for case in self.cases:
                    self.spawn(watch, case)
                await self._follow(watch, reader, observer)
            return self._summary(observer)

    def _settled(self, reader: UncommittedReader, observer: Observer) -> bool:
        published = {f.job_name for f in reader.failures()}
        for case in self.cases:
            if case.expected and case.job_name not in published:
                return False
            ended = observer.job_signs_now(case.job_name) & {"Failed", "Complete"}
            if case.job_end and not ended:
                return False
        return True

    async def _follow(self, watch: ZombieWatch, reader: UncommittedReader,
                      observer: Observer) -> None:
        printed = 0
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and not self._settled(reader, observer):
            printed = reader.print_new(printed)
            await asyncio.sleep(0.1)
        await watch.sweep_now()  # a verdict the events missed would show now, or twice
        await asyncio.sleep(QUIET_SECONDS)
        reader.print_new(printed)
        by_name = {c.job_name: c for c in self.cases}
        for failure in reader.failures():
            target = by_name.get(failure.job_name)
            if target is not None:
                target.published.append(failure.reason)
                target.seen_at = target.seen_at or failure.seen_at

    def _latency(self, case: Case, observer: Observer) -> str:
        if case.seen_at is None or not case.expected:
            return "-"
        due = (self.registered_at + JOB_TIMEOUT_SECONDS if case.options is None
               else case.due(observer, case.job_name) if case.due else None)
        return "?" if due is None else f"{(case.seen_at - due) * 1000:,.0f} ms"

    def _summary(self, observer: Observer) -> bool:
        rows = [("job", "case", "expected", "published", "latency", "the Job's own end")]
        ok = True
        for case in self.cases:
            published = ",".join(case.published) or "(nothing)"
            # The Reason line carries the evidence after the reason: "pod_oom_killed
            # (OOMKilled/137)"; the case expects the reason, the table shows both.
            reasons = [line.partition(" (")[0] for line in case.published]
            good = reasons == ([case.expected] if case.expected else [])
            ok = ok and good
            ends = sorted(s for s in observer.job_signs_now(case.job_name)
                          if s.startswith(("Failed:", "Complete:", "FailureTarget:",
                                           "SuccessCriteriaMet:")))
            end = ", ".join(ends) or ("(no Job)" if case.options is None else "(running)")
            rows.append((case.job_name, case.title, case.expected or "(nothing)",
                         published + ("" if good else "  <-- WRONG"),
                         self._latency(case, observer), end))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        print()
        for i, row in enumerate(rows):
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
            if i == 0:
                print("  ".join("-" * w for w in widths))
        print("\nlatency: pair read by the consumer minus when the state that makes the verdict "
              "due was first seen on an\nindependent watch of the namespace:")
        for case in self.cases:
            if case.expected:
                print(f"  {case.title}: {case.due_from}")
        print("A Job that fails after its pod was reported (BackoffLimitExceeded, "
              "DeadlineExceeded) publishes nothing more:\none failure per Job.")
        print(f"\n{'all expectations met' if ok else 'SOME EXPECTATIONS FAILED'}")
        return ok

    def close(self) -> None:
        if self.namespace:
            delete_namespace(self.api, self.namespace)
        self.api.close()


def delete_namespace(api: Any, namespace: str, timeout: float = 120.0) -> None:
    """Delete the namespace and wait until it is gone (its pods' containers with it)."""
    core: Any = client.CoreV1Api(api)
    with contextlib.suppress(ApiException):
        core.delete_namespace(namespace)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.5)
    print(f"warning: namespace {namespace} still terminating after {timeout:.0f} s",
          file=sys.stderr)


async def main_async() -> int:
    configure_logging(log_format="text", level="WARNING")
    # A fresh topic's first offset fetch may hit a leader election: harmless, retried.
    logging.getLogger("aiokafka.consumer.fetcher").setLevel(logging.CRITICAL)
    node = node_for_demo()
    demo = Demo(node)
    try:
        return 0 if await demo.run() else 1
    finally:
        demo.close()
        if node.owned:
            print("stopping the node this demo started ...")
        node.close()


if __name__ == "__main__":
    # No options: ``--help`` explains what it does, a mistyped option is a one-line error.
    argparse.ArgumentParser(prog="python -m harness.demo", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    sys.exit(asyncio.run(main_async()))

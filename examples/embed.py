"""Embedding zombiewatch in an executor: the dispatch path of one task, end to end.

Run it against the local services (``make services-up``), or any cluster and broker::

    .venv/bin/python examples/embed.py --kubeconfig ~/.kube/config \\
        --namespace agents --kafka-brokers 127.0.0.1:9092 --topic-prefix demo

It checks the task type against the agent's Config, bumps the trigger count,
creates the agent Job from the manifest builder, registers it, announces the
spawn, and lets zombiewatch watch it. Nothing runs the Job here, so after the
deadline zombiewatch publishes
the failure pair on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config

from zombiewatch import PublishFailedError, Settings, StartFailedError, ZombieWatch


async def dispatch_one_task(watch: ZombieWatch, *, namespace: str, kubeconfig: Path | None,
                            brokers: str, assignee: str, task_type: str) -> str:
    """What the host's dispatch path does for one task; returns the Job name.

    A helper returns once its commands are committed; :class:`PublishFailedError`
    says they are not (its ``kind`` says why: the broker is down, an ACL is missing...).
    """
    task_id = str(uuid.uuid4())
    if not watch.accepts_task_type(assignee, task_type):
        try:
            await watch.report_type_mismatch(
                task_id=task_id, job_name=watch.job_name(assignee=assignee, task_id=task_id,
                                                         at=datetime.now(UTC)),
                prior_assignee=assignee, detail=f"{assignee} does not take {task_type} tasks")
        except PublishFailedError as error:
            raise SystemExit(f"could not escalate: {error}") from error
        return ""
    try:
        await watch.increment_trigger_count(task_id)
    except PublishFailedError as error:
        raise SystemExit(f"could not bump trigger_count: {error}") from error
    started = datetime.now(UTC)
    manifest = watch.build_job_manifest(
        task_id=task_id, assignee=assignee, task_content="# A task\n\nDo the thing.\n",
        task_type=task_type, phase="in_progress", kafka_brokers=brokers, branch="dev",
        image="registry.invalid/agent:latest", config=watch.config_for(assignee), at=started,
        namespace=namespace)
    new_client: Any = config.new_client_from_config  # untyped in the client package
    api = new_client(config_file=str(kubeconfig) if kubeconfig else None)
    try:
        batch: Any = client.BatchV1Api(api)
        batch.create_namespaced_job(namespace, manifest)
    finally:
        api.close()
    metadata = manifest["metadata"]
    assert isinstance(metadata, dict)
    job_name = str(metadata["name"])
    watch.job_spawned(task_id=task_id, job_name=job_name, assignee=assignee, started_at=started)
    try:
        await watch.notify_spawned(task_id=task_id, job_name=job_name, started_at=started)
    except PublishFailedError as error:  # the Job runs; zombiewatch watches it anyway
        print(f"could not announce the spawn: {error}", file=sys.stderr)
    return job_name


async def main_async(args: argparse.Namespace) -> int:
    settings = Settings.for_embedding(
        namespace=args.namespace, kafka_brokers=args.kafka_brokers,
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        topic_prefix=args.topic_prefix)
    try:
        watch = ZombieWatch(settings)
        await watch.start()
    except StartFailedError as error:  # e.g. a kubeconfig it cannot read
        print(f"zombiewatch did not start: {error}", file=sys.stderr)
        return 1
    try:
        if not await watch.wait_synced():
            print("the API server did not answer in time", file=sys.stderr)
            return 1
        job_name = await dispatch_one_task(
            watch, namespace=args.namespace, kubeconfig=settings.kubeconfig,
            brokers=args.kafka_brokers, assignee=args.assignee, task_type=args.task_type)
        print(f"spawned {job_name or '(nothing: type mismatch escalated)'}")
        for _ in range(int(args.watch_seconds * 10)):
            await asyncio.sleep(0.1)
        print(f"ready={watch.ready()[0]}")
    finally:
        await watch.stop()
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--kafka-brokers", required=True)
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--assignee", default="claude")
    parser.add_argument("--task-type", default="code")
    parser.add_argument("--watch-seconds", type=float, default=5.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main_async(parse_args(sys.argv[1:]))))

"""A stand-in for today's agent-task-executor's failure path, for shadow-mode tests.

It publishes what the executor publishes when it judges a Job a zombie
(UPSTREAM §1): two commands, the update (``current_job: ""`` and a ``## Failure``
section with Timestamp, Job and Reason lines, no Detail) then the increment
(``trigger_count`` +1), each a separate send with a **random** request id (also the
Kafka key), initiator ``executor``, no transaction. Its reason strings are its own, suffixes
included (``pod_oom_killed (OOMKilled/137)``). It remembers what it reported by
Job name in memory only, as the executor's LRU does: :meth:`restart` forgets, so a
Job judged again after a restart is reported twice.

The section is written here, from the executor's format, not with zombiewatch's
doctrine: the parser under test must read the executor's text, not our own.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from zombiewatch.adapters.kafka.codec import Envelope, encode
from zombiewatch.domain.commands import BodySection, IncrementFrontmatter, UpdateFrontmatter

INITIATOR = "executor"


def failure_section(*, job_name: str, reason: str, at: datetime) -> str:
    """The executor's ``## Failure`` section (Timestamp, Job, Reason; no Detail)."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"## Failure\n\n- **Timestamp:** {stamp}\n- **Job:** {job_name}\n"
            f"- **Reason:** {reason}\n")


class StandInExecutor:
    """Publishes the executor's failure commands on the request topic."""

    def __init__(self, *, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._producer: AIOKafkaProducer | None = None
        self._reported: set[str] = set()
        """The in-memory dedupe by Job name (the LRU); forgotten on restart."""
        self.sends: Counter[str] = Counter()
        """Failures sent per task id (each one an update and an increment)."""

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all")
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def restart(self) -> None:
        """Stop and start again: the dedupe, in memory only, is gone."""
        await self.stop()
        self._reported.clear()
        await self.start()

    async def report(self, *, task_id: str, job_name: str, reason: str) -> bool:
        """Publish the failure unless this process already reported the Job; True if sent."""
        if job_name in self._reported:
            return False
        assert self._producer is not None, "start() first"
        update = UpdateFrontmatter(
            task_identifier=task_id, updates={"current_job": ""},
            body=BodySection(heading="## Failure", section=failure_section(
                job_name=job_name, reason=reason, at=datetime.now(UTC))))
        increment = IncrementFrontmatter(task_identifier=task_id, field="trigger_count",
                                         delta=1)
        for command in (update, increment):  # two sends, no transaction
            request_id = uuid.uuid4()
            envelope = Envelope(request_id=request_id, request_time=datetime.now(UTC),
                                command=command, initiator=INITIATOR)
            await self._producer.send_and_wait(self._topic, encode(envelope),
                                               key=str(request_id).encode())
        self._reported.add(job_name)
        self.sends[task_id] += 1
        return True

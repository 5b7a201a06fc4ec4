"""The demo's consumer: the request topic read as the real controller reads it.

The controller consumes with ``read_uncommitted`` (its Kafka library's default), so that
is what the demo shows; the failures it groups are the same pairs as ``CommittedReader``
groups (zombiewatch aborts no transaction in the demo, so both see the same records).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer

from harness.support import CommittedReader


class UncommittedReader(CommittedReader):
    """Every record of the topic from the beginning, at ``read_uncommitted`` isolation."""

    async def __aenter__(self) -> UncommittedReader:
        self._consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, isolation_level="read_uncommitted",
            auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
            retry_backoff_ms=200, metadata_max_age_ms=2000, fetch_max_wait_ms=20)
        await self._consumer.start()
        self._task = asyncio.create_task(self._pump())
        return self

    def print_new(self, printed: int) -> int:
        """Print the records after the first ``printed``; return how many are printed."""
        for key, envelope, partition, _ in self.records[printed:]:
            command = envelope.command
            print(f"<- partition {partition} key {key.decode()} {command.operation.value}: "
                  f"{describe(command)}", flush=True)
        return len(self.records)


def describe(command: Any) -> str:
    """One line per command: the frontmatter change and the failure section's reason."""
    if hasattr(command, "updates"):
        text = f"updates={dict(command.updates)}"
        if command.body is not None:
            lines = command.body.section.splitlines()
            job = [line for line in lines if "**Job:**" in line]
            reason = [line for line in lines if "**Reason:**" in line]
            text += f" section={command.body.heading!r} {' '.join(job + reason)}"
        return text
    return f"{command.field} += {command.delta}"

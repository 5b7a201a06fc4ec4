"""The agent system's controller, for tests: over the real broker, onto a vault directory.

It behaves as the real controller does where zombiewatch's delivery depends on
it (SPEC §3 "The consumer as it really is"):

- it reads the request topic **read_uncommitted** (aborted records applied)
  and never de-duplicates request ids;
- it **drops** a record whose ``requestTime`` is older than its expiry when it
  consumes it (the vault's: 60 minutes for today's controller, 5 for v0.3;
  shortened by ``expiry`` in tests);
- it is the controller of one named vault: today's skips a command whose
  ``targetVault`` names another, so several controllers (one per vault) can
  consume one request topic, each applying what is its own;
- it can be told to fail its next N writes (the "git error" path): the record
  is consumed, a failure result is published on the result topic, nothing is
  written;
- after each write it publishes the changed task on the event topic, and it
  publishes every task on each poll of its vault (``poll_interval``); a deleted task
  file is a tombstone (:meth:`KafkaController.delete_task`);
- it can be paused (stops consuming, keeps its place), stopped (gracefully)
  and killed (abruptly: what it had not committed is consumed again on
  restart), then started again, resuming from its committed position.

The task files live in ``vault_dir/tasks/*.md``; what a command does to a file
is the vault's business (:class:`Vault`), so the rules stay those of the
reference model, not of this harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class Dispatched:
    """What the vault did with one record."""

    outcome: str
    """The controller's words: ``handled``, ``dropped_expired``, ``error``, ..."""
    task_id: str | None = None
    changed: bool = False


class Vault(Protocol):
    """Task files and the controller's rules for one record."""

    @property
    def name(self) -> str:
        """The vault's name: the controller's ``VAULT_NAME``."""
        ...

    @property
    def expiry(self) -> timedelta:
        """The controller's own expiry of a command (``requestTime`` older is dropped)."""
        ...

    def apply(self, value: bytes, *, now: datetime, expiry: timedelta) -> Dispatched: ...

    def would_write(self, value: bytes, *, now: datetime, expiry: timedelta) -> bool:
        """True when applying ``value`` now would write a file (for injected git errors)."""
        ...

    def task_ids(self) -> list[str]: ...

    def remove(self, task_id: str) -> bool:
        """Delete the task's file; False when there is none."""
        ...

    def event(self, task_id: str) -> bytes | None:
        """The task as the controller publishes it on the event topic (None: no such task)."""
        ...


@dataclass
class ControllerStats:
    dispatched: list[Dispatched] = field(default_factory=list)
    failed_writes: int = 0
    events_published: int = 0

    def outcomes(self) -> Counter[str]:
        return Counter(d.outcome for d in self.dispatched)


class KafkaController:
    """Consumes the request topic into a :class:`Vault`, publishes the event topic."""

    def __init__(
        self,
        *,
        bootstrap: str,
        request_topic: str,
        event_topic: str,
        result_topic: str,
        vault: Vault,
        expiry: timedelta | None = None,
        poll_interval: float = 60.0,
        commit_every: int = 1,
        isolation: str = "read_uncommitted",
    ) -> None:
        self.bootstrap = bootstrap
        self.request_topic = request_topic
        self.event_topic = event_topic
        self.result_topic = result_topic
        self.vault = vault
        self.expiry = vault.expiry if expiry is None else expiry
        """The vault's own unless shortened (tests that wait for records to expire)."""
        self.poll_interval = poll_interval
        self._commit_every = commit_every
        self.isolation = isolation
        """The real controller's is read_uncommitted; read_committed for the other kind."""
        self.stats = ControllerStats()
        self._committed: dict[int, int] = {}
        """The position it resumes from after a stop or a kill (per partition)."""
        self._fail_writes = 0
        self._running = asyncio.Event()
        self._running.set()
        self._task: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._stopping = False

    # Control ------------------------------------------------------------------

    async def start(self) -> None:
        """Start (or start again, from the committed position)."""
        if self._task is not None:
            raise RuntimeError("already running")
        self._stopping = False
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self._producer.start()
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._consume(ready))
        self._poller = asyncio.get_running_loop().create_task(self._poll_vault())
        await ready
        await self.publish_all()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def fail_next_writes(self, count: int) -> None:
        """The next ``count`` records that would write fail instead (consumed, not retried)."""
        self._fail_writes = count

    async def stop(self) -> None:
        """Graceful: finish the record in hand, commit, close."""
        self._stopping = True
        self._running.set()
        await self._end(graceful=True)

    async def kill(self) -> None:
        """Abrupt: nothing more is committed; the next start re-reads from the last commit."""
        await self._end(graceful=False)

    async def close(self) -> None:
        if self._task is not None:
            await self.kill()

    # Work ---------------------------------------------------------------------

    async def publish_all(self) -> None:
        """What a poll of the vault does: every task on the event topic."""
        for task_id in self.vault.task_ids():
            await self._publish_event(task_id)

    async def _consume(self, ready: asyncio.Future[None]) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap,
                                    isolation_level=self.isolation, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            partitions = [TopicPartition(self.request_topic, p)
                          for p in sorted(consumer.partitions_for_topic(self.request_topic)
                                          or await self._partitions(consumer))]
            consumer.assign(partitions)
            for tp in partitions:
                if tp.partition in self._committed:
                    consumer.seek(tp, self._committed[tp.partition])
                else:
                    await consumer.seek_to_beginning(tp)
            ready.set_result(None)
            pending: dict[int, int] = {}
            applied = 0
            while not self._stopping:
                await self._running.wait()
                batches = await consumer.getmany(timeout_ms=200, max_records=50)
                for tp, records in batches.items():
                    for record in records:
                        await self._running.wait()  # paused: hold even a fetched record
                        await self._handle(record.value)
                        pending[tp.partition] = record.offset + 1
                        applied += 1
                        if applied % self._commit_every == 0:
                            self._committed.update(pending)
                            pending.clear()
            self._committed.update(pending)  # a graceful stop commits what it applied
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _partitions(self, consumer: Any) -> set[int]:
        await consumer._client.force_metadata_update()  # the topic may be brand new
        return set(consumer.partitions_for_topic(self.request_topic) or {0})

    async def _handle(self, value: bytes | None) -> None:
        if value is None:
            return
        now = datetime.now(UTC)
        if self._fail_writes > 0 and self.vault.would_write(value, now=now, expiry=self.expiry):
            self._fail_writes -= 1
            self.stats.failed_writes += 1
            self.stats.dispatched.append(Dispatched("error"))
            await self._publish_result(value, "failure", "injected git error")
            return
        dispatched = self.vault.apply(value, now=now, expiry=self.expiry)
        self.stats.dispatched.append(dispatched)
        if dispatched.changed and dispatched.task_id is not None:
            await self._publish_event(dispatched.task_id)

    async def publish_task(self, task_id: str) -> None:
        """Publish one task on the event topic now (a new task, before the next poll)."""
        await self._publish_event(task_id)

    async def delete_task(self, task_id: str) -> None:
        """The task's file is deleted: gone from the vault, a tombstone on the event topic."""
        if self.vault.remove(task_id) and self._producer is not None:
            await self._producer.send_and_wait(self.event_topic, key=task_id.encode(),
                                               value=None)
            self.stats.events_published += 1

    async def _publish_event(self, task_id: str) -> None:
        producer = self._producer
        value = self.vault.event(task_id)
        if producer is None or value is None:
            return
        await producer.send_and_wait(self.event_topic, key=task_id.encode(), value=value)
        self.stats.events_published += 1

    async def _publish_result(self, value: bytes, status: str, message: str) -> None:
        if self._producer is None:
            return
        try:
            request_id = json.loads(value).get("requestID", "")
        except ValueError:
            request_id = ""
        body = json.dumps({"requestID": request_id, "status": status, "message": message})
        await self._producer.send_and_wait(self.result_topic, value=body.encode())

    async def _poll_vault(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            if self._running.is_set():
                await self.publish_all()

    async def _end(self, *, graceful: bool) -> None:
        task, self._task = self._task, None
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
        if task is not None:
            if not graceful:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()


def task_event(*, task_id: str, path: str, frontmatter: Mapping[str, object], body: str,
               created: datetime, modified: datetime) -> bytes:
    """The event topic's value for one task, as the controller writes it."""
    return json.dumps({
        "identifier": path, "created": _rfc3339(created), "modified": _rfc3339(modified),
        "taskIdentifier": task_id, "frontmatter": {k: _jsonable(v) for k, v in frontmatter.items()},
        "content": body}, ensure_ascii=False).encode()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def write_file(vault_dir: Path, path: str, text: str) -> None:
    """Write one task file into the vault directory (as the controller's git checkout)."""
    target = vault_dir / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")

"""The task feed: follow the controller's task event topic into a state per task (SPEC §13).

The controller publishes every changed task on ``<prefix>-agent-task-v1-event``:
key = task id, value = the whole task as JSON
(``{"identifier", "created", "modified", "taskIdentifier", "frontmatter": {...},
"content": "..."}``), a tombstone (null value) when the task is deleted. The
topic is keyed, so its latest value per task is the task's state.

How it is followed:

- no consumer group: every partition is assigned, read from the beginning at
  start, then followed; nothing is committed (every instance, leader or not,
  keeps its own warm copy, and a restart simply reads the topic again);
- "caught up" once every partition reached the end offset it had when
  reading started (:meth:`KafkaTaskFeed.wait_caught_up`): before that the feed
  does not know enough to say that a task's ``current_job`` is *not* a Job;
- a feed that jumps back (our position is out of the log's range, or an end
  offset is below it: the topic was recreated or truncated), or whose
  partitions changed, is rebuilt from the beginning, the states cleared first;
- decoding is done here (msgspec, only the frontmatter fields we keep; the
  body is skipped), the reading of the values is the domain's
  (:func:`zombiewatch.domain.tasks.task_state`). An event that is not JSON,
  lacks the frontmatter, has a field of the wrong type or is larger than
  ``max_value_bytes`` is counted by why, logged once per task, and the task's
  state is dropped (the gate then treats it as unknown: the cluster-only
  behaviour). Never fatal.
- A missing or unreadable topic (or broker) is a loud warning, ``up`` false and
  a retry every ``retry_seconds``; the daemon carries on with the cluster only.
  A refusal names the ACL that is missing ("needs Read on Topic <event topic>",
  by :func:`~zombiewatch.adapters.kafka.connection.missing_acl`, the rule the
  producer and the history use) and goes to the shared :class:`KafkaHealth`
  as the ``feed`` client, which counts it.
- ``zombiewatch scan`` reads the topic once instead (:meth:`KafkaTaskFeed.read_to_end`):
  to the end offsets, then closed; a topic it cannot read is an error, not a retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    IncompatibleBrokerVersion,
    OffsetOutOfRangeError,
    TopicAuthorizationFailedError,
)
from aiokafka.protocol.metadata import MetadataRequest

from zombiewatch.adapters.kafka.connection import (
    EXPECTED_ERRORS,
    ClientRole,
    KafkaHealth,
    connection_options,
    diagnosed,
    read_error,
)
from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.logfields import log_event
from zombiewatch.domain.tasks import TaskProblem, TaskState, TaskStates, task_state

log = logging.getLogger(__name__)

MAX_VALUE_BYTES: Final = 1_048_576
"""A task event larger than this is refused unread (Kafka's default record limit is 1 MB)."""

_LOGGED_TASKS_LIMIT: Final = 10_000
"""Tasks whose malformed events were logged; past it, they are only counted."""


class _Frontmatter(msgspec.Struct):
    """The frontmatter keys we keep; every other key is skipped while decoding."""

    current_job: Any = None
    job_started_at: Any = None
    assignee: Any = None
    trigger_count: Any = None
    max_triggers: Any = None
    phase: Any = None
    target_vault: Any = None
    status: Any = None


class _TaskEvent(msgspec.Struct):
    """The event's envelope; ``content`` (the body) is validated but never kept."""

    frontmatter: _Frontmatter
    identifier: str | None = None
    created: str | None = None
    modified: str | None = None
    taskIdentifier: str | None = None  # noqa: N815 - the wire name
    content: str | None = None


_DECODER: Final = msgspec.json.Decoder(_TaskEvent)


@dataclass(frozen=True, slots=True)
class Upsert:
    task_id: str
    state: TaskState


@dataclass(frozen=True, slots=True)
class Tombstone:
    task_id: str


@dataclass(frozen=True, slots=True)
class Malformed:
    task_id: str | None
    why: str


FeedEvent = Upsert | Tombstone | Malformed


def decode_event(
    key: bytes | None, value: bytes | None, *, max_value_bytes: int = MAX_VALUE_BYTES
) -> FeedEvent:
    """One record of the event topic as what it means for the task states."""
    if key is None:
        return Malformed(None, "no_key")
    try:
        task_id = key.decode("utf-8")
    except UnicodeDecodeError:
        return Malformed(None, "key_not_utf8")
    if not task_id:
        return Malformed(None, "no_key")
    if value is None:
        return Tombstone(task_id)
    if len(value) > max_value_bytes:
        return Malformed(task_id, "too_large")
    try:
        event = _DECODER.decode(value)
    except msgspec.ValidationError:
        return Malformed(task_id, "wrong_shape")
    except msgspec.DecodeError:
        return Malformed(task_id, "not_json")
    fm = event.frontmatter
    state = task_state(current_job=fm.current_job, job_started_at=fm.job_started_at,
                       assignee=fm.assignee, trigger_count=fm.trigger_count,
                       max_triggers=fm.max_triggers, phase=fm.phase,
                       target_vault=fm.target_vault, status=fm.status)
    if isinstance(state, TaskProblem):
        return Malformed(task_id, state.why)
    return Upsert(task_id, state)


@dataclass(slots=True)
class FeedStats:
    """Plain counters for the app's metrics."""

    events: int = 0
    """Records applied (upserts and tombstones)."""
    tombstones: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    """Records skipped, by why (``not_json``, ``wrong_shape``, ``too_large``, a field name)."""
    rebuilds: int = 0
    """Times the states were cleared and the topic read again (it jumped back)."""
    failures: int = 0
    """Times the consumer was lost (missing topic, broker, authorisation) and retried."""


class FeedConsumer(Protocol):
    """The slice of ``AIOKafkaConsumer`` the feed uses (a seam for fakes)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def partitions(self, topic: str) -> set[int] | None:
        """The topic's partitions from fresh metadata; None when it does not exist.

        Raises ``TopicAuthorizationFailedError`` when the broker refuses to describe
        it (no Read ACL): the feed then names the ACL instead of a missing topic.
        Must never create the topic (brokers may auto-create topics asked for by name).
        """
        ...

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...

    async def end_offsets(self, partitions: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        ...

    async def position(self, partition: TopicPartition) -> int: ...

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0,
                      max_records: int | None = None) -> Mapping[TopicPartition, list[Any]]: ...


ConsumerFactory = Callable[[KafkaClientSettings], FeedConsumer]


class AiokafkaFeedConsumer:
    """``AIOKafkaConsumer`` behind the :class:`FeedConsumer` seam."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def partitions(self, topic: str) -> set[int] | None:
        # A metadata request for *all* topics (what ``topics()`` sends) never creates
        # one; asking for the topic by name could, on a broker with auto-creation on.
        # Private aiokafka API (pinned < 0.15): ``topics()`` drops the partitions.
        kafka_client = self._consumer._client
        cluster = await kafka_client.fetch_all_metadata()
        partitions: set[int] | None = cluster.partitions_for_topic(topic)
        if partitions is None:
            await _refused_or_missing(kafka_client, topic)
        return partitions

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._consumer.assign(partitions)

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        await self._consumer.seek_to_beginning(*partitions)

    async def end_offsets(self, partitions: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        ends: Mapping[TopicPartition, int] = await self._consumer.end_offsets(partitions)
        return ends

    async def position(self, partition: TopicPartition) -> int:
        position: int = await self._consumer.position(partition)
        return position

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0,
                      max_records: int | None = None) -> Mapping[TopicPartition, list[Any]]:
        try:
            batches: Mapping[TopicPartition, list[Any]] = await self._consumer.getmany(
                *partitions, timeout_ms=timeout_ms, max_records=max_records)
        except OffsetOutOfRangeError as exc:
            raise FeedJumpedError(str(exc)) from exc
        return batches


class _MetadataWithoutCreation:
    """A metadata request for one topic by name that can never create it.

    ``allow_auto_topic_creation`` exists from Metadata v4 (Kafka 1.0); an older
    broker could create the topic, so the request is refused before it is sent.
    Built by aiokafka's ``Request.prepare`` per connection (the 0.14 protocol API).
    """

    def __init__(self, topic: str) -> None:
        self._request = MetadataRequest([topic], allow_auto_topic_creation=False)

    def prepare(self, versions: dict[int, tuple[int, int]]) -> Any:
        struct = self._request.prepare(versions)
        if struct.API_VERSION < 4:
            raise IncompatibleBrokerVersion("metadata v4+ is needed to ask without creating")
        return struct


async def _refused_or_missing(kafka_client: Any, topic: str) -> None:
    """Raise ``TopicAuthorizationFailedError`` if a topic absent from the metadata is refused.

    The answer for all topics silently leaves out those we may not describe; asked
    by name, the broker says TOPIC_AUTHORIZATION_FAILED (whether the topic exists
    or not: Kafka does not tell an unauthorised client). Otherwise it is missing.
    """
    node = kafka_client.get_random_node()
    if node is None:
        return
    try:
        response = await kafka_client.send(node, _MetadataWithoutCreation(topic))
    except IncompatibleBrokerVersion:
        return  # a broker older than Kafka 1.0: it stays "does not exist or is not visible"
    for entry in response.topics:  # (error_code, topic, ...) in every version
        if entry[1] == topic and entry[0] == TopicAuthorizationFailedError.errno:
            raise TopicAuthorizationFailedError(topic)


def aiokafka_feed_consumer(settings: KafkaClientSettings) -> FeedConsumer:
    """No group, nothing committed, large fetches (catching up reads the whole topic)."""
    return AiokafkaFeedConsumer(AIOKafkaConsumer(
        **connection_options(settings), group_id=None, enable_auto_commit=False,
        # "none": a position the log no longer has (topic recreated, truncated) is an
        # error we rebuild on, not a silent reset that would keep stale states.
        auto_offset_reset="none", isolation_level="read_committed",
        max_partition_fetch_bytes=8 * 1_048_576, fetch_max_bytes=64 * 1_048_576))


class FeedJumpedError(Exception):
    """Our position is not in the log any more: it was truncated or recreated."""


class TopicMissingError(Exception):
    """The event topic does not exist (or we may not see it)."""


class FeedUnreadableError(Exception):
    """:meth:`KafkaTaskFeed.read_to_end` could not read the topic; the message says why."""


class KafkaTaskFeed:
    """Follows the event topic into :class:`TaskStates`; ``run()`` until cancelled."""

    def __init__(
        self,
        settings: KafkaClientSettings,
        *,
        topic: str,
        states: TaskStates,
        consumer_factory: ConsumerFactory = aiokafka_feed_consumer,
        max_value_bytes: int = MAX_VALUE_BYTES,
        retry_seconds: float = 30.0,
        check_every: int = 20,
        health: KafkaHealth | None = None,
    ) -> None:
        self._settings = settings
        self.topic = topic
        self.states = states
        self._factory = consumer_factory
        self._max_value_bytes = max_value_bytes
        self._retry_seconds = retry_seconds
        self._check_every = check_every
        """Polls between two checks of the end offsets and partitions (jump-back detection)."""
        self._health = health
        """Where a Kafka error of the feed is recorded (and counted) as the ``feed`` client."""
        self.stats = FeedStats()
        self.up = False
        """True while the topic is assigned and readable."""
        self.problem: str | None = "not started"
        """Why the feed is not up (for ``/readyz``), None while it is."""
        self._caught_up = asyncio.Event()
        self._consumer: FeedConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._targets: dict[TopicPartition, int] = {}
        self._polls = 0
        self._logged: set[str] = set()

    @property
    def caught_up(self) -> bool:
        """Every partition read up to its end offset at the time reading (re)started."""
        return self._caught_up.is_set()

    async def wait_caught_up(self) -> None:
        await self._caught_up.wait()

    async def run(self) -> None:
        """Follow the topic forever; a lost consumer is retried after ``retry_seconds``."""
        while True:
            consumer = self._factory(self._settings)
            try:
                await self.open(consumer)
                while True:
                    await self.poll()
            except (TopicMissingError, *EXPECTED_ERRORS) as exc:
                self._lost(await self._problem_of(exc))
            finally:
                await self._close(consumer)
            await asyncio.sleep(self._retry_seconds)

    async def read_to_end(self) -> None:
        """Read the topic once, from the beginning to the end offsets it has now, and close.

        For ``zombiewatch scan``: no group, nothing committed, and no retry; a topic
        that cannot be read raises :class:`FeedUnreadableError` with the explanation
        ``run`` would log. Not bounded in time: the caller sets the timeout.
        """
        try:
            consumer = self._factory(self._settings)  # reads the TLS files
        except EXPECTED_ERRORS as exc:
            raise await self._unreadable(exc) from exc
        try:
            await self.open(consumer)
            while not self.caught_up:
                await self.poll()
        except (TopicMissingError, *EXPECTED_ERRORS) as exc:
            raise await self._unreadable(exc) from exc
        finally:
            await self._close(consumer)

    async def _unreadable(self, exc: BaseException) -> FeedUnreadableError:
        self.up = False
        self.problem = await self._problem_of(exc)
        return FeedUnreadableError(self.problem)

    async def _problem_of(self, exc: BaseException) -> str:
        """Why the topic cannot be read, for an operator (never with a secret in it); a
        Kafka error also goes to the health, which names it once and counts it.

        The event topic is put in the settings, so a refusal names its missing ACL.
        """
        if isinstance(exc, TopicMissingError):
            return str(exc)
        settings = replace(self._settings, topic=self.topic)
        error = read_error(await diagnosed(exc, settings), settings)
        if self._health is not None:
            self._health.failed(ClientRole.FEED, error, retry_in=self._retry_seconds)
        return f"{error.kind.value}: {error.message}"

    async def open(self, consumer: FeedConsumer) -> None:
        """Connect, assign every partition and start reading from the beginning."""
        self._consumer = consumer
        await consumer.start()
        partitions = await consumer.partitions(self.topic)
        if not partitions:
            raise TopicMissingError(f"topic {self.topic} does not exist or is not visible")
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(self._partitions)
        await self._from_the_beginning(consumer, clear=bool(len(self.states)))
        if not self.up:
            log_event(log, logging.INFO, "task_feed_up", topic=self.topic,
                      partitions=len(self._partitions))
        self.up = True
        self.problem = None

    async def poll(self) -> None:
        """One fetch: apply what came, note catching up, now and then check for jumps."""
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("poll() before open()")
        try:
            batches = await consumer.getmany(timeout_ms=1000)
        except FeedJumpedError as exc:
            log_event(log, logging.WARNING, "task_feed_rebuilt", topic=self.topic,
                      why="out_of_range", error=str(exc))
            await self._from_the_beginning(consumer, clear=True)
            return
        if self._health is not None:
            self._health.ok(ClientRole.FEED)  # a fetch answered: the topic is readable
        for records in batches.values():
            for record in records:
                self.apply(record.key, record.value)
        if not self._caught_up.is_set():
            await self._note_progress(consumer)
        self._polls += 1
        if not batches or self._polls % self._check_every == 0:
            await self._check_jumps(consumer)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record to the states (public for the benchmark and the tests)."""
        event = decode_event(key, value, max_value_bytes=self._max_value_bytes)
        match event:
            case Upsert(task_id, state):
                self.stats.events += 1
                self.states.put(task_id, state)
            case Tombstone(task_id):
                self.stats.events += 1
                self.stats.tombstones += 1
                self.states.remove(task_id)
            case Malformed(task_id, why):
                self.stats.malformed[why] += 1
                if task_id is not None:
                    self.states.remove(task_id)  # unknown now: the cluster-only behaviour
                self._log_malformed(task_id, why, size=0 if value is None else len(value))

    async def _from_the_beginning(self, consumer: FeedConsumer, *, clear: bool) -> None:
        if clear:
            self.states.clear()
            self.stats.rebuilds += 1
        self._caught_up.clear()
        await consumer.seek_to_beginning(*self._partitions)
        self._targets = dict(await consumer.end_offsets(self._partitions))
        await self._note_progress(consumer)

    async def _note_progress(self, consumer: FeedConsumer) -> None:
        for tp in list(self._targets):
            if await consumer.position(tp) >= self._targets[tp]:
                del self._targets[tp]
        if not self._targets:
            if not self._caught_up.is_set():
                log_event(log, logging.INFO, "task_feed_caught_up", topic=self.topic,
                          tasks=len(self.states), events=self.stats.events)
            self._caught_up.set()

    async def _check_jumps(self, consumer: FeedConsumer) -> None:
        partitions = await consumer.partitions(self.topic) or set()
        if partitions != {tp.partition for tp in self._partitions}:
            log_event(log, logging.WARNING, "task_feed_rebuilt", topic=self.topic,
                      why="partitions_changed")
            self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            if not self._partitions:
                raise TopicMissingError(f"topic {self.topic} has no partitions any more")
            consumer.assign(self._partitions)
            await self._from_the_beginning(consumer, clear=True)
            return
        ends = await consumer.end_offsets(self._partitions)
        for tp in self._partitions:
            if ends[tp] < await consumer.position(tp):
                log_event(log, logging.WARNING, "task_feed_rebuilt", topic=self.topic,
                          why="jumped_back", partition=tp.partition, end=ends[tp])
                await self._from_the_beginning(consumer, clear=True)
                return

    def _lost(self, message: str) -> None:
        self.stats.failures += 1
        if self.up or self.problem in (None, "not started"):
            log_event(log, logging.WARNING, "task_feed_down", topic=self.topic, error=message,
                      detail="carrying on with the cluster only; retrying every "
                      f"{self._retry_seconds:g}s")
        else:
            log_event(log, logging.DEBUG, "task_feed_still_down", topic=self.topic,
                      error=message)
        self.up = False
        self.problem = message

    async def _close(self, consumer: FeedConsumer) -> None:
        self._consumer = None
        try:
            async with asyncio.timeout(self._settings.cleanup_timeout):
                await consumer.stop()
        except (*EXPECTED_ERRORS, RuntimeError) as exc:
            log_event(log, logging.INFO, "task_feed_close_failed", error=str(exc))

    def _log_malformed(self, task_id: str | None, why: str, *, size: int) -> None:
        name = task_id if task_id is not None else "<no key>"
        if name in self._logged or len(self._logged) >= _LOGGED_TASKS_LIMIT:
            return  # logged once per task; past the limit only counted
        self._logged.add(name)
        log_event(log, logging.WARNING, "task_event_skipped", task=name, why=why, bytes=size)

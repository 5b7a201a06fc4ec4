"""Publisher logic against a recording fake producer (no network)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    ProducerFenced,
    TransactionalIdAuthorizationFailed,
)
from returns.result import Failure, Success

from zombiewatch.adapters.kafka.codec import decode
from zombiewatch.adapters.kafka.headers import TRIGGER_COUNT_BEFORE, Headers
from zombiewatch.adapters.kafka.publishing import (
    KafkaCommandPublisher,
    aiokafka_producer,
)
from zombiewatch.adapters.kafka.settings import (
    KafkaClientSettings,
    SaslMechanism,
    SaslSettings,
    TlsSettings,
)
from zombiewatch.domain.commands import (
    BodySection,
    FailureReport,
    IncrementFrontmatter,
    Operation,
    UpdateFrontmatter,
)
from zombiewatch.domain.ledger import clear_request_id, failure_request_id
from zombiewatch.domain.ports import BrokerErrorKind
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.testing.fakes import FakeClock

NOW = datetime(2026, 6, 2, 9, 46, 0, 100000, tzinfo=UTC)
TOPIC = "develop-agent-task-v1-request"



@dataclass
class Script:
    """What the fake producers should do; shared by every producer the factory makes."""

    fail_start: list[BaseException | None] = field(default_factory=list)
    hang_start: bool = False
    fail_send_at: int | None = None
    send_error: BaseException = field(default_factory=lambda: KafkaConnectionError("down"))
    fail_commit: BaseException | None = None
    fail_abort: BaseException | None = None
    hang_close: bool = False


class RecordingProducer:
    """Records every call into the shared event log (``(producer number, event, ...)``)."""

    def __init__(
        self,
        number: int,
        script: Script,
        events: list[tuple[int, str]],
        records: list[tuple[str, bytes, bytes]],
        headers: list[Headers],
    ) -> None:
        self._number = number
        self._script = script
        self._events = events
        self._records = records
        self._headers = headers
        self._sends = 0

    async def start(self) -> None:
        self._events.append((self._number, "start"))
        if self._script.hang_start:
            await asyncio.Event().wait()
        if self._script.fail_start:
            error = self._script.fail_start.pop(0)
            if error is not None:
                raise error

    async def stop(self) -> None:
        self._events.append((self._number, "stop"))

    async def close_now(self) -> None:
        self._events.append((self._number, "close_now"))
        if self._script.hang_close:
            await asyncio.Event().wait()

    async def begin_transaction(self) -> None:
        self._events.append((self._number, "begin"))

    async def commit_transaction(self) -> None:
        self._events.append((self._number, "commit"))
        if self._script.fail_commit is not None:
            raise self._script.fail_commit

    async def abort_transaction(self) -> None:
        self._events.append((self._number, "abort"))
        if self._script.fail_abort is not None:
            raise self._script.fail_abort

    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: Headers) -> Awaitable[object]:
        await asyncio.sleep(0)  # a real send yields to the loop; lets races show
        self._sends += 1
        self._events.append((self._number, "send"))
        self._records.append((topic, key, value))
        self._headers.append(headers)
        delivered: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self._script.fail_send_at == self._sends:
            delivered.set_exception(self._script.send_error)
        else:
            delivered.set_result(None)
        return delivered


@dataclass
class FakeProducers:
    script: Script = field(default_factory=Script)
    events: list[tuple[int, str]] = field(default_factory=list)
    records: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    headers: list[Headers] = field(default_factory=list)
    """The headers of each record, in the order of ``records``."""
    made: int = 0

    def __call__(self, settings: KafkaClientSettings) -> RecordingProducer:
        self.made += 1
        return RecordingProducer(self.made, self.script, self.events, self.records,
                                 self.headers)

    def kinds(self) -> list[tuple[int, str]]:
        return list(self.events)

    def sent(self) -> list[tuple[bytes, bytes]]:
        return [(key, value) for _, key, value in self.records]


SETTINGS = KafkaClientSettings(
    bootstrap_servers="127.0.0.1:1",
    topic=TOPIC,
    transactional_id="zombiewatch-test",
    publish_timeout=0.2,
    cleanup_timeout=0.1,
)


def _publisher(producers: FakeProducers) -> KafkaCommandPublisher:
    return KafkaCommandPublisher(
        settings=SETTINGS, clock=FakeClock(NOW), producer_factory=producers
    )


def zombie_failure(task_id: str = "task-1", job: str = "job-1") -> FailureReport:
    return FailureReport(
        task_id=task_id,
        job_name=job,
        reason=ZombieReason.DEADLINE_EXCEEDED,
        occurred_at=NOW,
        commands=(
            UpdateFrontmatter(
                task_identifier=task_id,
                updates={"current_job": ""},
                body=BodySection(heading="## Failure", section="## Failure\n"),
            ),
            IncrementFrontmatter(task_identifier=task_id, field="trigger_count", delta=1),
        ),
    )


async def test_a_zombie_failure_is_one_transaction_of_update_then_increment() -> None:
    producers = FakeProducers()
    publisher = _publisher(producers)

    result = await publisher.publish_failures([zombie_failure()])

    assert result == Success(None)
    assert producers.kinds() == [
        (1, "start"),
        (1, "begin"),
        (1, "send"),
        (1, "send"),
        (1, "commit"),
    ]
    (key1, value1), (key2, value2) = producers.sent()
    assert key1 == key2 == b"task-1"
    update, increment = decode(value1), decode(value2)
    assert update.command == zombie_failure().commands[0]
    assert increment.command == zombie_failure().commands[1]
    assert update.request_id == failure_request_id(
        job_name="job-1", operation=Operation.UPDATE_FRONTMATTER
    )
    assert increment.request_id == failure_request_id(
        job_name="job-1", operation=Operation.INCREMENT_FRONTMATTER
    )
    assert update.request_time == NOW
    assert {topic for topic, _, _ in producers.records} == {TOPIC}


async def test_republishing_a_failure_repeats_its_request_ids() -> None:
    producers = FakeProducers()
    publisher = _publisher(producers)

    await publisher.publish_failures([zombie_failure()])
    await publisher.publish_failures([zombie_failure()])

    ids = [decode(value).request_id for _, value in producers.sent()]
    assert ids[:2] == ids[2:]
    assert ids[0] != ids[1]


async def test_many_failures_share_one_transaction_and_keep_pairs_adjacent() -> None:
    producers = FakeProducers()
    publisher = _publisher(producers)
    failures = [zombie_failure(f"task-{n}", f"job-{n}") for n in range(50)]

    result = await publisher.publish_failures(failures)

    assert result == Success(None)
    kinds = [kind for _, kind in producers.kinds()]
    assert kinds == ["start", "begin", *["send"] * 100, "commit"]
    keys = [key for key, _ in producers.sent()]
    assert keys == [f"task-{n}".encode() for n in range(50) for _ in range(2)]


async def test_the_increment_carries_the_count_before_it_in_a_header_and_the_update_none() -> None:
    producers = FakeProducers()
    publisher = _publisher(producers)
    known = replace(zombie_failure("task-1", "job-1"), trigger_count_before=2)
    unknown = zombie_failure("task-2", "job-2")

    await publisher.publish_failures([known, unknown])
    await publisher.publish_commands([known.commands[1]])  # a helper increment: no header

    assert producers.headers == [(), ((TRIGGER_COUNT_BEFORE, b"2"),), (), (), ()]
    # The value stays the controller's: the header is beside it, never in it.
    assert decode(producers.sent()[1][1]).command == known.commands[1]


async def test_nothing_to_publish_touches_no_broker() -> None:
    producers = FakeProducers()
    publisher = _publisher(producers)

    assert await publisher.publish_failures([]) == Success(None)
    assert await publisher.publish_commands([]) == Success(None)
    assert producers.events == []


async def test_helper_commands_get_fresh_random_request_ids() -> None:
    producers = FakeProducers()
    publisher = _publisher(producers)
    command = IncrementFrontmatter(task_identifier="task-1", field="trigger_count", delta=1)

    await publisher.publish_commands([command])
    await publisher.publish_commands([command])

    first, second = (decode(value) for _, value in producers.sent())
    assert first.request_id != second.request_id
    assert first.request_id.version == 4
    assert first.command == command


async def test_a_success_clear_carries_its_deterministic_request_id() -> None:
    producers = FakeProducers()
    publisher = _publisher(producers)
    clear = UpdateFrontmatter(task_identifier="task-1", updates={"current_job": ""})

    await publisher.publish_commands([clear], request_ids=[clear_request_id("job-1")])
    with pytest.raises(ValueError, match="1 request ids for 2 commands"):
        await publisher.publish_commands([clear, clear], request_ids=[clear_request_id("j")])

    (sent,) = (decode(value) for _, value in producers.sent())
    assert (sent.request_id, sent.command) == (clear_request_id("job-1"), clear)


async def test_a_refused_record_aborts_and_the_producer_stays_in_use() -> None:
    producers = FakeProducers(
        Script(fail_send_at=2, send_error=MessageSizeTooLargeError("too big"))
    )
    publisher = _publisher(producers)

    result = await publisher.publish_failures([zombie_failure()])

    assert isinstance(result, Failure)
    assert result.failure().kind is BrokerErrorKind.REJECTED
    assert producers.kinds()[-1] == (1, "abort")
    assert (1, "commit") not in producers.kinds()
    producers.script.fail_send_at = None
    assert await publisher.publish_failures([zombie_failure()]) == Success(None)
    assert producers.made == 1


async def test_a_failed_abort_replaces_the_producer() -> None:
    producers = FakeProducers(
        Script(
            fail_commit=MessageSizeTooLargeError("too big"),
            fail_abort=AssertionError("Invalid state transition"),
        )
    )
    publisher = _publisher(producers)

    result = await publisher.publish_failures([zombie_failure()])

    assert isinstance(result, Failure)
    assert producers.kinds()[-2:] == [(1, "abort"), (1, "close_now")]
    producers.script.fail_commit = None
    assert await publisher.publish_failures([zombie_failure()]) == Success(None)
    assert producers.made == 2


async def test_broker_down_at_start_is_unavailable_and_the_next_publish_reconnects() -> None:
    producers = FakeProducers(Script(fail_start=[KafkaConnectionError("refused"), None]))
    publisher = _publisher(producers)

    first = await publisher.publish_failures([zombie_failure()])
    second = await publisher.publish_failures([zombie_failure()])

    assert isinstance(first, Failure)
    assert first.failure().kind is BrokerErrorKind.UNAVAILABLE
    assert second == Success(None)
    assert producers.kinds()[:3] == [(1, "start"), (1, "close_now"), (2, "start")]


async def test_a_broker_that_never_answers_is_unavailable_within_the_timeout() -> None:
    producers = FakeProducers(Script(hang_start=True))
    publisher = _publisher(producers)
    loop = asyncio.get_running_loop()
    started = loop.time()

    result = await publisher.publish_failures([zombie_failure()])

    elapsed = loop.time() - started
    assert isinstance(result, Failure)
    assert result.failure().kind is BrokerErrorKind.UNAVAILABLE
    assert elapsed < SETTINGS.publish_timeout + 2 * SETTINGS.cleanup_timeout
    assert producers.kinds() == [(1, "start"), (1, "close_now")]
    assert not publisher.started


async def test_lost_acks_discard_the_producer_without_waiting_for_an_abort() -> None:
    producers = FakeProducers(Script(fail_send_at=1, send_error=KafkaTimeoutError()))
    publisher = _publisher(producers)

    result = await publisher.publish_failures([zombie_failure()])

    assert isinstance(result, Failure)
    assert result.failure().kind is BrokerErrorKind.UNAVAILABLE
    assert producers.kinds()[-1] == (1, "close_now")
    assert (1, "abort") not in producers.kinds()


async def test_a_slow_close_does_not_hold_up_the_failed_publish_and_is_collected_on_close() -> None:
    producers = FakeProducers(
        Script(fail_send_at=1, send_error=KafkaTimeoutError(), hang_close=True)
    )
    publisher = _publisher(producers)
    loop = asyncio.get_running_loop()
    started = loop.time()

    result = await publisher.publish_failures([zombie_failure()])
    elapsed = loop.time() - started
    await publisher.close()

    assert isinstance(result, Failure)
    assert elapsed < SETTINGS.publish_timeout + 2 * SETTINGS.cleanup_timeout
    assert not [t for t in asyncio.all_tasks() if "close_now" in repr(t.get_coro())]


async def test_fencing_is_sticky_for_publishes_until_start_rearms_it() -> None:
    producers = FakeProducers(Script(fail_commit=ProducerFenced()))
    publisher = _publisher(producers)

    first = await publisher.publish_failures([zombie_failure()])
    producers.script.fail_commit = None
    second = await publisher.publish_failures([zombie_failure()])
    made_while_fenced = producers.made
    rearmed = await publisher.start()
    third = await publisher.publish_failures([zombie_failure()])

    assert isinstance(first, Failure)
    assert first.failure().kind is BrokerErrorKind.FENCED
    assert second == first
    assert made_while_fenced == 1
    assert rearmed == Success(None)
    assert third == Success(None)
    assert producers.kinds()[:7] == [
        (1, "start"),
        (1, "begin"),
        (1, "send"),
        (1, "send"),
        (1, "commit"),
        (1, "close_now"),
        (2, "start"),
    ]


async def test_concurrent_publishes_do_not_interleave_their_transactions() -> None:
    producers = FakeProducers()
    publisher = _publisher(producers)

    results = await asyncio.gather(
        publisher.publish_failures([zombie_failure("a", "ja")]),
        publisher.publish_failures([zombie_failure("b", "jb")]),
        publisher.publish_failures([zombie_failure("c", "jc")]),
    )

    assert all(result == Success(None) for result in results)
    kinds = [kind for _, kind in producers.kinds()]
    assert kinds == ["start", *(["begin", "send", "send", "commit"] * 3)]
    keys = [key for key, _ in producers.sent()]
    assert keys in (
        [k for k in permutation for _ in range(2)]
        for permutation in (
            [b"a", b"b", b"c"],
            [b"a", b"c", b"b"],
            [b"b", b"a", b"c"],
            [b"b", b"c", b"a"],
            [b"c", b"a", b"b"],
            [b"c", b"b", b"a"],
        )
    )


async def test_a_publisher_that_could_not_connect_publishes_once_the_broker_answers() -> None:
    producers = FakeProducers(Script(fail_start=[KafkaConnectionError("refused")]))
    pub = KafkaCommandPublisher(settings=SETTINGS, clock=FakeClock(NOW),
                                producer_factory=producers)

    await pub.start()
    started_at_open = pub.started
    result = await pub.publish_failures([zombie_failure()])
    await pub.close()

    assert not started_at_open
    assert result == Success(None)
    assert producers.kinds() == [
        (1, "start"),
        (1, "close_now"),
        (2, "start"),
        (2, "begin"),
        (2, "send"),
        (2, "send"),
        (2, "commit"),
        (2, "stop"),
    ]


async def test_a_publisher_connects_only_when_started() -> None:
    producers = FakeProducers()

    lazy = KafkaCommandPublisher(settings=SETTINGS, clock=FakeClock(NOW),
                                 producer_factory=producers)
    lazy_started = lazy.started
    await lazy.close()
    eager = KafkaCommandPublisher(settings=SETTINGS, clock=FakeClock(NOW),
                                  producer_factory=producers)
    await eager.start()
    eager_started = eager.started
    await eager.close()

    assert not lazy_started
    assert eager_started
    assert producers.kinds() == [(1, "start"), (1, "stop")]


async def test_the_aiokafka_factory_accepts_sasl_and_tls_settings_without_connecting() -> None:
    settings = replace(
        SETTINGS,
        sasl=SaslSettings(mechanism=SaslMechanism.SCRAM_SHA_256, username="zw", password="pw"),
        tls=TlsSettings(),
    )

    producer = aiokafka_producer(settings)
    await producer.stop()

    assert settings.security_protocol == "SASL_SSL"


def test_tls_settings_build_a_verifying_client_context() -> None:
    context = TlsSettings().ssl_context()

    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


class SteppingClock:
    """A clock the test moves forward by hand."""

    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


async def test_reconnect_waits_out_a_doubling_backoff_and_reports_the_problem_meanwhile() -> None:
    producers = FakeProducers(Script(fail_start=[TransactionalIdAuthorizationFailed("zw")] * 2))
    clock = SteppingClock()
    publisher = KafkaCommandPublisher(settings=SETTINGS, clock=clock, producer_factory=producers)

    first = await publisher.start()
    attempts = [producers.made]
    for step in (0.0, 0.5, 0.5, 0.5):  # backoff 0.5 s, then 1.0 s
        clock.advance(step)
        await publisher.reconnect()
        attempts.append(producers.made)
    problem_while_down = publisher.problem
    connected = publisher.started

    assert isinstance(first, Failure)
    assert first.failure().kind is BrokerErrorKind.UNAUTHORIZED
    assert "needs Write on TransactionalId zombiewatch-test" in first.failure().message
    assert attempts == [1, 1, 2, 2, 3]
    assert problem_while_down is None  # the third attempt connected
    assert connected


async def test_reconnect_never_takes_the_transactional_id_back_after_being_fenced() -> None:
    producers = FakeProducers(Script(fail_commit=ProducerFenced()))
    publisher = _publisher(producers)

    await publisher.publish_failures([zombie_failure()])
    made = producers.made
    await publisher.reconnect()

    assert not publisher.started
    assert publisher.problem is not None
    assert publisher.problem.kind is BrokerErrorKind.FENCED
    assert producers.made == made


async def test_settling_after_a_lost_connection_initialises_a_new_producer_first() -> None:
    """The new producer's init closes the old transaction before the ledger is read."""
    producers = FakeProducers(Script(fail_send_at=1))
    publisher = _publisher(producers)
    assert isinstance(await publisher.publish_failures([zombie_failure()]), Failure)
    assert publisher.started is False

    assert await publisher.settle() == Success(None)

    assert producers.made == 2
    assert producers.kinds()[-2:] == [(1, "close_now"), (2, "start")]


async def test_settling_a_healthy_publisher_touches_nothing() -> None:
    producers = FakeProducers()
    publisher = _publisher(producers)
    assert await publisher.publish_failures([zombie_failure()]) == Success(None)
    before = producers.kinds()

    assert await publisher.settle() == Success(None)

    assert producers.kinds() == before


async def test_settling_while_the_broker_is_down_fails_unavailable() -> None:
    producers = FakeProducers(Script(fail_start=[KafkaConnectionError("refused")]))
    publisher = _publisher(producers)

    result = await publisher.settle()

    assert isinstance(result, Failure)
    assert result.failure().kind is BrokerErrorKind.UNAVAILABLE


async def test_a_fenced_publisher_does_not_settle_and_does_not_reconnect() -> None:
    producers = FakeProducers(Script(fail_commit=ProducerFenced()))
    publisher = _publisher(producers)
    assert isinstance(await publisher.publish_failures([zombie_failure()]), Failure)

    result = await publisher.settle()

    assert isinstance(result, Failure)
    assert result.failure().kind is BrokerErrorKind.FENCED
    assert producers.made == 1

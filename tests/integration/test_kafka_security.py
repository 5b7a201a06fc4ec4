"""A secured broker for real: TLS, SASL/SCRAM-SHA-512, mutual TLS and ACLs, least privilege.

The harness's broker has a SASL_SSL listener (a CA and broker certificate made by
openssl, SCRAM users made by ``StorageTool format --add-scram``), listeners with an
expired and a wrong-host certificate, a mutual-TLS listener, and the StandardAuthorizer
with ``allow.everyone.if.no.acl.found=false``. The daemon's user starts with no ACL.

Least privilege is proven, not asserted: the tests grant exactly the ACL table of the
README (parsed from it), show that it is enough — publishing, the read-back and the
task feed all work, the event topic existing and the feed on — and then that each row
is needed: without it the client that needs it (and only that one) is refused with
the missing ACL named, counted, and works once the ACL is granted again. The task
feed's row is not needed for publishing: without it the feed is down (the daemon
carries on with the cluster only) and comes up by itself once it is granted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from kubernetes import client
from returns.result import Failure, Success

from harness import kubelet
from harness.daemons import (
    DaemonProcess,
    daemon_processes,
    daemon_settings,
    free_port,
    sample,
    scrape,
)
from harness.delivery import following
from harness.fixtures import TopicFactory, create_topics, unique_name
from harness.kafka_security import (
    Acl,
    Operation,
    ResourceType,
    SecuredKafka,
    write_task_event,
)
from harness.services import Services
from harness.support import (
    CommittedReader,
    apply_config_crd,
    create_config,
    reading,
    request_topic_for,
)
from harness.waiting import wait_until
from zombiewatch.adapters.clock import SystemClock
from zombiewatch.adapters.kafka.connection import ClientRole, KafkaHealth, quiet_bootstrap_logs
from zombiewatch.adapters.kafka.history import KafkaFailureHistory
from zombiewatch.adapters.kafka.publishing import KafkaCommandPublisher
from zombiewatch.adapters.kafka.settings import (
    KafkaClientSettings,
    SecurityProtocol,
    transactional_id_for,
)
from zombiewatch.adapters.kafka.task_events import KafkaTaskFeed
from zombiewatch.adapters.kafka.topics import event_topic
from zombiewatch.app.settings import Settings
from zombiewatch.domain.commands import FailureReport
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.ports import BrokerError, BrokerErrorKind
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.tasks import TaskStates

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
_ROLES = {"the request topic": ResourceType.TOPIC,
          "the task event topic": ResourceType.TOPIC,
          "the transactional id": ResourceType.TRANSACTIONAL_ID}
_CLIENTS = {("the request topic", Operation.WRITE): ClientRole.PRODUCER,
            ("the request topic", Operation.READ): ClientRole.HISTORY,
            ("the transactional id", Operation.WRITE): ClientRole.PRODUCER,
            ("the task event topic", Operation.READ): ClientRole.FEED}
"""Which of the daemon's Kafka clients needs a row (the README's "Needed for")."""
_OPERATIONS = {"Read": Operation.READ, "Write": Operation.WRITE,
               "Describe": Operation.DESCRIBE, "IdempotentWrite": Operation.IDEMPOTENT_WRITE}
_TYPES = {"Topic": ResourceType.TOPIC, "TransactionalId": ResourceType.TRANSACTIONAL_ID,
          "Cluster": ResourceType.CLUSTER, "Group": ResourceType.GROUP}


@dataclass(frozen=True, slots=True)
class AclRow:
    """One row of the README's ACL table: a resource by its role, an operation."""

    resource: ResourceType
    role: str
    operation: Operation

    @property
    def client(self) -> ClientRole:
        """The client that needs this row: without it, only that one is refused."""
        return _CLIENTS[(self.role, self.operation)]

    def acl(self, *, topic: str, events: str, transactional_id: str, principal: str) -> Acl:
        name = {"the request topic": topic, "the task event topic": events,
                "the transactional id": transactional_id,
                "the cluster": "kafka-cluster"}[self.role]
        return Acl(self.resource, name, self.operation, principal)


def readme_acls() -> list[AclRow]:
    """The ACL table between the README's ``kafka-acls`` markers."""
    text = README.read_text()
    table = text.split("<!-- kafka-acls:", 1)[1].split("<!-- /kafka-acls -->", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in _TYPES:
            resource = _TYPES[cells[0]]
            assert _ROLES.get(cells[1], resource) is resource, line
            assert (cells[1], _OPERATIONS[cells[2]]) in _CLIENTS, f"which client needs {line}?"
            rows.append(AclRow(resource, cells[1], _OPERATIONS[cells[2]]))
    assert rows, "README has no ACL table between the kafka-acls markers"
    return rows


ROWS = readme_acls()
FEED_ROWS = [row for row in ROWS if row.client is ClientRole.FEED]


def _row_id(row: AclRow) -> str:
    return f"{row.operation.name}-{row.role.removeprefix('the ').replace(' ', '-')}"


@pytest.fixture(scope="session")
def secured(services: Services) -> SecuredKafka:
    values = services.values
    if "KAFKA_SASL_SSL_BOOTSTRAP" not in values:
        pytest.fail(f"the broker ({values.get('KAFKA_FLAVOR')}) has no secured listeners: "
                    "only Apache Kafka gets them (zwservices/kafka_secure.py)")
    return SecuredKafka.from_values(values)


@dataclass
class Grant:
    """A fresh request topic, event topic and transactional id, and the client user's
    ACLs on them."""

    secured: SecuredKafka
    topic: str
    events: str
    transactional_id: str
    granted: set[Acl]

    def acl(self, row: AclRow) -> Acl:
        return self._for(row, None)

    def grant(self, rows: list[AclRow], principal: str | None = None) -> None:
        acls = [self._for(row, principal) for row in rows]
        self.secured.grant(acls)
        self.granted.update(acls)

    def revoke(self, rows: list[AclRow]) -> None:
        acls = [self.acl(row) for row in rows]
        self.secured.revoke(acls)
        self.granted.difference_update(acls)

    def _for(self, row: AclRow, principal: str | None) -> Acl:
        return row.acl(topic=self.topic, events=self.events,
                       transactional_id=self.transactional_id,
                       principal=principal or self.secured.client_principal)

    def settings(self, **overrides: object) -> KafkaClientSettings:
        return self.secured.client_settings(topic=self.topic,
                                            transactional_id=self.transactional_id,
                                            **overrides)  # type: ignore[arg-type]

    def feed(self, health: KafkaHealth) -> KafkaTaskFeed:
        """The task feed on the event topic as the daemon's user (retrying quickly)."""
        return KafkaTaskFeed(self.settings(), topic=self.events, states=TaskStates(),
                             retry_seconds=0.5, health=health)


@pytest.fixture
def grant(secured: SecuredKafka, topic_factory: TopicFactory) -> Iterator[Grant]:
    topic = topic_factory(1, "zw-secure")
    events = topic_factory(1, "zw-secure-events")
    handle = Grant(secured, topic, events, f"zombiewatch-{topic}", set())
    try:
        yield handle
    finally:
        if handle.granted:
            secured.revoke(handle.granted)


def _failure(job: str) -> FailureReport:
    return zombie_failure(task_id=str(uuid.uuid4()), job_name=job,
                          reason=ZombieReason.IMAGE_PULL_BACKOFF, at=datetime.now(UTC))


class Recorder:
    """A KafkaHealth whose errors are kept, as the daemon's metric counts them."""

    def __init__(self) -> None:
        self.errors: list[tuple[ClientRole, BrokerError]] = []
        self.health = KafkaHealth(on_error=lambda role, e: self.errors.append((role, e)))


async def _published_jobs(settings: KafkaClientSettings) -> list[str]:
    history = KafkaFailureHistory(settings, timeout=30)
    result = await history.reported_since(datetime.now(UTC) - timedelta(hours=1))
    assert isinstance(result, Success), result
    return [f.job_name for f in result.unwrap().failures]


FEED_WAIT = 60.0



def _feed_ready(feed: KafkaTaskFeed) -> bool:
    return feed.up and feed.caught_up


async def test_the_readme_acls_are_exactly_what_publishing_the_read_back_and_the_feed_need(
    grant: Grant, services: Services,
) -> None:
    grant.grant(ROWS)
    task_id = str(uuid.uuid4())
    await write_task_event(services.bootstrap_servers, grant.events, task_id)
    recorder = Recorder()
    publisher = KafkaCommandPublisher(settings=grant.settings(), clock=SystemClock(),
                                      health=recorder.health)
    feed = grant.feed(recorder.health)

    async with following(feed):
        started = await publisher.start()
        published = await publisher.publish_failures([_failure("job-least-privilege")])
        jobs = await _published_jobs(grant.settings())
        await wait_until(lambda: _feed_ready(feed), "the task feed up and caught up",
                         timeout=FEED_WAIT)
        tasks = [task for task, _ in feed.states.items()]
    await publisher.close()
    held = grant.secured.acls_of(grant.secured.client_principal)

    assert started == Success(None)
    assert published == Success(None)
    assert jobs == ["job-least-privilege"]
    assert tasks == [task_id]
    assert feed.stats.failures == 0
    assert recorder.errors == []
    # No other ACL (no Describe on either topic, no IdempotentWrite on the cluster)
    # was needed: Kafka 4.1 implies Describe from Read and Write.
    assert held == {grant.acl(row) for row in ROWS}


def _assert_refused_only_by(client: ClientRole, refused: list[tuple[ClientRole, BrokerError]],
                            principal: str, named: str,
                            caplog: pytest.LogCaptureFixture) -> None:
    """Only ``client`` was refused, every time naming the ACL, in one log line."""
    assert refused, f"nothing refused without {named}"
    assert {role for role, _ in refused} == {client}, refused
    assert all(named in error.message for _, error in refused), refused
    assert f"not authorized: {principal} needs {named}" in refused[0][1].message
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and "kind=unauthorized" in r.getMessage()]
    assert len(warnings) == 1, warnings  # one line per refused client, not per retry
    assert f"client={client.value}" in warnings[0]


def _assert_feed_down_said_once(named: str, caplog: pytest.LogCaptureFixture) -> None:
    down = [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "event=task_feed_down" in r.getMessage()]
    assert len(down) == 1, down
    assert named in down[0]


@pytest.mark.parametrize("missing", ROWS, ids=_row_id)
async def test_without_each_readme_acl_its_client_is_refused_named_and_works_once_granted(
    grant: Grant, services: Services, missing: AclRow, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="zombiewatch")
    grant.grant([row for row in ROWS if row != missing])
    task_id = str(uuid.uuid4())
    await write_task_event(services.bootstrap_servers, grant.events, task_id)
    recorder = Recorder()
    settings = grant.settings()
    publisher = KafkaCommandPublisher(settings=settings, clock=SystemClock(),
                                      health=recorder.health)
    history = KafkaFailureHistory(settings, timeout=30, health=recorder.health)
    feed = grant.feed(recorder.health)
    failure = _failure(f"job-without-{_row_id(missing).lower()}")

    async with following(feed):
        published_without = await publisher.publish_failures([failure])
        read_back_without = await history.reported_since(datetime.now(UTC) - timedelta(hours=1))
        # The feed's first attempt is over: it is up, or it said why not.
        await wait_until(lambda: _feed_ready(feed) or feed.stats.failures >= 1,
                         "the task feed's first attempt", timeout=FEED_WAIT)
        feed_ready_without, feed_problem_without = _feed_ready(feed), feed.problem
        refused = [(role, error) for role, error in recorder.errors
                   if error.kind is BrokerErrorKind.UNAUTHORIZED]
        problem_without = publisher.problem
        grant.grant([missing])
        published_with = published_without
        if isinstance(published_without, Failure):
            await publisher.reconnect()
            if publisher.started:
                published_with = await publisher.publish_failures([failure])
        # Granted, the feed comes up by itself (it retries), no restart.
        await wait_until(lambda: _feed_ready(feed), "the task feed up once granted",
                         timeout=FEED_WAIT)
        tasks = [task for task, _ in feed.states.items()]
    jobs = await _published_jobs(settings)
    await publisher.close()

    named = str(grant.acl(missing))
    _assert_refused_only_by(missing.client, refused, f"User:{grant.secured.client_user}",
                            named, caplog)
    if missing.client is ClientRole.PRODUCER:
        assert isinstance(published_without, Failure)
        assert published_without.failure().kind is BrokerErrorKind.UNAUTHORIZED
        assert problem_without is not None
        assert named in problem_without.message
        assert published_with == Success(None)
    else:
        # Only the read-back or the feed needs it: publishing went on.
        assert published_without == Success(None)
        assert problem_without is None
    assert isinstance(read_back_without, Failure) is (missing.client is ClientRole.HISTORY)
    if missing.client is ClientRole.FEED:
        assert not feed_ready_without
        assert feed_problem_without is not None
        assert f"needs {named}" in feed_problem_without
        _assert_feed_down_said_once(f"needs {named}", caplog)
    else:
        assert feed_ready_without
    assert tasks == [task_id]
    assert feed.problem is None
    assert jobs == [failure.job_name], "the failure must land exactly once"
    assert publisher.problem is None


BAD_CREDENTIALS = {
    "wrong-password": ({"password": "not-the-password"},
                       "SASL SCRAM-SHA-512 authentication failed for user 'zombiewatch': "
                       "wrong password or unknown user"),
    "unknown-user": ({"username": "nobody-here"},
                     "SASL SCRAM-SHA-512 authentication failed for user 'nobody-here'"),
    "untrusted-ca": ({"ca_file": "other"}, "TLS: the broker's certificate was refused: "
                     "self-signed certificate in certificate chain"),
    "expired-certificate": ({"bootstrap": "expired"},
                            "TLS: the broker's certificate was refused: certificate has expired"),
    "hostname-mismatch": ({"bootstrap": "wronghost"},
                          "TLS: the broker's certificate was refused: IP address mismatch, "
                          "certificate is not valid for '127.0.0.1'"),
}


def _bad_settings(grant: Grant, case: str) -> KafkaClientSettings:
    overrides: dict[str, object] = dict(BAD_CREDENTIALS[case][0])
    secured = grant.secured
    if overrides.get("ca_file") == "other":
        overrides["ca_file"] = secured.other_ca_file
    if "bootstrap" in overrides:
        overrides["bootstrap"] = {"expired": secured.expired,
                                  "wronghost": secured.wronghost}[str(overrides["bootstrap"])]
    return grant.settings(**overrides)


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
async def test_bad_credentials_and_certificates_give_one_clear_error_and_are_retried(
    grant: Grant, case: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    quiet_bootstrap_logs()  # as the daemon's logging set-up does
    grant.grant(ROWS)
    recorder = Recorder()
    settings = _bad_settings(grant, case)
    clock = SteppingClock()
    publisher = KafkaCommandPublisher(settings=settings, clock=clock, health=recorder.health)

    first = await publisher.start()
    for _ in range(3):
        clock.advance(30)  # past any backoff: every reconnect asks the broker again
        await publisher.reconnect()
    await publisher.close()

    expected = BAD_CREDENTIALS[case][1]
    assert isinstance(first, Failure)
    assert first.failure().kind is BrokerErrorKind.UNAUTHENTICATED
    assert expected in first.failure().message
    assert [e.kind for _, e in recorder.errors] == [BrokerErrorKind.UNAUTHENTICATED] * 4
    output = caplog.text
    kafka_warnings = [r for r in caplog.records
                      if r.levelno >= logging.WARNING and "kafka" in r.name]
    assert len(kafka_warnings) == 1, output
    assert "Traceback" not in output
    assert "Unable connect to" not in output  # aiokafka's per-attempt line is dropped
    assert grant.secured.client_password not in output
    assert grant.secured.admin_password not in output
    assert publisher.problem is not None
    assert expected in publisher.problem.message


class SteppingClock:
    """Wall time that the test moves, so the backoff never makes it wait."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


async def test_mutual_tls_authenticates_by_the_client_certificate(grant: Grant) -> None:
    secured = grant.secured
    grant.grant(ROWS, principal=f"User:{secured.mtls_user}")
    with_cert = secured.mtls_settings(topic=grant.topic, transactional_id=grant.transactional_id)
    without_cert = secured.mtls_settings(topic=grant.topic,
                                         transactional_id=grant.transactional_id,
                                         with_certificate=False)
    publisher = KafkaCommandPublisher(settings=with_cert, clock=SystemClock())
    refused = KafkaCommandPublisher(settings=without_cert, clock=SystemClock())

    published = await publisher.publish_failures([_failure("job-mtls")])
    without = await refused.start()
    await publisher.close()
    await refused.close()

    assert published == Success(None)
    assert isinstance(without, Failure)
    assert re.search(r"Connection at 127\.0\.0\.1:\d+ closed", without.failure().message)


WRITE_ROWS = [row for row in ROWS if row.client is ClientRole.PRODUCER]


@pytest.mark.parametrize("revoked", WRITE_ROWS, ids=_row_id)
async def test_an_acl_revoked_while_running_is_named_and_its_failure_lands_once_regranted(
    grant: Grant, revoked: AclRow, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="zombiewatch")
    grant.grant(ROWS)
    recorder = Recorder()
    publisher = KafkaCommandPublisher(settings=grant.settings(), clock=SystemClock(),
                                      health=recorder.health)
    before = await publisher.publish_failures([_failure("job-before")])
    grant.revoke([revoked])
    failure = _failure("job-while-revoked")

    attempts = [await publisher.publish_failures([failure]) for _ in range(3)]
    problem = publisher.problem
    grant.grant([revoked])
    await publisher.reconnect()
    after = await publisher.publish_failures([failure])
    await publisher.close()
    jobs = await _published_jobs(grant.settings())

    named = f"needs {grant.acl(revoked)}"
    assert before == Success(None)
    assert all(isinstance(a, Failure) and named in a.failure().message for a in attempts)
    assert problem is not None
    assert named in problem.message
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno >= logging.WARNING and r.name.startswith("zombiewatch")]
    assert len(warnings) == 1, warnings  # three refusals, one line
    assert named in warnings[0]
    assert after == Success(None)
    assert publisher.problem is None
    assert sorted(jobs) == ["job-before", "job-while-revoked"]


async def test_the_feed_acl_revoked_while_running_downs_the_feed_named_not_publishing(
    grant: Grant, services: Services, caplog: pytest.LogCaptureFixture,
) -> None:
    assert FEED_ROWS, "the README's table has no row for the task feed"
    (revoked,) = FEED_ROWS
    caplog.set_level(logging.INFO, logger="zombiewatch")
    grant.grant(ROWS)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await write_task_event(services.bootstrap_servers, grant.events, first)
    recorder = Recorder()
    publisher = KafkaCommandPublisher(settings=grant.settings(), clock=SystemClock(),
                                      health=recorder.health)
    feed = grant.feed(recorder.health)
    named = f"needs {grant.acl(revoked)}"

    async with following(feed):
        await wait_until(lambda: _feed_ready(feed), "the task feed up", timeout=FEED_WAIT)
        grant.revoke([revoked])
        await wait_until(lambda: not feed.up, "the task feed down once revoked", timeout=FEED_WAIT)
        problem = feed.problem
        published = await publisher.publish_failures([_failure("job-feed-revoked")])
        await write_task_event(services.bootstrap_servers, grant.events, second)
        grant.grant([revoked])
        await wait_until(lambda: _feed_ready(feed) and second in feed.states,
                         "the task feed back and reading once re-granted", timeout=FEED_WAIT)
    await publisher.close()
    jobs = await _published_jobs(grant.settings())

    assert problem is not None
    assert named in problem
    assert [(role, e.kind) for role, e in recorder.errors][:1] == [
        (ClientRole.FEED, BrokerErrorKind.UNAUTHORIZED)]
    assert all(role is ClientRole.FEED and named in e.message for role, e in recorder.errors)
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno >= logging.WARNING and r.name.startswith("zombiewatch")]
    # The cause once (the health's) and the consequence once (the feed down), not per retry.
    assert len(warnings) == 2, warnings
    assert all(named in w for w in warnings), warnings
    assert published == Success(None)  # publishing never needed the feed
    assert jobs == ["job-feed-revoked"]
    assert sorted(task for task, _ in feed.states.items()) == sorted([first, second])
    assert feed.problem is None


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_the_feed_asking_for_its_topic_by_name_never_creates_it(
    services: Services,
) -> None:
    """To tell "refused" from "missing" the feed asks for the topic by name, and this
    broker creates topics asked for by name (``auto.create.topics.enable``): asked as
    the plaintext super user (who may create anything), the topic must stay missing."""
    missing = unique_name("zw-secure-no-events")
    settings = KafkaClientSettings(bootstrap_servers=services.bootstrap_servers,
                                      topic="unused", transactional_id="unused",
                                      request_timeout_ms=3_000)
    feed = KafkaTaskFeed(settings, topic=missing, states=TaskStates(), retry_seconds=0.2)

    async with following(feed):
        await wait_until(lambda: feed.stats.failures >= 3 or feed.up, "three attempts of the feed",
                         timeout=FEED_WAIT)
    topics = await _topics(services.bootstrap_servers)

    assert not feed.up
    assert feed.problem is not None
    assert "does not exist" in feed.problem
    assert missing not in topics


# --- the daemon, as a least-privilege SCRAM user over SASL_SSL ----------------------


@dataclass
class SecuredStage:
    """A namespace, its request and event topics, the daemon's ACLs and a committed-records
    reader."""

    api_client: Any
    namespace: str
    reader: CommittedReader
    grant: Grant
    settings: Settings
    tmp_path: Path

    def failing_job(self) -> str:
        core: Any = client.CoreV1Api(self.api_client)
        batch: Any = client.BatchV1Api(self.api_client)
        task_id = str(uuid.uuid4())
        name = f"claude-{task_id[:8]}-{uuid.uuid4().hex[:6]}"
        job = kubelet.create_agent_job(batch, self.namespace, task_id=task_id, name=name)
        pod = kubelet.create_agent_pod(core, self.namespace, job=job, task_id=task_id)
        kubelet.set_waiting(core, self.namespace, pod, "ImagePullBackOff")
        return name


def secured_daemon_settings(secured: SecuredKafka, *, kubeconfig: Path, namespace: str,
                            prefix: str, leader: bool, **kafka: Any) -> Settings:
    """The daemon's settings on SASL_SSL as the client user; ``kafka`` overrides options."""
    base = daemon_settings(kubeconfig=kubeconfig, namespace=namespace,
                           bootstrap=secured.sasl_ssl, topic_prefix=prefix, leader=leader)
    options = replace(base.kafka, security_protocol=SecurityProtocol.SASL_SSL,
                      ca_file=secured.ca_file, sasl_mechanism=secured.mechanism,
                      sasl_username=secured.client_user, sasl_password=secured.client_password)
    return replace(base, kafka=replace(options, **kafka))


@pytest.fixture
async def secured_stage(services: Services, api_client: Any, namespace: str,
                        secured: SecuredKafka, tmp_path: Path) -> AsyncIterator[SecuredStage]:
    bootstrap_servers = services.bootstrap_servers
    apply_config_crd(api_client)
    # The smallest sweep interval: a refused failure is retried every 10 s.
    create_config(api_client, namespace, "claude",
                  {"assignee": "claude", "zombieSweeperIntervalSeconds": 10})
    prefix = f"sec-{uuid.uuid4().hex[:8]}"
    topic = request_topic_for(bootstrap_servers, prefix)
    # The controller's event topic exists, with one task in it: the feed (on) reads it.
    events = event_topic(prefix)
    create_topics(bootstrap_servers, [events], 1)
    await write_task_event(bootstrap_servers, events, str(uuid.uuid4()))
    grant = Grant(secured, topic, events, transactional_id_for(namespace), set())
    settings = secured_daemon_settings(secured, kubeconfig=services.kubeconfig,
                                       namespace=namespace, prefix=prefix, leader=True)
    try:
        async with reading(bootstrap_servers, topic) as reader:
            yield SecuredStage(api_client=api_client, namespace=namespace, reader=reader,
                               grant=grant, settings=settings, tmp_path=tmp_path)
    finally:
        if grant.granted:
            secured.revoke(grant.granted)


async def _wait_serving(proc: DaemonProcess, port: int) -> None:
    """Until ``/readyz`` answers at all (200 or 503): the daemon is up."""
    async def answers() -> bool:
        return (await asyncio.to_thread(scrape, port, "/readyz"))[0] != 0

    await proc.until(answers, "the daemon serving /readyz")


async def _wait_feed_up(proc: DaemonProcess, port: int) -> None:
    """Until the daemon's task feed is up and caught up with the one task of the topic.

    The feed retries every 30 s: a re-granted ACL is seen within that, no restart.
    """
    async def up() -> bool:
        metrics = (await asyncio.to_thread(scrape, port))[1]
        return (sample(metrics, "zombiewatch_task_feed_up") == 1
                and sample(metrics, "zombiewatch_task_feed_caught_up") == 1
                and sample(metrics, "zombiewatch_task_feed_tasks") == 1)

    await proc.until(up, "the task feed up and caught up", timeout=90)


@dataclass(frozen=True)
class Seen:
    """What the daemon showed while one ACL was missing."""

    named: str
    client: ClientRole
    status: int
    body: str
    errors: float
    feed_up: float


async def _without(stage: SecuredStage, row: AclRow, proc: DaemonProcess, port: int,
                   expected: dict[str, list[str]]) -> Seen:
    """A failing Job while ``row`` is missing: the daemon names the ACL (log,
    ``/readyz``, metric); a failure that does not need the row still lands."""
    named = f"needs {stage.grant.acl(row)}"
    job = stage.failing_job()
    expected[job] = ["image_pull_backoff (ImagePullBackOff)"]
    if row.client is ClientRole.FEED:
        # The feed is not needed for publishing: the failure lands without it (and
        # the leader, its producer connected, is then ready whatever the feed says).
        await stage.reader.wait_for_failures(len(expected), timeout=90)

    async def said() -> bool:
        body = (await asyncio.to_thread(scrape, port, "/readyz"))[1]
        return named in proc.log_text() and named in body

    await proc.until(said, f"the daemon naming {named!r}")
    status, body = scrape(port, "/readyz")
    metrics = scrape(port)[1]
    return Seen(named, row.client, status, body,
                sample(metrics, "zombiewatch_kafka_errors_total",
                       client=row.client.value, kind="unauthorized"),
                sample(metrics, "zombiewatch_task_feed_up"))


def _assert_each_missing_acl_said(observed: list[Seen]) -> None:
    """Every row was missing once (the feed's twice: while running, at start), and said."""
    assert [seen.client for seen in observed] == [
        client for row in ROWS
        for client in [row.client] * (2 if row.client is ClientRole.FEED else 1)]
    for seen in observed:
        # Only the producer's ACLs make the leader unready; the read-back and the feed
        # are said, and the daemon stays ready.
        assert seen.status == (503 if seen.client is ClientRole.PRODUCER else 200), seen.body
        assert seen.named in seen.body
        assert seen.errors >= 1, seen
        if seen.client is ClientRole.FEED:
            assert seen.feed_up == 0, seen
            assert "task feed: DOWN, cluster only" in seen.body, seen


async def test_the_daemon_as_a_least_privilege_user_publishes_and_survives_each_acl_removed(
    secured_stage: SecuredStage,
) -> None:
    stage = secured_stage
    stage.grant.grant(ROWS)
    port = free_port()
    expected: dict[str, list[str]] = {}
    observed: list[Seen] = []
    logs: list[str] = []

    async def without(row: AclRow, proc: DaemonProcess) -> None:
        observed.append(await _without(stage, row, proc, port, expected))

    with daemon_processes(stage.tmp_path) as start:
        proc = start(stage.settings, port=port)
        await _wait_serving(proc, port)
        await _wait_feed_up(proc, port)  # every row granted: the feed is up
        first = stage.failing_job()
        expected[first] = ["image_pull_backoff (ImagePullBackOff)"]
        await stage.reader.wait_for_failures(1, timeout=60)

        for row in ROWS:
            stage.grant.revoke([row])
            if row.client is ClientRole.HISTORY:
                # Only a new term reads the topic back: restart the daemon.
                proc.terminate()
                logs.append(proc.log_text())
                proc = start(stage.settings, port=port)
            await without(row, proc)
            if row.client is ClientRole.FEED:
                # Removed while running (above), and missing at start (a restart).
                proc.terminate()
                logs.append(proc.log_text())
                proc = start(stage.settings, port=port)
                await without(row, proc)
            stage.grant.grant([row])
            await stage.reader.wait_for_failures(len(expected), timeout=90)
            if row.client is ClientRole.FEED:
                await _wait_feed_up(proc, port)  # re-granted: up again, no restart
            assert proc.alive
        await stage.reader.quiet(2.0)
        proc.terminate()
        logs.append(proc.log_text())

    _assert_each_missing_acl_said(observed)
    assert stage.reader.reasons_by_job() == expected  # every failure, exactly once
    output = "\n".join(logs)
    for row in FEED_ROWS:
        down = [line for line in output.splitlines()
                if "event=task_feed_down" in line and f"needs {stage.grant.acl(row)}" in line]
        assert len(down) == 2, down  # once while running, once at the start: not per retry
    assert "Traceback" not in output
    assert stage.grant.secured.client_password not in output


def _key_material(path: Path) -> list[str]:
    """The base64 lines of a PEM private key: none may ever be printed."""
    return [line for line in path.read_text().splitlines()
            if line and not line.startswith("-----")]


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
async def test_the_daemon_with_bad_credentials_says_why_once_keeps_retrying_and_leaks_nothing(
    secured_stage: SecuredStage, services: Services, case: str,
) -> None:
    stage = secured_stage
    stage.grant.grant(ROWS)
    secured = stage.grant.secured
    bad = _bad_settings(stage.grant, case)
    assert bad.sasl is not None
    assert bad.tls is not None
    wrong_password = bad.sasl.password
    settings = secured_daemon_settings(
        secured, kubeconfig=services.kubeconfig, namespace=stage.namespace,
        prefix=stage.settings.kafka.topic_prefix or "", leader=False,
        brokers=bad.bootstrap_servers, ca_file=Path(bad.tls.ca_file or ""),
        sasl_username=bad.sasl.username, sasl_password=wrong_password,
        # A client key the broker does not ask for: its material must not leak either.
        cert_file=secured.client_cert_file, key_file=secured.client_key_file)
    port = free_port()
    expected = BAD_CREDENTIALS[case][1]
    with daemon_processes(stage.tmp_path) as start:
        proc = start(settings, port=port)

        async def retried_and_says_why() -> bool:
            metrics = (await asyncio.to_thread(scrape, port))[1]
            body = (await asyncio.to_thread(scrape, port, "/readyz"))[1]
            return expected in body and sample(
                metrics, "zombiewatch_kafka_errors_total",
                client="producer", kind="unauthenticated") >= 3

        await proc.until(retried_and_says_why,
                         "three refused attempts and /readyz saying why")
        status, body = scrape(port, "/readyz")
        metrics = scrape(port)[1]
        alive = proc.alive
        proc.terminate()
        output = proc.log_text()

    assert alive
    assert status == 503
    assert expected in body
    problems = [line for line in output.splitlines()
                if ("level=warning" in line or "level=error" in line) and "kafka" in line]
    # One clear error per client, not one per retry: the producer's, and the task feed's
    # (it follows the event topic with the same credentials: the connection names the
    # cause once, the feed its consequence once — "carrying on with the cluster only").
    publisher = [line for line in problems if "client=producer" in line]
    feed_cause = [line for line in problems if "client=feed" in line]
    feed_down = [line for line in problems if "event=task_feed_down" in line]
    assert len(publisher) == 1, problems
    assert len(feed_cause) <= 1, problems
    assert len(feed_down) <= 1, problems
    assert len(problems) == len(publisher) + len(feed_cause) + len(feed_down), problems
    assert "event=kafka_problem" in publisher[0]
    assert expected in publisher[0]
    assert "Traceback" not in output
    secrets = [secured.client_password, wrong_password, secured.admin_password,
               *_key_material(secured.client_key_file)]
    for secret in secrets:
        assert secret not in output
        assert secret not in metrics
        assert secret not in body

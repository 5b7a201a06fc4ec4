"""Connection options and error translation: one meaning per error, whoever met it."""

from __future__ import annotations

import logging
import ssl

import pytest
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    ProducerFenced,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from tests.unit.worlds.logs import json_events, text_events
from zombiewatch.adapters.kafka.connection import (
    ClientRole,
    KafkaHealth,
    connection_options,
    diagnosed,
    missing_acl,
    publish_error,
    quiet_bootstrap_logs,
    read_error,
)
from zombiewatch.adapters.kafka.settings import (
    KafkaClientSettings,
    SaslMechanism,
    SaslSettings,
    SecurityProtocol,
)
from zombiewatch.domain.ports import BrokerErrorKind, PublishError, ReadError

PASSWORD = "s3cr3t-pw-do-not-log"
SETTINGS = KafkaClientSettings(
    bootstrap_servers="127.0.0.1:1", topic="develop-agent-task-v1-request",
    transactional_id="zombiewatch-agents",
    sasl=SaslSettings(mechanism=SaslMechanism.SCRAM_SHA_512, username="zw", password=PASSWORD),
)


def _verify_error(message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_message = message
    return error


def test_transport_errors_mean_try_later_and_fencing_means_step_down() -> None:
    assert publish_error(ProducerFenced()).kind is BrokerErrorKind.FENCED
    assert publish_error(KafkaConnectionError()).kind is BrokerErrorKind.UNAVAILABLE
    assert publish_error(KafkaTimeoutError()).kind is BrokerErrorKind.UNAVAILABLE
    assert publish_error(TimeoutError()).kind is BrokerErrorKind.UNAVAILABLE
    assert publish_error(ConnectionRefusedError()).kind is BrokerErrorKind.UNAVAILABLE
    assert publish_error(MessageSizeTooLargeError()).kind is BrokerErrorKind.REJECTED
    assert isinstance(publish_error(ProducerFenced()), PublishError)
    assert isinstance(read_error(KafkaConnectionError()), ReadError)
    assert read_error(KafkaConnectionError()).kind is BrokerErrorKind.UNAVAILABLE


@pytest.mark.parametrize(("exc", "role", "acl"), [
    (TopicAuthorizationFailedError(), ClientRole.PRODUCER,
     "Write on Topic develop-agent-task-v1-request"),
    (TopicAuthorizationFailedError(), ClientRole.HISTORY,
     "Read on Topic develop-agent-task-v1-request"),
    (TransactionalIdAuthorizationFailed(), ClientRole.PRODUCER,
     "Write on TransactionalId zombiewatch-agents"),
    (ClusterAuthorizationFailedError(), ClientRole.PRODUCER, "IdempotentWrite on Cluster"),
])
def test_an_authorization_error_names_the_principal_and_the_missing_acl(
    exc: Exception, role: ClientRole, acl: str,
) -> None:
    writing = role is ClientRole.PRODUCER
    error = publish_error(exc, SETTINGS) if writing else read_error(exc, SETTINGS)

    assert missing_acl(exc, SETTINGS, writing=writing) == acl
    assert error.kind is BrokerErrorKind.UNAUTHORIZED
    assert error.message.startswith(f"not authorized: User:zw needs {acl} (")


def test_refused_credentials_say_which_user_and_never_the_password() -> None:
    error = publish_error(SaslAuthenticationFailed("invalid credentials"), SETTINGS)

    assert error.kind is BrokerErrorKind.UNAUTHENTICATED
    assert "SASL SCRAM-SHA-512 authentication failed for user 'zw'" in error.message
    assert "wrong password or unknown user" in error.message
    assert PASSWORD not in error.message
    assert PASSWORD not in repr(SETTINGS)


@pytest.mark.parametrize("why", [
    "certificate has expired", "self-signed certificate in certificate chain",
    "IP address mismatch, certificate is not valid for '127.0.0.1'.",
])
def test_a_refused_broker_certificate_is_unauthenticated_with_the_reason(why: str) -> None:
    error = publish_error(_verify_error(why), SETTINGS)

    assert error.kind is BrokerErrorKind.UNAUTHENTICATED
    assert error.message.startswith(f"TLS: the broker's certificate was refused: {why} (")


def test_sasl_against_a_plaintext_listener_is_unauthenticated() -> None:
    error = publish_error(IllegalSaslStateError(), SETTINGS)

    assert error.kind is BrokerErrorKind.UNAUTHENTICATED
    assert "does the listener speak the configured security protocol" in error.message


async def test_a_plaintext_bootstrap_failure_is_not_diagnosed_again() -> None:
    plaintext = KafkaClientSettings(bootstrap_servers="127.0.0.1:1", topic="t",
                                       transactional_id="x")
    exc = KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]")

    assert await diagnosed(exc, plaintext) is exc


def test_connection_options_carry_the_protocol_and_sasl_of_the_settings() -> None:
    options = connection_options(SETTINGS)

    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "zw"
    assert "ssl_context" not in options


@pytest.mark.parametrize(("protocol", "tls", "sasl"), [
    (SecurityProtocol.PLAINTEXT, False, False), (SecurityProtocol.SSL, True, False),
    (SecurityProtocol.SASL_PLAINTEXT, False, True), (SecurityProtocol.SASL_SSL, True, True),
])
def test_the_security_protocol_is_one_name_for_tls_and_sasl(
    protocol: SecurityProtocol, tls: bool, sasl: bool,
) -> None:
    assert (protocol.uses_tls, protocol.uses_sasl) == (tls, sasl)
    assert SecurityProtocol.of(tls=tls, sasl=sasl) is protocol


def test_health_logs_a_problem_once_counts_every_error_and_logs_the_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counted: list[tuple[ClientRole, BrokerErrorKind]] = []
    health = KafkaHealth(on_error=lambda role, error: counted.append((role, error.kind)))
    refused = PublishError(BrokerErrorKind.UNAUTHENTICATED, "SASL ... user 'zw'")
    caplog.set_level(logging.DEBUG, logger="zombiewatch.adapters.kafka.connection")

    for _ in range(3):
        health.failed(ClientRole.PRODUCER, refused, retry_in=1.0)
    problem_then = health.problem(ClientRole.PRODUCER)
    health.ok(ClientRole.PRODUCER)
    health.ok(ClientRole.PRODUCER)

    levels = [(r.levelname, r.getMessage().split()[0]) for r in caplog.records]
    assert levels == [("WARNING", "event=kafka_problem"), ("DEBUG", "event=kafka_problem"),
                      ("DEBUG", "event=kafka_problem"), ("INFO", "event=kafka_recovered")]
    assert counted == [(ClientRole.PRODUCER, BrokerErrorKind.UNAUTHENTICATED)] * 3
    assert problem_then == refused
    assert health.problem(ClientRole.PRODUCER) is None
    assert health.problems == {}


def test_aiokafkas_per_attempt_bootstrap_errors_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_bootstrap_logs()
    quiet_bootstrap_logs()
    client_log = logging.getLogger("aiokafka")
    caplog.set_level(logging.WARNING, logger="aiokafka")

    client_log.error('Unable connect to "%s": %s', "127.0.0.1:1", "refused")
    client_log.error("Unexpected error in sender routine")

    assert [r.getMessage() for r in caplog.records] == ["Unexpected error in sender routine"]
    assert len(client_log.filters) == 1


def test_connecting_clears_only_a_problem_met_while_connecting() -> None:
    health = KafkaHealth()
    no_topic = PublishError(BrokerErrorKind.UNAUTHORIZED, "needs Write on Topic t")
    refused = PublishError(BrokerErrorKind.UNAUTHENTICATED, "SASL ...")

    health.failed(ClientRole.PRODUCER, no_topic)
    health.ok(ClientRole.PRODUCER, connected_only=True)
    after_connect_topic = health.problem(ClientRole.PRODUCER)
    health.failed(ClientRole.PRODUCER, refused, connecting=True)
    health.ok(ClientRole.PRODUCER, connected_only=True)
    after_connect_refused = health.problem(ClientRole.PRODUCER)

    assert after_connect_topic == no_topic
    assert after_connect_refused is None


def test_a_kafka_problem_is_logged_with_its_fields_as_keys_in_json_and_logfmt_in_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = KafkaHealth()
    caplog.set_level(logging.INFO, logger="zombiewatch.adapters.kafka.connection")

    health.failed(ClientRole.FEED, ReadError(BrokerErrorKind.UNAUTHORIZED,
                                             "topic t: needs Read"), retry_in=2.0)
    health.ok(ClientRole.FEED)

    (problem,) = json_events(caplog.records, "kafka_problem")
    assert {k: problem[k] for k in ("level", "client", "kind", "error", "retry_in_s")} == {
        "level": "warning", "client": "feed", "kind": "unauthorized",
        "error": "topic t: needs Read", "retry_in_s": 2.0}
    assert "msg" not in problem
    (recovered,) = json_events(caplog.records, "kafka_recovered")
    assert (recovered["client"], recovered["after"]) == ("feed", "unauthorized")
    (text,) = text_events(caplog.records, "kafka_problem")
    assert text.endswith('event=kafka_problem client=feed kind=unauthorized '
                         'error="topic t: needs Read" retry_in_s=2.0')

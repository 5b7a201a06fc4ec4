"""How our Kafka clients reach the brokers, and what their errors mean.

Shared by the publisher (a transactional producer), the history (a short-lived
``read_committed`` consumer) and the task feed (a consumer of the event topic),
so that all connect the same way (servers, timeouts, TLS, SASL) and an error
means the same thing whoever met it:

- :func:`connection_options` is the one place that turns settings into aiokafka
  options;
- :func:`publish_error` and :func:`read_error` are the one place that turns an
  exception into the ports' :class:`~zombiewatch.domain.ports.PublishError` or
  :class:`~zombiewatch.domain.ports.ReadError` (one classification,
  :class:`~zombiewatch.domain.ports.BrokerErrorKind`, for both). An authorisation
  error names the ACL that is missing (Kafka does not say which operation it
  checked; whether the client writes or reads does); an authentication or TLS
  error says what was refused, never with a secret in it;
- :func:`diagnosed` recovers the reason aiokafka only logs when it cannot
  bootstrap (wrong password, untrusted certificate, ...) by opening one connection
  itself (:func:`diagnose_bootstrap`);
- :class:`KafkaHealth` keeps the last problem of each client, logs a problem once
  when it appears (repeats at DEBUG) and once when it is gone, so a broker that
  refuses our credentials gives one clear line, not one per retry; ``/readyz``
  reads it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Final, Literal, overload

from aiokafka.conn import create_conn
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IllegalOperation,
    IllegalSaslStateError,
    InvalidProducerEpoch,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    ProducerFenced,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    UnsupportedSaslMechanismError,
)

from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.logfields import log_event
from zombiewatch.domain.ports import BrokerError, BrokerErrorKind, PublishError, ReadError

log = logging.getLogger(__name__)


class ClientRole(StrEnum):
    """Which of our Kafka clients met an error (the health's key, the metric's ``client``)."""

    PRODUCER = "producer"
    """The transactional producer: publishes the commands."""
    HISTORY = "history"
    """The read-back consumer at leadership start."""
    FEED = "feed"
    """The task feed's consumer of the event topic (settings.topic is that topic then)."""


EXPECTED_ERRORS: Final = (KafkaError, IllegalOperation, TimeoutError, OSError)
"""What the Kafka client raises for conditions outside our control."""

_UNREACHABLE: Final = (KafkaTimeoutError, KafkaConnectionError, KafkaUnavailableError)
"""Transport errors that mean "try later", whatever aiokafka's ``retriable`` says."""

_UNAUTHENTICATED: Final = (SaslAuthenticationFailed, IllegalSaslStateError,
                           UnsupportedSaslMechanismError, ssl.SSLError)
"""The broker refused who we are, or we refused the broker's certificate."""


def connection_options(settings: KafkaClientSettings) -> dict[str, object]:
    """How any aiokafka client of ours reaches the brokers: servers, timeouts, TLS, SASL.

    Reads the TLS files now: call it where the client is created.
    """
    options: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "request_timeout_ms": settings.request_timeout_ms,
        "security_protocol": settings.security_protocol.value,
    }
    if settings.tls is not None:
        options["ssl_context"] = settings.tls.ssl_context()
    if settings.sasl is not None:
        options["sasl_mechanism"] = settings.sasl.mechanism.value
        options["sasl_plain_username"] = settings.sasl.username
        options["sasl_plain_password"] = settings.sasl.password
    return options


def missing_acl(exc: BaseException, settings: KafkaClientSettings, *,
                writing: bool) -> str | None:
    """The ACL an authorisation error says we lack, in the words of ``kafka-acls``.

    Kafka answers "not authorised on this resource" without the operation; whether
    the client was writing (the producer) or reading says which one it checked
    (README: the ACLs the daemon needs).
    """
    topic = settings.topic
    if isinstance(exc, TopicAuthorizationFailedError):
        operation = "Write" if writing else "Read"
        return f"{operation} on Topic {topic}"
    if isinstance(exc, TransactionalIdAuthorizationFailed):
        return f"Write on TransactionalId {settings.transactional_id}"
    if isinstance(exc, ClusterAuthorizationFailedError):
        return "IdempotentWrite on Cluster"
    if isinstance(exc, GroupAuthorizationFailedError):
        return "Read on Group"
    return None


def _principal(settings: KafkaClientSettings) -> str:
    if settings.sasl is not None:
        return f"User:{settings.sasl.username}"
    if settings.tls is not None and settings.tls.cert_file is not None:
        return "the client certificate's principal"
    return "User:ANONYMOUS"


def publish_error(exc: BaseException,
                  settings: KafkaClientSettings | None = None) -> PublishError:
    """The publisher port's error for an exception raised while producing."""
    return PublishError(*_classified(exc, settings, writing=True))


def read_error(exc: BaseException, settings: KafkaClientSettings | None = None) -> ReadError:
    """The read ports' error for an exception raised while consuming."""
    return ReadError(*_classified(exc, settings, writing=False))


def _classified(exc: BaseException, settings: KafkaClientSettings | None, *,
                writing: bool) -> tuple[BrokerErrorKind, str]:
    """What an exception raised while talking to Kafka means, and the message to say.

    With ``settings`` the message names the principal and the missing ACL or the
    refused credentials; it never contains a password or key material (the
    exceptions aiokafka and ``ssl`` raise do not carry them).
    """
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ProducerFenced | InvalidProducerEpoch):
        return BrokerErrorKind.FENCED, detail
    if settings is not None and (acl := missing_acl(exc, settings, writing=writing)) is not None:
        return (BrokerErrorKind.UNAUTHORIZED,
                f"not authorized: {_principal(settings)} needs {acl} ({detail})")
    if isinstance(exc, _UNAUTHENTICATED):
        return BrokerErrorKind.UNAUTHENTICATED, _refusal(exc, settings, detail)
    if isinstance(exc, KafkaError) and not exc.retriable and not isinstance(exc, _UNREACHABLE):
        return BrokerErrorKind.REJECTED, detail
    return BrokerErrorKind.UNAVAILABLE, detail


def _refusal(exc: BaseException, settings: KafkaClientSettings | None, detail: str) -> str:
    """What an authentication or TLS failure means for the operator."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate was refused: {exc.verify_message} ({detail})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({detail})"
    if isinstance(exc, SaslAuthenticationFailed) and settings is not None and settings.sasl:
        sasl = settings.sasl
        return (f"SASL {sasl.mechanism.value} authentication failed for user "
                f"{sasl.username!r}: wrong password or unknown user ({detail})")
    return f"SASL refused: does the listener speak the configured security protocol? ({detail})"


async def diagnose_bootstrap(settings: KafkaClientSettings) -> BaseException | None:
    """Why the first bootstrap server cannot be reached, or ``None`` if it can.

    aiokafka reports a failed bootstrap as "Unable to bootstrap" and only logs
    the cause (a refused password, an expired certificate); one connection of our
    own, with the same options, raises it. Bounded by ``cleanup_timeout``.
    """
    options = connection_options(settings)
    first = str(options.pop("bootstrap_servers")).split(",", 1)[0].strip()
    host, _, port = first.rpartition(":")
    try:
        async with asyncio.timeout(settings.cleanup_timeout):
            connection = await create_conn(host.strip("[]") or first, int(port or 9092),
                                           **options)
    except EXPECTED_ERRORS as exc:
        return exc
    connection.close()
    return None


async def diagnosed(exc: BaseException, settings: KafkaClientSettings) -> BaseException:
    """The exception to translate: ``exc``, or why a secured bootstrap really failed.

    Only TLS and SASL hide a cause worth the extra connection; a plaintext
    bootstrap fails for being unreachable, which ``exc`` already says.
    """
    protocol = settings.security_protocol
    if (protocol.uses_tls or protocol.uses_sasl) and isinstance(exc, KafkaConnectionError) and (
        "bootstrap" in str(exc)
    ):
        cause = await diagnose_bootstrap(settings)
        if cause is not None:
            return cause
    return exc


class KafkaHealth:
    """The last problem of each of our Kafka clients; each change logged once.

    ``on_error`` is called for every error (the app counts them); the log gets a
    WARNING when a client's problem appears or changes, DEBUG while it repeats and
    INFO when it is gone. A problem met while connecting is gone once a connection
    succeeds; one met while working (a topic we may not write to) only once the
    work succeeds: connecting proves nothing about a topic's ACL.
    """

    def __init__(self, on_error: Callable[[ClientRole, BrokerError], None] | None = None) -> None:
        self._problems: dict[ClientRole, BrokerError] = {}
        self._while_connecting: set[ClientRole] = set()
        self._on_error = on_error

    @overload
    def failed(self, role: Literal[ClientRole.PRODUCER], error: PublishError, *,
               retry_in: float | None = None, connecting: bool = False) -> None: ...

    @overload
    def failed(self, role: Literal[ClientRole.HISTORY, ClientRole.FEED], error: ReadError, *,
               retry_in: float | None = None, connecting: bool = False) -> None: ...

    def failed(self, role: ClientRole, error: BrokerError, *, retry_in: float | None = None,
               connecting: bool = False) -> None:
        """Record ``error`` for ``role``; logs it if it is new.

        The producer's problems are publish errors, the readers' read errors (the
        overloads say so), so :meth:`problem` gives the producer's back as one.
        """
        previous = self._problems.get(role)
        self._problems[role] = error
        if connecting:
            self._while_connecting.add(role)
        else:
            self._while_connecting.discard(role)
        if self._on_error is not None:
            self._on_error(role, error)
        level = logging.DEBUG if previous == error else logging.WARNING
        if retry_in is None:
            log_event(log, level, "kafka_problem", client=role.value, kind=error.kind.value,
                      error=error.message)
        else:
            log_event(log, level, "kafka_problem", client=role.value, kind=error.kind.value,
                      error=error.message, retry_in_s=round(retry_in, 1))

    def ok(self, role: ClientRole, *, connected_only: bool = False) -> None:
        """``role`` worked (or, ``connected_only``, connected); logs a recovery."""
        if connected_only and role not in self._while_connecting:
            return
        self._while_connecting.discard(role)
        previous = self._problems.pop(role, None)
        if previous is not None:
            log_event(log, logging.INFO, "kafka_recovered", client=role.value,
                      after=previous.kind.value)

    @overload
    def problem(self, role: Literal[ClientRole.PRODUCER]) -> PublishError | None: ...

    @overload
    def problem(self, role: Literal[ClientRole.HISTORY, ClientRole.FEED]) -> ReadError | None: ...

    @overload
    def problem(self, role: ClientRole) -> BrokerError | None: ...

    def problem(self, role: ClientRole) -> BrokerError | None:
        return self._problems.get(role)

    @property
    def problems(self) -> Mapping[ClientRole, BrokerError]:
        return dict(self._problems)


_REPEATED_BY_HEALTH: Final = {
    "aiokafka": "Unable connect to",
    "aiokafka.consumer.fetcher": "Not authorized to read from topic",
}
"""aiokafka's per-attempt lines whose cause :class:`KafkaHealth` logs once (logger: prefix)."""


def quiet_bootstrap_logs() -> None:
    """Drop aiokafka's per-attempt lines about refused connections and reads.

    The same cause reaches our log once, through :class:`KafkaHealth`; aiokafka
    would repeat it at every reconnect (and per partition). Idempotent.
    """
    for name, prefix in _REPEATED_BY_HEALTH.items():
        client_log = logging.getLogger(name)
        if not any(isinstance(f, _RepeatedByHealth) for f in client_log.filters):
            client_log.addFilter(_RepeatedByHealth(prefix))


class _RepeatedByHealth(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._prefix)

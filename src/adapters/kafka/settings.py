"""Settings of our Kafka clients: connection, security, time bounds.

One set for every client of ours (the publisher's producer, the read-back of the
ledger and the task feed's consumer), so they all reach the brokers the same way.
Frozen dataclasses built once by the app from flags/environment. Secrets
(passwords) are kept out of ``repr`` so a settings object can be logged.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from zombiewatch.adapters.kafka.codec import DEFAULT_INITIATOR
from zombiewatch.domain.ledger import ConsumerIsolation

_MASK: Final = "'***'"


def transactional_id_for(namespace: str) -> str:
    """The stable transactional id of the instance watching ``namespace``.

    Stable per namespace on purpose: a second instance watching the same
    namespace fences the first, so two split-brained leaders cannot both commit.
    """
    return f"zombiewatch-{namespace}"


class SaslMechanism(StrEnum):
    """The SASL mechanisms we support (the ``--kafka-sasl-mechanism`` choices)."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class SecurityProtocol(StrEnum):
    """Kafka's ``security.protocol``: whether TLS and whether SASL, in one name."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @classmethod
    def of(cls, *, tls: bool, sasl: bool) -> SecurityProtocol:
        if sasl:
            return cls.SASL_SSL if tls else cls.SASL_PLAINTEXT
        return cls.SSL if tls else cls.PLAINTEXT

    @property
    def uses_tls(self) -> bool:
        return self in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)

    @property
    def uses_sasl(self) -> bool:
        return self in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SaslSettings:
    """SASL username/password authentication."""

    mechanism: SaslMechanism
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"SaslSettings(mechanism={self.mechanism.value!r}, "
            f"username={self.username!r}, password={_MASK})"
        )


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class TlsSettings:
    """TLS to the brokers; optionally a client certificate (mutual TLS)."""

    ca_file: str | None = None
    """PEM bundle to verify the brokers with; ``None`` uses the system trust store."""
    cert_file: str | None = None
    """Client certificate (PEM) for mutual TLS."""
    key_file: str | None = None
    """Private key of ``cert_file`` (PEM)."""
    key_password: str | None = field(default=None, repr=False)
    """Passphrase of ``key_file``, if it is encrypted."""

    def __repr__(self) -> str:
        password = _MASK if self.key_password is not None else "None"
        return (
            f"TlsSettings(ca_file={self.ca_file!r}, cert_file={self.cert_file!r}, "
            f"key_file={self.key_file!r}, key_password={password})"
        )

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context; reads the files now (call at producer creation)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file, self.key_password)
        return context


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaClientSettings:
    """Everything our Kafka clients need; the repr is safe to log (secrets masked).

    ``topic`` is the request topic (the task feed replaces it with the event topic);
    the transaction and publish bounds concern the producer only.
    """

    bootstrap_servers: str
    """Comma-separated ``host:port`` list (the ``KAFKA_BROKERS`` setting)."""
    topic: str
    """Request topic, see :mod:`zombiewatch.adapters.kafka.topics`."""
    transactional_id: str
    """Stable per namespace (:func:`transactional_id_for`); see there why."""
    client_id: str = "zombiewatch"
    initiator: str = DEFAULT_INITIATOR
    """The envelope's ``initiator``; the controller knows the executor's name."""
    publish_timeout: float = 10.0
    """Seconds a publish may take up to the commit (lazy connect + begin + sends and
    their acknowledgements) before it is given up as UNAVAILABLE; the commit has its
    own bound, ``commit_timeout``. Well below the sweep interval (>= 10 s floor plus
    processing), so a dead broker never stalls a sweep for long."""
    commit_timeout: float = 30.0
    """Seconds to wait for the commit once every record is acknowledged. Longer than
    ``publish_timeout`` on purpose: a commit abandoned in flight may still succeed on
    the broker, and the retry would then publish the failure a second time (with the
    same request ids, but twice). It equals the broker's transaction timeout: past
    that, an uncommitted transaction is aborted anyway."""
    cleanup_timeout: float = 3.0
    """Seconds for aborting a failed transaction, or for closing a producer that
    is discarded. A publish returns within
    ``publish_timeout + commit_timeout + 2 * cleanup_timeout``."""
    request_timeout_ms: int = 5_000
    """Per-request timeout inside aiokafka; shorter than ``publish_timeout`` so the
    client retries a lost request within one publish instead of waiting it out."""
    transaction_timeout_ms: int = 30_000
    """After this long the broker aborts a transaction we abandoned (process
    killed mid-publish). Short, because an open transaction holds back every
    ``read_committed`` consumer of the partitions it touched."""
    tls: TlsSettings | None = None
    sasl: SaslSettings | None = None
    consumer_isolation: ConsumerIsolation = ConsumerIsolation.READ_UNCOMMITTED
    """How the controller reads the request topic, so how the ledger is read back:
    the real controller reads ``read_uncommitted`` and applies aborted records."""

    @property
    def security_protocol(self) -> SecurityProtocol:
        """Kafka's ``security.protocol`` for the configured TLS/SASL combination."""
        return SecurityProtocol.of(tls=self.tls is not None, sasl=self.sasl is not None)

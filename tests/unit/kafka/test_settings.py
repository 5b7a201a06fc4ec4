"""Publisher settings: secrets never show in repr, protocol follows TLS/SASL."""

from __future__ import annotations

import pytest

from zombiewatch.adapters.kafka.settings import (
    KafkaClientSettings,
    SaslMechanism,
    SaslSettings,
    TlsSettings,
    transactional_id_for,
)

SASL = SaslSettings(mechanism=SaslMechanism.SCRAM_SHA_512, username="zw", password="s3cr3t-pw")
TLS = TlsSettings(ca_file="/ca.pem", cert_file="/c.pem", key_file="/k.pem", key_password="k3y-pw")


def _settings(
    *, tls: TlsSettings | None = None, sasl: SaslSettings | None = None
) -> KafkaClientSettings:
    return KafkaClientSettings(
        bootstrap_servers="127.0.0.1:9092",
        topic="agent-task-v1-request",
        transactional_id=transactional_id_for("agents"),
        tls=tls,
        sasl=sasl,
    )


def test_repr_masks_every_secret_but_keeps_the_rest_readable() -> None:
    text = repr(_settings(tls=TLS, sasl=SASL))

    assert "s3cr3t-pw" not in text
    assert "k3y-pw" not in text
    assert "password='***'" in text
    assert "key_password='***'" in text
    assert "username='zw'" in text
    assert "127.0.0.1:9092" in text
    assert "zombiewatch-agents" in text


def test_str_and_format_mask_secrets_too() -> None:
    settings = _settings(tls=TLS, sasl=SASL)

    assert "s3cr3t-pw" not in f"{settings}"
    assert "s3cr3t-pw" not in str(SASL)
    assert "k3y-pw" not in str(TLS)


def test_absent_key_password_shows_as_none() -> None:
    assert "key_password=None" in repr(TlsSettings(ca_file="/ca.pem"))


@pytest.mark.parametrize(
    ("tls", "sasl", "protocol"),
    [
        (None, None, "PLAINTEXT"),
        (TLS, None, "SSL"),
        (None, SASL, "SASL_PLAINTEXT"),
        (TLS, SASL, "SASL_SSL"),
    ],
)
def test_security_protocol_follows_tls_and_sasl(
    tls: TlsSettings | None, sasl: SaslSettings | None, protocol: str
) -> None:
    assert _settings(tls=tls, sasl=sasl).security_protocol == protocol


def test_transactional_id_is_stable_per_namespace() -> None:
    assert transactional_id_for("agents") == transactional_id_for("agents") == "zombiewatch-agents"
    assert transactional_id_for("other") != transactional_id_for("agents")

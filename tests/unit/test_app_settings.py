"""Flags and environment of ``zombiewatch run``: defaults, precedence, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.worlds.pem import write_pem_files
from zombiewatch.adapters.kafka.settings import SaslMechanism, SecurityProtocol
from zombiewatch.app.settings import SettingsError, kafka_client_settings, parse_settings
from zombiewatch.domain.ledger import ConsumerIsolation

REQUIRED = {"NAMESPACE": "agents", "KAFKA_BROKERS": "kafka:9092"}


def test_the_environment_alone_is_enough_and_defaults_follow_client_go() -> None:
    settings = parse_settings([], {**REQUIRED, "KUBECONFIG": "/k/config"})

    assert settings.namespace == "agents"
    assert settings.kubeconfig == Path("/k/config")
    assert settings.kafka.brokers == "kafka:9092"
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8080)
    assert settings.leader.enabled
    assert (settings.leader.lease_duration_seconds, settings.leader.renew_deadline_seconds,
            settings.leader.retry_period_seconds) == (15.0, 10.0, 2.0)


def test_a_flag_wins_over_its_environment_variable() -> None:
    settings = parse_settings(["--namespace", "other", "--listen", "0.0.0.0:9000"], REQUIRED)

    assert settings.namespace == "other"
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9000)


@pytest.mark.parametrize(("argv", "env", "message"), [
    ([], {"KAFKA_BROKERS": "k:1"}, "NAMESPACE is required"),
    ([], {"NAMESPACE": "a"}, "KAFKA_BROKERS is required"),
    (["--listen", "nonsense"], REQUIRED, "LISTEN invalid"),
    (["--log-level", "loud"], REQUIRED, "LOG_LEVEL invalid"),
    (["--lease-duration", "5", "--renew-deadline", "10"], REQUIRED, "lease-duration > renew"),
    (["--kafka-security-protocol", "SASL_SSL"], REQUIRED, "SASL needs"),
    (["--publish-timeout", "0"], REQUIRED,
     r"^KAFKA_PUBLISH_TIMEOUT_SECONDS invalid: 0 must be > 0 \(--publish-timeout or env "),
    (["--vault", "Personal"], REQUIRED,
     r"^VAULT_NAME invalid: 'Personal' must match \^\[a-z\]\[a-z0-9-\]\*\$ \(--vault or env "),
    ([], {**REQUIRED, "VAULT_NAME": "2work"}, "VAULT_NAME invalid: '2work'"),
    (["--liveness-window", "0"], REQUIRED, "LIVENESS_WINDOW_SECONDS invalid: 0 must be > 0"),
    (["--consumer-expiry", "-1"], REQUIRED, "CONSUMER_EXPIRY_SECONDS invalid: -1 must be > 0"),
    (["--confirm-window", "600"], REQUIRED,
     r"CONFIRM_WINDOW_SECONDS invalid: 600 must be longer than --consumer-expiry \(3600\)"),
    (["--consumer-expiry", "300", "--confirm-window", "300"], REQUIRED,
     "must be longer than --consumer-expiry"),
])
def test_invalid_settings_are_refused_with_a_clear_message(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_settings(argv, env)


def test_leader_election_can_be_disabled_from_the_environment() -> None:
    assert not parse_settings([], {**REQUIRED, "LEADER_ELECTION": "false"}).leader.enabled
    with pytest.raises(SettingsError, match="LEADER_ELECTION invalid: 'perhaps' is not a bool"):
        parse_settings([], {**REQUIRED, "LEADER_ELECTION": "perhaps"})


def test_a_secured_broker_is_configured_by_one_protocol_name_and_a_password_from_the_env(
    tmp_path: Path,
) -> None:
    ca = write_pem_files(tmp_path).cert
    parsed = parse_settings(
        ["--kafka-security-protocol", "SASL_SSL", "--kafka-sasl-mechanism", "SCRAM-SHA-512",
         "--kafka-sasl-username", "zombiewatch", "--kafka-ca-file", str(ca)],
        {**REQUIRED, "KAFKA_SASL_PASSWORD": "pw-from-a-secret"})
    adapter = kafka_client_settings(parsed)

    assert parsed.kafka.security_protocol is SecurityProtocol.SASL_SSL
    assert parsed.kafka.sasl_mechanism is SaslMechanism.SCRAM_SHA_512
    assert adapter.security_protocol is SecurityProtocol.SASL_SSL
    assert adapter.tls is not None
    assert adapter.tls.ca_file == str(ca)
    assert adapter.sasl is not None
    assert (adapter.sasl.username, adapter.sasl.password) == ("zombiewatch", "pw-from-a-secret")
    assert "pw-from-a-secret" not in repr(parsed)
    assert "pw-from-a-secret" not in repr(adapter)


def test_an_unknown_security_protocol_in_the_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="KAFKA_SECURITY_PROTOCOL invalid: 'TLS' is not one"):
        parse_settings([], {**REQUIRED, "KAFKA_SECURITY_PROTOCOL": "TLS"})


def test_the_ledger_is_read_as_the_real_controller_reads_by_default() -> None:
    assert parse_settings([], REQUIRED).kafka.consumer_isolation is (
        ConsumerIsolation.READ_UNCOMMITTED)
    committed = parse_settings([], {**REQUIRED, "CONSUMER_ISOLATION": "read_committed"})
    assert committed.kafka.consumer_isolation is ConsumerIsolation.READ_COMMITTED
    flag = parse_settings(["--consumer-isolation", "read_uncommitted"],
                          {**REQUIRED, "CONSUMER_ISOLATION": "read_committed"})
    assert flag.kafka.consumer_isolation is ConsumerIsolation.READ_UNCOMMITTED
    with pytest.raises(SettingsError, match="CONSUMER_ISOLATION invalid"):
        parse_settings([], {**REQUIRED, "CONSUMER_ISOLATION": "serializable"})


def test_the_task_feed_is_on_by_default_and_can_be_turned_off() -> None:
    assert parse_settings([], REQUIRED).kafka.task_events
    assert not parse_settings(["--no-task-events"], REQUIRED).kafka.task_events
    assert not parse_settings([], {**REQUIRED, "TASK_EVENTS": "false"}).kafka.task_events


def test_the_vault_is_optional_and_validated_once() -> None:
    assert parse_settings([], REQUIRED).vault is None
    assert parse_settings([], {**REQUIRED, "VAULT_NAME": ""}).vault is None
    assert parse_settings([], {**REQUIRED, "VAULT_NAME": "personal"}).vault == "personal"
    assert parse_settings(["--vault", "work-2"], {**REQUIRED, "VAULT_NAME": "x"}).vault == "work-2"


def test_a_bad_vault_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from zombiewatch.app.cli import EXIT_USAGE, main  # noqa: PLC0415 - the console script

    assert main(["run", "--namespace", "a", "--kafka-brokers", "k:1", "--vault", "Bad"]) == (
        EXIT_USAGE)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("zombiewatch run: VAULT_NAME invalid: 'Bad'")


def test_the_repair_schedule_follows_the_consumer_expiry() -> None:
    today = parse_settings([], REQUIRED)
    assert (today.consumer_expiry_seconds, today.confirm_window_seconds) == (3600.0, None)
    assert today.repair_policy.window.total_seconds() == 3900
    v03 = parse_settings(["--consumer-expiry", "300"], REQUIRED).repair_policy
    assert (v03.expiry.total_seconds(), v03.window.total_seconds()) == (300, 600)
    chosen = parse_settings([], {**REQUIRED, "CONSUMER_EXPIRY_SECONDS": "300",
                                 "CONFIRM_WINDOW_SECONDS": "420"}).repair_policy
    assert (chosen.margin.total_seconds(), chosen.window.total_seconds()) == (120, 420)


def test_the_liveness_window_is_a_setting_with_five_minutes_by_default() -> None:
    assert parse_settings([], REQUIRED).liveness_window_seconds == 300.0
    assert parse_settings(["--liveness-window", "90"], REQUIRED).liveness_window_seconds == 90.0


def test_an_embedding_host_names_its_vault_and_a_bad_one_is_refused() -> None:
    from zombiewatch.app.settings import Settings  # noqa: PLC0415

    settings = Settings.for_embedding(namespace="a", kafka_brokers="k:1", vault="personal",
                                      consumer_expiry_seconds=300)
    assert (settings.vault, settings.repair_policy.window.total_seconds()) == ("personal", 600)
    with pytest.raises(SettingsError, match="VAULT_NAME invalid"):
        Settings.for_embedding(namespace="a", kafka_brokers="k:1", vault="Personal")

"""One validation path: every setting refused the same way as a flag, a variable, a library value.

A row names a setting, the bad text a flag or a variable carries, the bad value a library
host passes (None where that way cannot carry it: a boolean flag takes no value), and the
message. Flag and variable give the very same line; ``zombiewatch run`` prints it as one
line and exits 2. The library raises :class:`SettingsError` with the same text.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.unit.worlds.pem import PemFiles, write_pem_files
from zombiewatch.adapters.kafka.settings import SaslMechanism, SecurityProtocol
from zombiewatch.app import validation
from zombiewatch.app.cli import EXIT_USAGE, main
from zombiewatch.app.settings import (
    KafkaOptions,
    LeaderOptions,
    Settings,
    SettingsError,
    parse_settings,
)

REQUIRED = {"NAMESPACE": "agents", "KAFKA_BROKERS": "kafka:9092"}
SSL = {"KAFKA_SECURITY_PROTOCOL": "SSL"}


@dataclass(frozen=True)
class Row:
    env: str
    flag: str | None
    text: str
    library: tuple[str, str, object] | None
    """(``settings``/``kafka``/``leader``, field, value) or None."""
    message: str
    """The start of the message (a prefix, checked literally)."""
    context: Mapping[str, str] = field(default_factory=dict)
    """Other variables the row needs (e.g. TLS on for the file rows)."""

    def __str__(self) -> str:
        return f"{self.env}={self.text}"


def rows(pem: PemFiles) -> list[Row]:
    cert, junk = str(pem.cert), str(pem.junk)
    return [
        Row("NAMESPACE", "--namespace", "Bad_NS", ("settings", "namespace", "Bad_NS"),
            "NAMESPACE invalid: 'Bad_NS' is not a DNS-1123 label"),
        Row("KAFKA_BROKERS", "--kafka-brokers", ",,,", ("kafka", "brokers", ",,,"),
            "KAFKA_BROKERS invalid: ',,,' names no broker"),
        Row("KAFKA_BROKERS", "--kafka-brokers", "k:9092,k2", ("kafka", "brokers", "k:9092,k2"),
            "KAFKA_BROKERS invalid: 'k:9092,k2' has 'k2', not host:port"),
        Row("KAFKA_BROKERS", "--kafka-brokers", "k:99999", ("kafka", "brokers", "k:99999"),
            "KAFKA_BROKERS invalid: 'k:99999' has 'k:99999', not host:port with a port in"),
        Row("TOPIC_PREFIX", "--topic-prefix", "a b", ("kafka", "topic_prefix", "a b"),
            "TOPIC_PREFIX invalid: 'a b' is not a legal Kafka topic prefix"),
        Row("BRANCH", "--branch", "feat/x", ("kafka", "branch", "feat/x"),
            "BRANCH invalid: 'feat/x' is not a legal Kafka topic prefix"),
        Row("KAFKA_PUBLISH_TIMEOUT_SECONDS", "--publish-timeout", "abc",
            ("kafka", "publish_timeout_seconds", "abc"),
            "KAFKA_PUBLISH_TIMEOUT_SECONDS invalid: 'abc' is not a number "
            "(--publish-timeout or env KAFKA_PUBLISH_TIMEOUT_SECONDS)"),
        Row("KAFKA_PUBLISH_TIMEOUT_SECONDS", "--publish-timeout", "0",
            ("kafka", "publish_timeout_seconds", 0), "KAFKA_PUBLISH_TIMEOUT_SECONDS invalid: 0 "
            "must be > 0"),
        Row("KAFKA_SECURITY_PROTOCOL", "--kafka-security-protocol", "TLS",
            ("kafka", "security_protocol", "TLS"),
            "KAFKA_SECURITY_PROTOCOL invalid: 'TLS' is not one of PLAINTEXT, SSL"),
        Row("KAFKA_CA_FILE", "--kafka-ca-file", "/nope", ("kafka", "ca_file", Path("/nope")),
            "KAFKA_CA_FILE invalid: '/nope' cannot be read: No such file", SSL),
        Row("KAFKA_CA_FILE", "--kafka-ca-file", junk, ("kafka", "ca_file", Path(junk)),
            f"KAFKA_CA_FILE invalid: {junk!r} cannot be loaded as a CA bundle", SSL),
        Row("KAFKA_CERT_FILE", "--kafka-cert-file", "/nope", ("kafka", "cert_file", Path("/nope")),
            "KAFKA_CERT_FILE invalid: '/nope' cannot be read", SSL),
        Row("KAFKA_CERT_FILE", "--kafka-cert-file", junk, ("kafka", "cert_file", Path(junk)),
            f"KAFKA_CERT_FILE invalid: {junk!r} cannot be loaded as a client certificate", SSL),
        Row("KAFKA_KEY_FILE", "--kafka-key-file", "/nope", ("kafka", "key_file", Path("/nope")),
            "KAFKA_KEY_FILE invalid: '/nope' cannot be read", {**SSL, "KAFKA_CERT_FILE": cert}),
        Row("KAFKA_KEY_FILE", "--kafka-key-file", str(pem.key), ("kafka", "key_file", pem.key),
            f"KAFKA_KEY_FILE invalid: {str(pem.key)!r} needs a client certificate", SSL),
        Row("KAFKA_SASL_MECHANISM", "--kafka-sasl-mechanism", "MD5",
            ("kafka", "sasl_mechanism", "MD5"),
            "KAFKA_SASL_MECHANISM invalid: 'MD5' is not one of PLAIN"),
        Row("CONSUMER_ISOLATION", "--consumer-isolation", "serializable",
            ("kafka", "consumer_isolation", "serializable"),
            "CONSUMER_ISOLATION invalid: 'serializable' is not one of read_uncommitted"),
        Row("TASK_EVENTS", None, "maybe", None,
            "TASK_EVENTS invalid: 'maybe' is not a boolean"),
        Row("LEADER_ELECTION", None, "maybe", None,
            "LEADER_ELECTION invalid: 'maybe' is not a boolean"),
        Row("LEASE_DURATION_SECONDS", "--lease-duration", "abc",
            ("leader", "lease_duration_seconds", "abc"),
            "LEASE_DURATION_SECONDS invalid: 'abc' is not a number"),
        Row("RENEW_DEADLINE_SECONDS", "--renew-deadline", "-1",
            ("leader", "renew_deadline_seconds", -1),
            "RENEW_DEADLINE_SECONDS invalid: -1 must be > 0"),
        Row("RETRY_PERIOD_SECONDS", "--retry-period", "inf",
            ("leader", "retry_period_seconds", float("inf")),
            "RETRY_PERIOD_SECONDS invalid: inf is not a finite number"),
        Row("LISTEN", "--listen", "localhost:http", None,
            "LISTEN invalid: 'localhost:http' is not HOST:PORT"),
        Row("LOG_FORMAT", "--log-format", "xml", ("settings", "log_format", "xml"),
            "LOG_FORMAT invalid: 'xml' is not one of text, json"),
        Row("LOG_LEVEL", "--log-level", "loud", ("settings", "log_level", "loud"),
            "LOG_LEVEL invalid: 'loud' is not one of DEBUG"),
        Row("GRACE_SECONDS", "--grace-seconds", "-1", ("settings", "grace_seconds", -1),
            "GRACE_SECONDS invalid: -1 must be >= 0"),
        Row("REAP", None, "maybe", None, "REAP invalid: 'maybe' is not a boolean"),
        Row("SHADOW", None, "maybe", None, "SHADOW invalid: 'maybe' is not a boolean"),
        Row("RELIST_SECONDS", "--relist-seconds", "nan",
            ("settings", "relist_seconds", float("nan")),
            "RELIST_SECONDS invalid: nan is not a finite number"),
        Row("INIT_BOUND_SECONDS", "--init-bound-seconds", "0",
            ("settings", "init_bound_seconds", 0), "INIT_BOUND_SECONDS invalid: 0 must be > 0"),
        Row("LIVENESS_WINDOW_SECONDS", "--liveness-window", "0",
            ("settings", "liveness_window_seconds", 0),
            "LIVENESS_WINDOW_SECONDS invalid: 0 must be > 0"),
        Row("CONSUMER_EXPIRY_SECONDS", "--consumer-expiry", "abc",
            ("settings", "consumer_expiry_seconds", "abc"),
            "CONSUMER_EXPIRY_SECONDS invalid: 'abc' is not a number"),
        Row("CONFIRM_WINDOW_SECONDS", "--confirm-window", "60",
            ("settings", "confirm_window_seconds", 60),
            "CONFIRM_WINDOW_SECONDS invalid: 60 must be longer than --consumer-expiry (3600)"),
        Row("VAULT_NAME", "--vault", "Bad", ("settings", "vault", "Bad"),
            "VAULT_NAME invalid: 'Bad' must match"),
        Row("STORM_GUARD", None, "maybe", None, "STORM_GUARD invalid: 'maybe' is not a boolean"),
        Row("STORM_THRESHOLD", "--storm-threshold", "1", ("settings", "storm_threshold", 1),
            "STORM_THRESHOLD invalid: 1 must be >= 2 (--storm-threshold or env "
            "STORM_THRESHOLD)"),
        Row("STORM_THRESHOLD", "--storm-threshold", "2.5",
            ("settings", "storm_threshold", 2.5),
            "STORM_THRESHOLD invalid: 2.5 is not a whole number"),
        Row("STORM_GATHER_SECONDS", "--storm-gather-seconds", "-1",
            ("settings", "storm_gather_seconds", -1),
            "STORM_GATHER_SECONDS invalid: -1 must be >= 0"),
        Row("STORM_GATHER_SECONDS", "--storm-gather-seconds", "700",
            ("settings", "storm_gather_seconds", 700),
            "STORM_GATHER_SECONDS invalid: 700 must not exceed the counting window "
            "--storm-window-seconds (600)"),
        Row("STORM_WINDOW_SECONDS", "--storm-window-seconds", "0",
            ("settings", "storm_window_seconds", 0),
            "STORM_WINDOW_SECONDS invalid: 0 must be > 0"),
        Row("STORM_HOLD_SECONDS", "--storm-hold-seconds", "abc",
            ("settings", "storm_hold_seconds", "abc"),
            "STORM_HOLD_SECONDS invalid: 'abc' is not a number"),
        Row("STORM_HOLD_SECONDS", "--storm-hold-seconds", "20",
            ("settings", "storm_hold_seconds", 20),
            "STORM_GATHER_SECONDS invalid: 30 must not exceed the bound --storm-hold-seconds "
            "(20)"),
    ]


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> PemFiles:
    return write_pem_files(tmp_path_factory.mktemp("pem"))


def _message(call: object) -> str:
    assert callable(call)
    with pytest.raises(SettingsError) as caught:
        call()
    return str(caught.value)


def _library(row: Row) -> Settings:
    part, name, value = row.library or ("", "", None)
    kafka: dict[str, object] = {"brokers": "kafka:9092"}
    if "KAFKA_SECURITY_PROTOCOL" in row.context:
        kafka["security_protocol"] = row.context["KAFKA_SECURITY_PROTOCOL"]
    if "KAFKA_CERT_FILE" in row.context:
        kafka["cert_file"] = Path(row.context["KAFKA_CERT_FILE"])
    leader: dict[str, object] = {}
    settings: dict[str, object] = {"namespace": "agents", "kubeconfig": None}
    {"kafka": kafka, "leader": leader, "settings": settings}[part][name] = value
    return Settings(kafka=KafkaOptions(**kafka),  # type: ignore[arg-type]
                    leader=LeaderOptions(**leader), **settings)  # type: ignore[arg-type]


def test_every_setting_is_refused_alike_as_flag_variable_and_library_value(
    pem: PemFiles, capsys: pytest.CaptureFixture[str],
) -> None:
    checked = []
    for row in rows(pem):
        env = {**REQUIRED, **row.context}
        by_env = _message(lambda: parse_settings([], {**env, row.env: row.text}))  # noqa: B023
        assert by_env.startswith(row.message), f"{row}: {by_env}"
        if row.flag is not None:
            argv = [row.flag, row.text]
            by_flag = _message(lambda: parse_settings(argv, env))  # noqa: B023
            assert by_flag == by_env, row
        if row.library is not None:
            by_library = _message(lambda: _library(row))  # noqa: B023
            assert by_library == by_env, row
        capsys.readouterr()
        checked.append(row.env)
    every = {value.env for value in vars(validation).values()
             if isinstance(value, validation.Setting)}
    assert every - set(checked) == {"KUBECONFIG"}  # a file the cluster client reads


def test_the_command_line_prints_one_line_and_exits_2_for_each_bad_variable(
    pem: PemFiles, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for row in rows(pem):
        for name in list(os.environ):
            if name in {*REQUIRED, *row.context, row.env} or name.startswith("KAFKA_"):
                monkeypatch.delenv(name)
        for name, value in {**REQUIRED, **row.context, row.env: row.text}.items():
            monkeypatch.setenv(name, value)
        assert main(["run"]) == EXIT_USAGE, row
        err = capsys.readouterr().err
        assert err.startswith(f"zombiewatch run: {row.message}"), err
        assert err.count("\n") == 1, err
        monkeypatch.undo()


def test_log_format_and_level_are_taken_in_any_case() -> None:
    settings = parse_settings([], {**REQUIRED, "LOG_FORMAT": "JSON", "LOG_LEVEL": "debug"})
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    library = Settings.for_embedding(namespace="agents", kafka_brokers="k:9092")
    assert library.log_format == "text"


def test_good_tls_files_are_accepted(pem: PemFiles) -> None:
    settings = parse_settings(
        ["--kafka-security-protocol", "SSL", "--kafka-ca-file", str(pem.cert),
         "--kafka-cert-file", str(pem.cert), "--kafka-key-file", str(pem.key)], REQUIRED)
    assert settings.kafka.key_file == pem.key


def test_an_embedding_host_takes_tls_and_sasl_with_the_same_checks(pem: PemFiles) -> None:
    settings = Settings.for_embedding(
        namespace="agents", kafka_brokers="k:9093",
        kafka_security_protocol=SecurityProtocol.SASL_SSL, kafka_ca_file=pem.cert,
        kafka_sasl_mechanism=SaslMechanism.SCRAM_SHA_512, kafka_sasl_username="zombiewatch",
        kafka_sasl_password="secret")
    assert (settings.kafka.security_protocol, settings.kafka.ca_file,
            settings.kafka.sasl_username) == (SecurityProtocol.SASL_SSL, pem.cert, "zombiewatch")
    with pytest.raises(SettingsError, match=r"^KAFKA_CA_FILE invalid: '/nope' cannot be read"):
        Settings.for_embedding(namespace="agents", kafka_brokers="k:9093",
                               kafka_security_protocol=SecurityProtocol.SSL,
                               kafka_ca_file=Path("/nope"))


def test_an_embedding_host_gets_the_same_checks() -> None:
    with pytest.raises(SettingsError, match=r"^NAMESPACE invalid: 'Bad_NS'"):
        Settings.for_embedding(namespace="Bad_NS", kafka_brokers="k:9092")
    with pytest.raises(SettingsError, match=r"^KAFKA_BROKERS invalid: ',,,'"):
        Settings.for_embedding(namespace="agents", kafka_brokers=",,,")
    with pytest.raises(SettingsError, match=r"^TOPIC_PREFIX invalid: 'a b'"):
        Settings.for_embedding(namespace="agents", kafka_brokers="k:9092", topic_prefix="a b")


# The measured problems of issue 21, as an operator meets them: the console script in a
# child process, so a traceback or a daemon that starts anyway is seen as it is.
MEASURED = [
    ({"KAFKA_PUBLISH_TIMEOUT_SECONDS": "abc"}, [],
     "KAFKA_PUBLISH_TIMEOUT_SECONDS invalid: 'abc' is not a number"),
    ({"LEASE_DURATION_SECONDS": "abc"}, [], "LEASE_DURATION_SECONDS invalid: 'abc'"),
    ({}, ["--kafka-security-protocol", "SSL", "--kafka-ca-file", "/nope"],
     "KAFKA_CA_FILE invalid: '/nope' cannot be read: No such file or directory "
     "(--kafka-ca-file or env KAFKA_CA_FILE)"),
    ({"LOG_FORMAT": "xml"}, [], "LOG_FORMAT invalid: 'xml'"),
    ({}, ["--namespace", "Bad_NS"], "NAMESPACE invalid: 'Bad_NS'"),
    ({}, ["--kafka-brokers", ",,,"], "KAFKA_BROKERS invalid: ',,,'"),
    ({}, ["--topic-prefix", "a b"], "TOPIC_PREFIX invalid: 'a b'"),
]


@pytest.mark.parametrize(("env", "argv", "message"), MEASURED, ids=lambda x: str(x)[:40])
def test_a_measured_bad_setting_stops_the_daemon_with_one_line_and_exit_2(
    env: dict[str, str], argv: list[str], message: str,
) -> None:
    clean = {k: v for k, v in os.environ.items()
             if k not in REQUIRED and not k.startswith(("KAFKA_", "LEASE_", "LOG_"))}
    result = subprocess.run(
        [sys.executable, "-m", "zombiewatch.app.cli", "run", "--listen", "127.0.0.1:0",
         "--no-leader-election", *argv],
        env={**clean, **REQUIRED, **env}, capture_output=True, text=True, timeout=30,
        check=False)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.startswith(f"zombiewatch run: {message}"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_scan_refuses_a_bad_variable_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TASK_EVENTS", "maybe")
    monkeypatch.setenv("KAFKA_BROKERS", "k:9092")
    assert main(["scan", "--namespace", "agents"]) == EXIT_USAGE
    assert capsys.readouterr().err == (
        "zombiewatch scan: TASK_EVENTS invalid: 'maybe' is not a boolean (true or false) "
        "(--task-events or env TASK_EVENTS)\n")
    assert main(["scan", "--namespace", "Bad_NS"]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("zombiewatch scan: NAMESPACE invalid: 'Bad_NS'")

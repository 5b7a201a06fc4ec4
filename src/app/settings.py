"""Daemon settings from flags and environment (SPEC §10).

Every flag has an environment variable; a flag wins over its variable. Values
are validated here, once, so the rest of the app can trust them. Secrets (the
SASL password) are kept out of ``repr`` so they never reach a log line.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from zombiewatch.adapters.kafka.settings import (
    KafkaClientSettings,
    SaslMechanism,
    SaslSettings,
    SecurityProtocol,
    TlsSettings,
    transactional_id_for,
)
from zombiewatch.adapters.kafka.topics import prefix_for_branch, request_topic
from zombiewatch.adapters.kubernetes.watching import DEFAULT_RELIST_PERIOD
from zombiewatch.domain.config import VAULT_NAME_PATTERN, valid_vault_name
from zombiewatch.domain.confirmation import (
    DEFAULT_CONFIRM_MARGIN,
    DEFAULT_CONSUMER_EXPIRY,
    RepairPolicy,
)
from zombiewatch.domain.gate import DEFAULT_LIVENESS_WINDOW
from zombiewatch.domain.ledger import ConsumerIsolation


class SettingsError(ValueError):
    """A flag or environment variable has a value the daemon cannot run with."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaOptions:
    """How to reach the broker and what to publish to."""

    brokers: str
    """Comma-separated bootstrap servers."""
    branch: str | None = None
    """Legacy topic prefix setting: dev -> develop, prod -> master, else verbatim."""
    topic_prefix: str | None = None
    """Explicit topic prefix; wins over ``branch``; empty means unprefixed."""
    transactional_id: str | None = None
    """Stable per namespace so a second instance fences the first; default derived from it."""
    publish_timeout_seconds: float = 10.0
    """Upper bound for one publish up to the commit (the commit has its own, longer
    bound): never hang on a dead broker."""
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    consumer_isolation: ConsumerIsolation = ConsumerIsolation.READ_UNCOMMITTED
    """How the controller reads the request topic; the ledger is read back the same way."""
    task_events: bool = True
    """Follow the controller's task event topic (``<prefix>-agent-task-v1-event``)."""

    @property
    def prefix(self) -> str:
        """The topics' prefix: ``topic_prefix``, else the legacy mapping of ``branch``."""
        if self.topic_prefix is not None:
            return self.topic_prefix
        return prefix_for_branch(self.branch or "")


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderOptions:
    """Leader election on a Lease; client-go's defaults."""

    enabled: bool = True
    lease_name: str = "zombiewatch"
    identity: str = ""
    lease_duration_seconds: float = 15.0
    """How long followers wait after the last renewal before taking over."""
    renew_deadline_seconds: float = 10.0
    """The leader steps down when it could not renew for this long."""
    retry_period_seconds: float = 2.0
    """How often candidates try to acquire and the leader renews."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything ``zombiewatch run`` needs, validated."""

    namespace: str
    kubeconfig: Path | None
    """None: in-cluster configuration."""
    kafka: KafkaOptions
    leader: LeaderOptions
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    log_format: str = "text"
    log_level: str = "INFO"
    grace_seconds: float = 120.0
    """Grace window of the two time-dependent pod rows (SPEC §5)."""
    relist_seconds: float = DEFAULT_RELIST_PERIOD
    """How often the informers list again to repair anything a watch might have missed."""
    serve_http: bool = True
    """Serve /healthz, /readyz, /metrics on ``listen_host:listen_port`` (port 0: any free)."""
    reap: bool = True
    """Shorten a reported Job's deadline so its pods stop (SPEC §14)."""
    vault: str | None = None
    """The executor's ``VAULT_NAME``: an assignee resolves to its Config
    ``{assignee}-{vault}`` first, then the plain one (SPEC §8); None: plain only."""
    liveness_window_seconds: float = DEFAULT_LIVENESS_WINDOW.total_seconds()
    """How recent a heartbeat keeps a Job past its deadline alive (SPEC §5)."""
    consumer_expiry_seconds: float = DEFAULT_CONSUMER_EXPIRY.total_seconds()
    """The controller's expiry of a command (60 min today, 5 min for v0.3): no failure
    is published again before its previous send is past it (SPEC §13)."""
    confirm_window_seconds: float | None = None
    """A published failure the task feed has not confirmed this long after its last
    send is published again; longer than the expiry; None: expiry + 5 min."""
    shadow: bool = False
    """Shadow mode: judge as usual, publish, annotate and reap nothing, take no Lease, and
    compare with the executor's failures on the request topic (app/shadow.py)."""

    @property
    def repair_policy(self) -> RepairPolicy:
        """The confirmation and re-publish schedule these settings give (SPEC §13)."""
        return RepairPolicy.for_consumer(
            expiry=timedelta(seconds=self.consumer_expiry_seconds),
            window=None if self.confirm_window_seconds is None
            else timedelta(seconds=self.confirm_window_seconds))

    @classmethod
    def for_embedding(
        cls,
        *,
        namespace: str,
        kafka_brokers: str,
        kubeconfig: Path | None = None,
        branch: str | None = None,
        topic_prefix: str | None = None,
        transactional_id: str | None = None,
        grace_seconds: float = 120.0,
        consumer_isolation: ConsumerIsolation = ConsumerIsolation.READ_UNCOMMITTED,
        task_events: bool = True,
        vault: str | None = None,
        consumer_expiry_seconds: float = DEFAULT_CONSUMER_EXPIRY.total_seconds(),
        liveness_window_seconds: float = DEFAULT_LIVENESS_WINDOW.total_seconds(),
        shadow: bool = False,
    ) -> Settings:
        """Settings for a host that embeds zombiewatch: one instance, no HTTP server.

        The host is the only publisher for its namespace, so leader election is
        off; it can serve ``ZombieWatch.metrics_text()`` on its own endpoint.
        A ``vault`` that is not a vault name raises :class:`SettingsError`.
        """
        if vault is not None and not valid_vault_name(vault):
            raise SettingsError(_vault_message(vault))
        return cls(
            namespace=namespace,
            kubeconfig=kubeconfig,
            kafka=KafkaOptions(brokers=kafka_brokers, branch=branch, topic_prefix=topic_prefix,
                               transactional_id=transactional_id,
                               consumer_isolation=consumer_isolation, task_events=task_events),
            leader=LeaderOptions(enabled=False),
            grace_seconds=grace_seconds,
            serve_http=False,
            vault=vault,
            consumer_expiry_seconds=consumer_expiry_seconds,
            liveness_window_seconds=liveness_window_seconds,
            shadow=shadow,
        )


def _vault_message(vault: str) -> str:
    return (f"VAULT_NAME invalid: {vault!r} must match {VAULT_NAME_PATTERN} "
            "(--vault or env VAULT_NAME)")


def _env_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"expected a boolean, got {value!r}")


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"LISTEN invalid: expected HOST:PORT, got {value!r}")
    return (host or "0.0.0.0"), int(port)


_E = TypeVar("_E", bound=StrEnum)


def _enum(kind: type[_E]) -> Callable[[str], _E]:
    """An argparse ``type`` for a StrEnum; an unknown value is reported by ``choices``."""

    def parse(value: str) -> _E:
        try:
            return kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {value!r} (choose from {', '.join(kind)})") from None

    return parse


def add_kafka_topic_arguments(group: argparse._ActionsContainer,
                              environ: Mapping[str, str], *, brokers_help: str) -> None:
    """``--kafka-brokers``, ``--branch``, ``--topic-prefix``: where the topics are (``run``
    and ``scan`` take the same flags and variables)."""
    group.add_argument("--kafka-brokers", default=environ.get("KAFKA_BROKERS"),
                       help=brokers_help)
    group.add_argument("--branch", default=environ.get("BRANCH"),
                       help="legacy topic prefix: dev->develop, prod->master [env BRANCH]")
    group.add_argument("--topic-prefix", default=environ.get("TOPIC_PREFIX"),
                       help="explicit topic prefix, wins over --branch; '' = unprefixed "
                       "[env TOPIC_PREFIX]")


def add_task_events_argument(group: argparse._ActionsContainer,
                             environ: Mapping[str, str], *, verb: str) -> None:
    """``--task-events`` / ``--no-task-events`` [env TASK_EVENTS]; ``verb`` says what the
    command does with the topic (``run`` follows it, ``scan`` reads it once)."""
    group.add_argument("--task-events", action=argparse.BooleanOptionalAction,
                       default=_env_bool(environ.get("TASK_EVENTS", "true") or "true"),
                       help=f"{verb} the controller's task event topic "
                       "<prefix>-agent-task-v1-event [env TASK_EVENTS; default on]")


def add_kafka_security_arguments(group: argparse._ActionsContainer,
                                 environ: Mapping[str, str]) -> None:
    """TLS and SASL to the brokers (the password only from env KAFKA_SASL_PASSWORD)."""
    group.add_argument("--kafka-security-protocol", choices=list(SecurityProtocol),
                       type=_enum(SecurityProtocol),
                       default=environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
                       help="[env KAFKA_SECURITY_PROTOCOL]")
    group.add_argument("--kafka-ca-file", default=environ.get("KAFKA_CA_FILE"),
                       help="CA bundle for TLS [env KAFKA_CA_FILE]")
    group.add_argument("--kafka-cert-file", default=environ.get("KAFKA_CERT_FILE"),
                       help="client certificate for mutual TLS [env KAFKA_CERT_FILE]")
    group.add_argument("--kafka-key-file", default=environ.get("KAFKA_KEY_FILE"),
                       help="client key for mutual TLS [env KAFKA_KEY_FILE]")
    group.add_argument("--kafka-sasl-mechanism", choices=list(SaslMechanism),
                       type=_enum(SaslMechanism),
                       default=environ.get("KAFKA_SASL_MECHANISM"),
                       help="[env KAFKA_SASL_MECHANISM]")
    group.add_argument("--kafka-sasl-username", default=environ.get("KAFKA_SASL_USERNAME"),
                       help="[env KAFKA_SASL_USERNAME; the password only from env "
                       "KAFKA_SASL_PASSWORD]")


def kafka_connection(args: argparse.Namespace, environ: Mapping[str, str]) -> KafkaOptions:
    """The parsed topic, feed and security flags as :class:`KafkaOptions`, validated.

    The producer's own options keep their defaults (``run`` sets them with
    :func:`dataclasses.replace`); ``brokers`` is ``""`` when none were given.
    """
    sasl_password = environ.get("KAFKA_SASL_PASSWORD")
    if args.kafka_security_protocol.uses_sasl and not (
        args.kafka_sasl_mechanism and args.kafka_sasl_username and sasl_password
    ):
        raise SettingsError(
            "SASL needs --kafka-sasl-mechanism, --kafka-sasl-username and env KAFKA_SASL_PASSWORD"
        )
    return KafkaOptions(
        brokers=args.kafka_brokers or "",
        branch=args.branch,
        topic_prefix=args.topic_prefix,
        security_protocol=args.kafka_security_protocol,
        ca_file=Path(args.kafka_ca_file) if args.kafka_ca_file else None,
        cert_file=Path(args.kafka_cert_file) if args.kafka_cert_file else None,
        key_file=Path(args.kafka_key_file) if args.kafka_key_file else None,
        sasl_mechanism=args.kafka_sasl_mechanism,
        sasl_username=args.kafka_sasl_username,
        sasl_password=sasl_password,
        task_events=args.task_events,
    )


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """The ``run`` flags; each default comes from its environment variable."""

    def env(name: str, default: str | None = None) -> str | None:
        return environ.get(name, default)

    parser = argparse.ArgumentParser(
        prog="zombiewatch run",
        description="Watch a namespace for agent Jobs that died without reporting and "
        "publish their failure commands on Kafka.",
    )
    k8s = parser.add_argument_group("Kubernetes")
    k8s.add_argument("--kubeconfig", default=env("KUBECONFIG"),
                     help="kubeconfig file [env KUBECONFIG; default: in-cluster config]")
    k8s.add_argument("--namespace", default=env("NAMESPACE"),
                     help="namespace to watch [env NAMESPACE; required]")
    add_vault_argument(k8s, environ)
    kafka = parser.add_argument_group("Kafka")
    add_kafka_topic_arguments(kafka, environ,
                              brokers_help="bootstrap servers, comma separated "
                              "[env KAFKA_BROKERS; required]")
    kafka.add_argument("--transactional-id", default=env("KAFKA_TRANSACTIONAL_ID"),
                       help="producer transactional id [env KAFKA_TRANSACTIONAL_ID; "
                       "default zombiewatch-<namespace>]")
    kafka.add_argument("--publish-timeout", type=float,
                       default=float(env("KAFKA_PUBLISH_TIMEOUT_SECONDS", "10") or "10"),
                       help="seconds one publish may take [env KAFKA_PUBLISH_TIMEOUT_SECONDS]")
    kafka.add_argument("--consumer-isolation", choices=[i.value for i in ConsumerIsolation],
                       default=env("CONSUMER_ISOLATION", ConsumerIsolation.READ_UNCOMMITTED),
                       help="how the controller reads the request topic; the topic is read "
                       "back the same way to decide what is already delivered (the real "
                       "controller: read_uncommitted) [env CONSUMER_ISOLATION]")
    add_task_events_argument(kafka, environ, verb="follow")
    add_kafka_security_arguments(kafka, environ)
    leader = parser.add_argument_group("Leader election")
    leader.add_argument("--leader-election", action=argparse.BooleanOptionalAction,
                        default=_env_bool(env("LEADER_ELECTION", "true") or "true"),
                        help="only the Lease holder publishes [env LEADER_ELECTION; default on]")
    leader.add_argument("--lease-name", default=env("LEASE_NAME", "zombiewatch"),
                        help="[env LEASE_NAME]")
    leader.add_argument("--identity", default=env("POD_NAME") or socket.gethostname(),
                        help="holder identity [env POD_NAME; default hostname]")
    leader.add_argument("--lease-duration", type=float,
                        default=float(env("LEASE_DURATION_SECONDS", "15") or "15"),
                        help="seconds followers wait after the last renewal "
                        "[env LEASE_DURATION_SECONDS]")
    leader.add_argument("--renew-deadline", type=float,
                        default=float(env("RENEW_DEADLINE_SECONDS", "10") or "10"),
                        help="seconds the leader may fail to renew before it steps down "
                        "[env RENEW_DEADLINE_SECONDS]")
    leader.add_argument("--retry-period", type=float,
                        default=float(env("RETRY_PERIOD_SECONDS", "2") or "2"),
                        help="seconds between acquire/renew attempts [env RETRY_PERIOD_SECONDS]")
    ops = parser.add_argument_group("Operations")
    ops.add_argument("--listen", default=env("LISTEN", "127.0.0.1:8080"),
                     help="HOST:PORT for /healthz, /readyz, /metrics [env LISTEN]")
    ops.add_argument("--log-format", choices=("text", "json"), default=env("LOG_FORMAT", "text"),
                     help="key=value text or JSON lines [env LOG_FORMAT]")
    ops.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"), help="[env LOG_LEVEL]")
    ops.add_argument("--grace-seconds", type=float,
                     default=float(env("GRACE_SECONDS", "120") or "120"),
                     help="grace window for unschedulable/config-error pods [env GRACE_SECONDS]")
    ops.add_argument("--reap", action=argparse.BooleanOptionalAction,
                     default=_env_bool(env("REAP", "true") or "true"),
                     help="after reporting a Job whose pods may still run, shorten its "
                     "activeDeadlineSeconds so Kubernetes stops them [env REAP; default on]")
    ops.add_argument("--relist-seconds", type=float,
                     default=float(env("RELIST_SECONDS", "") or DEFAULT_RELIST_PERIOD),
                     help="how often the informers list again [env RELIST_SECONDS]")
    ops.add_argument("--liveness-window", type=float,
                     default=float(env("LIVENESS_WINDOW_SECONDS", "")
                                   or DEFAULT_LIVENESS_WINDOW.total_seconds()),
                     help="seconds a heartbeat keeps a Job past its deadline alive "
                     "[env LIVENESS_WINDOW_SECONDS]")
    kafka.add_argument("--consumer-expiry", type=float,
                       default=float(env("CONSUMER_EXPIRY_SECONDS", "")
                                     or DEFAULT_CONSUMER_EXPIRY.total_seconds()),
                       help="seconds after its requestTime the controller drops a command "
                       "(3600 today, 300 for a v0.3 controller) [env CONSUMER_EXPIRY_SECONDS]")
    confirm = env("CONFIRM_WINDOW_SECONDS")
    ops.add_argument("--confirm-window", type=float,
                     default=float(confirm) if confirm else None,
                     help="seconds after its last send a failure the task feed has not "
                     "confirmed is published again; longer than --consumer-expiry "
                     f"[env CONFIRM_WINDOW_SECONDS; default expiry + "
                     f"{DEFAULT_CONFIRM_MARGIN.total_seconds():.0f}]")
    ops.add_argument("--shadow", action=argparse.BooleanOptionalAction,
                     default=_env_bool(env("SHADOW", "false") or "false"),
                     help="shadow mode, to trial zombiewatch beside the executor: judge as "
                     "usual but publish, annotate and reap nothing and take no Lease; compare "
                     "each Job with the executor's failures on the request topic (metrics "
                     "zombiewatch_shadow_*, a shadow_disagreement log line each; see "
                     "'zombiewatch shadow-report') [env SHADOW; default off]")
    return parser


def add_vault_argument(group: argparse._ActionsContainer, environ: Mapping[str, str]) -> None:
    """``--vault`` [env VAULT_NAME]: per-vault Configs first (``run`` and ``scan``)."""
    group.add_argument("--vault", default=environ.get("VAULT_NAME") or None,
                       help="the executor's vault: an assignee's Config is "
                       "<assignee>-<vault> first, then <assignee> [env VAULT_NAME; "
                       "default none: plain assignees only]")


def vault_setting(value: str | None) -> str | None:
    """The parsed ``--vault``, validated (empty means none)."""
    if not value:
        return None
    if not valid_vault_name(value):
        raise SettingsError(_vault_message(value))
    return value


def parse_settings(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Flags + environment -> validated Settings, or SettingsError with a clear message."""
    env = dict(os.environ if environ is None else environ)
    args = build_parser(env).parse_args(list(argv))
    if not args.namespace:
        raise SettingsError("NAMESPACE is required (--namespace or env NAMESPACE)")
    if not args.kafka_brokers:
        raise SettingsError("KAFKA_BROKERS is required (--kafka-brokers or env KAFKA_BROKERS)")
    host, port = _parse_listen(args.listen)
    level = str(args.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"LOG_LEVEL invalid: {args.log_level!r}")
    for name in ("publish_timeout", "lease_duration", "renew_deadline", "retry_period",
                 "relist_seconds", "liveness_window", "consumer_expiry"):
        if getattr(args, name) <= 0:
            raise SettingsError(f"--{name.replace('_', '-')} must be > 0")
    if args.confirm_window is not None and args.confirm_window <= args.consumer_expiry:
        raise SettingsError(
            f"--confirm-window ({args.confirm_window:g}) must be longer than "
            f"--consumer-expiry ({args.consumer_expiry:g}): a failure published again "
            "before its first send expired could be applied twice")
    if args.leader_election and not (
        args.lease_duration > args.renew_deadline > args.retry_period
    ):
        raise SettingsError("leader election needs lease-duration > renew-deadline > retry-period")
    if args.grace_seconds < 0:
        raise SettingsError("--grace-seconds must be >= 0")
    try:
        isolation = ConsumerIsolation(args.consumer_isolation)
    except ValueError:
        raise SettingsError(
            f"CONSUMER_ISOLATION invalid: {args.consumer_isolation!r} "
            f"(read_uncommitted or read_committed)") from None
    return Settings(
        namespace=args.namespace,
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        kafka=replace(
            kafka_connection(args, env),
            transactional_id=args.transactional_id,
            publish_timeout_seconds=args.publish_timeout,
            consumer_isolation=isolation,
        ),
        leader=LeaderOptions(
            enabled=args.leader_election,
            lease_name=args.lease_name,
            identity=args.identity,
            lease_duration_seconds=args.lease_duration,
            renew_deadline_seconds=args.renew_deadline,
            retry_period_seconds=args.retry_period,
        ),
        listen_host=host,
        listen_port=port,
        log_format=args.log_format,
        log_level=level,
        grace_seconds=args.grace_seconds,
        relist_seconds=args.relist_seconds,
        reap=args.reap,
        vault=vault_setting(args.vault),
        liveness_window_seconds=args.liveness_window,
        consumer_expiry_seconds=args.consumer_expiry,
        confirm_window_seconds=args.confirm_window,
        shadow=args.shadow,
    )


def kafka_client_settings(settings: Settings) -> KafkaClientSettings:
    """The daemon's Kafka options as the adapter's settings (topic, transactional id, TLS, SASL)."""
    kafka: KafkaOptions = settings.kafka
    prefix = kafka.prefix
    tls = None
    if kafka.security_protocol.uses_tls:
        tls = TlsSettings(
            ca_file=str(kafka.ca_file) if kafka.ca_file else None,
            cert_file=str(kafka.cert_file) if kafka.cert_file else None,
            key_file=str(kafka.key_file) if kafka.key_file else None,
        )
    sasl = None
    if kafka.security_protocol.uses_sasl:
        sasl = SaslSettings(
            mechanism=kafka.sasl_mechanism or SaslMechanism.PLAIN,
            username=kafka.sasl_username or "",
            password=kafka.sasl_password or "",
        )
    return KafkaClientSettings(
        bootstrap_servers=kafka.brokers,
        topic=request_topic(prefix),
        transactional_id=kafka.transactional_id or transactional_id_for(settings.namespace),
        publish_timeout=kafka.publish_timeout_seconds,
        tls=tls,
        sasl=sasl,
        consumer_isolation=kafka.consumer_isolation,
    )

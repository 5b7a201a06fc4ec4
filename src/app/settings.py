"""Daemon settings from flags and environment (SPEC §10).

Every flag has an environment variable; a flag wins over its variable. Values
are validated here, once, so the rest of the app can trust them. Secrets (the
SASL password) are kept out of ``repr`` so they never reach a log line.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from zombiewatch.adapters.kafka.settings import (
    KafkaClientSettings,
    SaslMechanism,
    SaslSettings,
    SecurityProtocol,
    TlsSettings,
    transactional_id_for,
)
from zombiewatch.adapters.kafka.topics import prefix_for_branch, request_topic
from zombiewatch.adapters.kubernetes.credentials import context_namespace
from zombiewatch.adapters.kubernetes.watching import DEFAULT_RELIST_PERIOD
from zombiewatch.app import validation as check
from zombiewatch.app.validation import SettingsError
from zombiewatch.domain.config import VAULT_NAME_PATTERN, valid_vault_name
from zombiewatch.domain.confirmation import (
    DEFAULT_CONFIRM_MARGIN,
    DEFAULT_CONSUMER_EXPIRY,
    RepairPolicy,
)
from zombiewatch.domain.gate import DEFAULT_LIVENESS_WINDOW
from zombiewatch.domain.ledger import ConsumerIsolation
from zombiewatch.domain.never_started import INIT_BOUND
from zombiewatch.domain.storm import (
    DEFAULT_GATHER,
    DEFAULT_HOLD,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
    StormPolicy,
)

__all__ = [  # SettingsError lives with the checks; the settings' users import it from here
    "KafkaOptions", "LeaderOptions", "Settings", "SettingsError", "kafka_client_settings",
    "kafka_connection", "parse_settings",
]



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

    def __post_init__(self) -> None:
        """The checks of :mod:`~zombiewatch.app.validation`; ``brokers`` may be empty here
        (``scan`` without a feed), :class:`Settings` requires them."""
        if self.brokers:
            check.brokers(self.brokers)
        if self.branch is not None:
            check.topic_prefix(check.BRANCH, prefix_for_branch(self.branch))
        if self.topic_prefix is not None:
            check.topic_prefix(check.TOPIC_PREFIX, self.topic_prefix)
        _set(self, "publish_timeout_seconds",
             check.positive(check.PUBLISH_TIMEOUT, self.publish_timeout_seconds))
        protocol = check.choice(check.SECURITY_PROTOCOL, self.security_protocol, SecurityProtocol)
        _set(self, "security_protocol", protocol)
        _set(self, "consumer_isolation", check.choice(
            check.CONSUMER_ISOLATION, self.consumer_isolation, ConsumerIsolation))
        if self.sasl_mechanism is not None:
            _set(self, "sasl_mechanism",
                 check.choice(check.SASL_MECHANISM, self.sasl_mechanism, SaslMechanism))
        if protocol.uses_sasl and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise SettingsError(
                f"SASL needs --kafka-sasl-mechanism, --kafka-sasl-username and env "
                f"KAFKA_SASL_PASSWORD (KAFKA_SECURITY_PROTOCOL is {protocol.value})")
        check.tls_files(protocol, self.ca_file, self.cert_file, self.key_file)

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

    def __post_init__(self) -> None:
        lease = check.positive(check.LEASE_DURATION, self.lease_duration_seconds)
        renew = check.positive(check.RENEW_DEADLINE, self.renew_deadline_seconds)
        retry = check.positive(check.RETRY_PERIOD, self.retry_period_seconds)
        if self.enabled and not lease > renew > retry:
            raise SettingsError(
                f"leader election needs lease-duration > renew-deadline > retry-period, got "
                f"{lease:g} > {renew:g} > {retry:g} (--lease-duration, --renew-deadline, "
                "--retry-period or env LEASE_DURATION_SECONDS, RENEW_DEADLINE_SECONDS, "
                "RETRY_PERIOD_SECONDS)")
        _set(self, "lease_duration_seconds", lease)
        _set(self, "renew_deadline_seconds", renew)
        _set(self, "retry_period_seconds", retry)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything ``zombiewatch run`` needs, validated."""

    namespace: str
    kubeconfig: Path | None
    """A kubeconfig file (or a colon-separated list, merged as kubectl merges
    ``KUBECONFIG``); None: as kubectl, env ``KUBECONFIG``, else ``~/.kube/config``,
    else in-cluster (:mod:`zombiewatch.adapters.kubernetes.credentials`)."""
    kafka: KafkaOptions
    leader: LeaderOptions
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    log_format: str = "text"
    log_level: str = "INFO"
    grace_seconds: float = 120.0
    """Grace window of the time-dependent pod rows and of a started Job without a pod."""
    init_bound_seconds: float = INIT_BOUND.total_seconds()
    """How long an init container of a ``Pending`` pod may run before the pod is a zombie."""
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
    context: str | None = None
    """The kubeconfig context to use; None: its ``current-context``."""
    storm_guard: bool = True
    """Hold zombies that share a cause as one incident (domain/storm.py; ``--no-storm-guard``
    publishes every zombie as soon as it is judged)."""
    storm_threshold: int = DEFAULT_THRESHOLD
    """Jobs of one cause within the window that open an incident."""
    storm_gather_seconds: float = DEFAULT_GATHER.total_seconds()
    """How long a zombie with a cause waits for others of its cause before it is published."""
    storm_window_seconds: float = DEFAULT_WINDOW.total_seconds()
    """How far back Jobs of one cause count towards the threshold."""
    storm_hold_seconds: float = DEFAULT_HOLD.total_seconds()
    """The bound: no failure is held longer than this after it was first held."""

    def __post_init__(self) -> None:
        """Every check of :mod:`~zombiewatch.app.validation`, so a library host gets the
        same :class:`SettingsError` as the command line (text values are normalized:
        ``JSON`` is ``json``, ``info`` is ``INFO``)."""
        check.namespace(self.namespace)
        if not self.kafka.brokers:
            raise check.KAFKA_BROKERS.required()
        check.port(self.listen_port)
        _set(self, "log_format", check.log_format(self.log_format))
        _set(self, "log_level", check.log_level(self.log_level))
        _set(self, "grace_seconds", check.not_negative(check.GRACE, self.grace_seconds))
        _set(self, "init_bound_seconds", check.positive(check.INIT_BOUND, self.init_bound_seconds))
        _set(self, "relist_seconds", check.positive(check.RELIST, self.relist_seconds))
        _set(self, "liveness_window_seconds",
             check.positive(check.LIVENESS_WINDOW, self.liveness_window_seconds))
        expiry = check.positive(check.CONSUMER_EXPIRY, self.consumer_expiry_seconds)
        _set(self, "consumer_expiry_seconds", expiry)
        if self.confirm_window_seconds is not None:
            window = check.positive(check.CONFIRM_WINDOW, self.confirm_window_seconds)
            if window <= expiry:
                raise check.CONFIRM_WINDOW.invalid(
                    self.confirm_window_seconds,
                    f"must be longer than --consumer-expiry ({expiry:g}): a failure "
                    "published again before its first send expired could be applied twice")
            _set(self, "confirm_window_seconds", window)
        if self.vault is not None and not valid_vault_name(self.vault):
            raise _bad_vault(self.vault)
        threshold, gather, window, hold = check.storm(
            self.storm_threshold, self.storm_gather_seconds, self.storm_window_seconds,
            self.storm_hold_seconds)
        _set(self, "storm_guard", check.boolean(check.STORM_GUARD, self.storm_guard,
                                                default=True))
        _set(self, "storm_threshold", threshold)
        _set(self, "storm_gather_seconds", gather)
        _set(self, "storm_window_seconds", window)
        _set(self, "storm_hold_seconds", hold)

    @property
    def storm_policy(self) -> StormPolicy | None:
        """The storm guard's policy these settings give; None with ``--no-storm-guard``."""
        if not self.storm_guard:
            return None
        return StormPolicy(threshold=self.storm_threshold,
                           gather=timedelta(seconds=self.storm_gather_seconds),
                           window=timedelta(seconds=self.storm_window_seconds),
                           hold=timedelta(seconds=self.storm_hold_seconds))

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
        context: str | None = None,
        branch: str | None = None,
        topic_prefix: str | None = None,
        transactional_id: str | None = None,
        grace_seconds: float = 120.0,
        init_bound_seconds: float = INIT_BOUND.total_seconds(),
        consumer_isolation: ConsumerIsolation = ConsumerIsolation.READ_UNCOMMITTED,
        task_events: bool = True,
        vault: str | None = None,
        consumer_expiry_seconds: float = DEFAULT_CONSUMER_EXPIRY.total_seconds(),
        liveness_window_seconds: float = DEFAULT_LIVENESS_WINDOW.total_seconds(),
        shadow: bool = False,
        kafka_security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT,
        kafka_ca_file: Path | None = None,
        kafka_cert_file: Path | None = None,
        kafka_key_file: Path | None = None,
        kafka_sasl_mechanism: SaslMechanism | None = None,
        kafka_sasl_username: str | None = None,
        kafka_sasl_password: str | None = None,
        storm_guard: bool = True,
        storm_threshold: int = DEFAULT_THRESHOLD,
        storm_gather_seconds: float = DEFAULT_GATHER.total_seconds(),
        storm_window_seconds: float = DEFAULT_WINDOW.total_seconds(),
        storm_hold_seconds: float = DEFAULT_HOLD.total_seconds(),
    ) -> Settings:
        """Settings for a host that embeds zombiewatch: one instance, no HTTP server.

        The host is the only publisher for its namespace, so leader election is
        off; it can serve ``ZombieWatch.metrics_text()`` on its own endpoint.
        Kafka's TLS and SASL and the storm guard take the daemon's ``--kafka-*`` and
        ``--storm-*`` settings by the same names. Every value is checked as the command
        line checks it (the PEM files are loaded): a bad one raises
        :class:`SettingsError` with the same text.
        """
        return cls(
            namespace=namespace,
            kubeconfig=kubeconfig,
            context=context,
            kafka=KafkaOptions(brokers=kafka_brokers, branch=branch, topic_prefix=topic_prefix,
                               transactional_id=transactional_id,
                               consumer_isolation=consumer_isolation, task_events=task_events,
                               security_protocol=kafka_security_protocol,
                               ca_file=kafka_ca_file, cert_file=kafka_cert_file,
                               key_file=kafka_key_file, sasl_mechanism=kafka_sasl_mechanism,
                               sasl_username=kafka_sasl_username,
                               sasl_password=kafka_sasl_password),
            leader=LeaderOptions(enabled=False),
            grace_seconds=grace_seconds,
            init_bound_seconds=init_bound_seconds,
            serve_http=False,
            vault=vault,
            consumer_expiry_seconds=consumer_expiry_seconds,
            liveness_window_seconds=liveness_window_seconds,
            shadow=shadow,
            storm_guard=storm_guard,
            storm_threshold=storm_threshold,
            storm_gather_seconds=storm_gather_seconds,
            storm_window_seconds=storm_window_seconds,
            storm_hold_seconds=storm_hold_seconds,
        )


def _set(instance: object, name: str, value: object) -> None:
    """Store a normalized value on a frozen settings object (from its ``__post_init__``)."""
    object.__setattr__(instance, name, value)


def _bad_vault(vault: str) -> SettingsError:
    return check.VAULT.invalid(vault, f"must match {VAULT_NAME_PATTERN}")


class OneLineParser(argparse.ArgumentParser):
    """A parser whose usage errors are a :class:`SettingsError` (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise SettingsError(message)


def add_kafka_topic_arguments(group: argparse._ActionsContainer,
                              environ: Mapping[str, str], *, brokers_help: str) -> None:
    """``--kafka-brokers``, ``--branch``, ``--topic-prefix``: where the topics are (``run``
    and ``scan`` take the same flags and variables)."""
    group.add_argument("--kafka-brokers", default=environ.get("KAFKA_BROKERS"),
                       help=brokers_help)
    group.add_argument("--branch", default=environ.get("BRANCH"),
                       help="legacy topic prefix: dev->develop, prod->master [env BRANCH]")
    group.add_argument("--topic-prefix", default=environ.get("TOPIC_PREFIX"),
                       help="explicit topic prefix, wins over --branch; '' = unprefixed; "
                       "letters, digits, '.', '_', '-' [env TOPIC_PREFIX]")


def add_task_events_argument(group: argparse._ActionsContainer,
                             environ: Mapping[str, str], *, verb: str) -> None:
    """``--task-events`` / ``--no-task-events`` [env TASK_EVENTS]; ``verb`` says what the
    command does with the topic (``run`` follows it, ``scan`` reads it once)."""
    group.add_argument("--task-events", action=argparse.BooleanOptionalAction,
                       default=environ.get("TASK_EVENTS") or True,
                       help=f"{verb} the controller's task event topic "
                       "<prefix>-agent-task-v1-event [env TASK_EVENTS; default on]")


def add_kafka_security_arguments(group: argparse._ActionsContainer,
                                 environ: Mapping[str, str]) -> None:
    """TLS and SASL to the brokers (the password only from env KAFKA_SASL_PASSWORD).

    The files are loaded at start as the Kafka clients load them: a missing or
    unparsable one is a one-line error, exit 2."""
    group.add_argument("--kafka-security-protocol",
                       default=environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
                       help=f"{', '.join(SecurityProtocol)} [env KAFKA_SECURITY_PROTOCOL; "
                       "default PLAINTEXT]")
    group.add_argument("--kafka-ca-file", default=environ.get("KAFKA_CA_FILE"),
                       help="CA bundle (PEM) for TLS [env KAFKA_CA_FILE; default: the "
                       "system's]")
    group.add_argument("--kafka-cert-file", default=environ.get("KAFKA_CERT_FILE"),
                       help="client certificate (PEM) for mutual TLS [env KAFKA_CERT_FILE]")
    group.add_argument("--kafka-key-file", default=environ.get("KAFKA_KEY_FILE"),
                       help="client key (PEM) for mutual TLS [env KAFKA_KEY_FILE]")
    group.add_argument("--kafka-sasl-mechanism",
                       default=environ.get("KAFKA_SASL_MECHANISM"),
                       help=f"{', '.join(SaslMechanism)} [env KAFKA_SASL_MECHANISM]")
    group.add_argument("--kafka-sasl-username", default=environ.get("KAFKA_SASL_USERNAME"),
                       help="[env KAFKA_SASL_USERNAME; the password only from env "
                       "KAFKA_SASL_PASSWORD]")


def kafka_connection(args: argparse.Namespace, environ: Mapping[str, str]) -> KafkaOptions:
    """The parsed topic, feed and security flags as :class:`KafkaOptions`, validated.

    The producer's own options keep their defaults (``run`` sets them with
    :func:`dataclasses.replace`); ``brokers`` is ``""`` when none were given.
    """
    return KafkaOptions(
        brokers=args.kafka_brokers or "",
        branch=args.branch,
        topic_prefix=args.topic_prefix,
        security_protocol=check.choice(check.SECURITY_PROTOCOL, args.kafka_security_protocol,
                                       SecurityProtocol),
        ca_file=Path(args.kafka_ca_file) if args.kafka_ca_file else None,
        cert_file=Path(args.kafka_cert_file) if args.kafka_cert_file else None,
        key_file=Path(args.kafka_key_file) if args.kafka_key_file else None,
        sasl_mechanism=None if not args.kafka_sasl_mechanism else check.choice(
            check.SASL_MECHANISM, args.kafka_sasl_mechanism, SaslMechanism),
        sasl_username=args.kafka_sasl_username,
        sasl_password=environ.get("KAFKA_SASL_PASSWORD"),
        task_events=check.boolean(check.TASK_EVENTS, args.task_events, default=True),
    )


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """The ``run`` flags; each default is its environment variable's text, converted and
    checked afterwards by :func:`parse_settings` (so a bad variable is refused exactly as
    a bad flag is)."""

    def env(name: str, default: str | None = None) -> str | None:
        """The variable's text; an empty variable is an unset one."""
        return environ.get(name) or default

    parser = OneLineParser(
        prog="zombiewatch run",
        description="Watch a namespace for agent Jobs that died without reporting and "
        "publish their failure commands on Kafka. A bad flag or variable is a one-line "
        "error and exit status 2.",
    )
    k8s = parser.add_argument_group("Kubernetes")
    add_cluster_arguments(k8s, environ, verb="watch")
    add_vault_argument(k8s, environ)
    kafka = parser.add_argument_group("Kafka")
    add_kafka_topic_arguments(kafka, environ,
                              brokers_help="bootstrap servers, host:port comma separated "
                              "[env KAFKA_BROKERS; required]")
    kafka.add_argument("--transactional-id", default=env("KAFKA_TRANSACTIONAL_ID"),
                       help="producer transactional id [env KAFKA_TRANSACTIONAL_ID; "
                       "default zombiewatch-<namespace>]")
    kafka.add_argument("--publish-timeout", default=env("KAFKA_PUBLISH_TIMEOUT_SECONDS", "10"),
                       help="seconds one publish may take, > 0 "
                       "[env KAFKA_PUBLISH_TIMEOUT_SECONDS; default 10]")
    kafka.add_argument("--consumer-isolation",
                       default=env("CONSUMER_ISOLATION", ConsumerIsolation.READ_UNCOMMITTED),
                       help="read_uncommitted or read_committed: how the controller reads "
                       "the request topic; the topic is read "
                       "back the same way to decide what is already delivered (the real "
                       "controller: read_uncommitted) [env CONSUMER_ISOLATION]")
    add_task_events_argument(kafka, environ, verb="follow")
    add_kafka_security_arguments(kafka, environ)
    leader = parser.add_argument_group("Leader election")
    leader.add_argument("--leader-election", action=argparse.BooleanOptionalAction,
                        default=env("LEADER_ELECTION") or True,
                        help="only the Lease holder publishes [env LEADER_ELECTION; default on]")
    leader.add_argument("--lease-name", default=env("LEASE_NAME", "zombiewatch"),
                        help="[env LEASE_NAME]")
    leader.add_argument("--identity", default=env("POD_NAME") or socket.gethostname(),
                        help="holder identity [env POD_NAME; default hostname]")
    leader.add_argument("--lease-duration", default=env("LEASE_DURATION_SECONDS", "15"),
                        help="seconds followers wait after the last renewal "
                        "[env LEASE_DURATION_SECONDS; default 15]")
    leader.add_argument("--renew-deadline", default=env("RENEW_DEADLINE_SECONDS", "10"),
                        help="seconds the leader may fail to renew before it steps down "
                        "[env RENEW_DEADLINE_SECONDS; default 10]")
    leader.add_argument("--retry-period", default=env("RETRY_PERIOD_SECONDS", "2"),
                        help="seconds between acquire/renew attempts "
                        "[env RETRY_PERIOD_SECONDS; default 2]")
    ops = parser.add_argument_group("Operations")
    ops.add_argument("--listen", default=env("LISTEN", "127.0.0.1:8080"),
                     help="HOST:PORT for /healthz, /readyz, /metrics [env LISTEN]")
    ops.add_argument("--log-format", default=env("LOG_FORMAT", "text"),
                     help="text (key=value) or json (one object a line), any case "
                     "[env LOG_FORMAT; default text]")
    ops.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"),
                     help="DEBUG, INFO, WARNING or ERROR, any case [env LOG_LEVEL]")
    ops.add_argument("--grace-seconds", default=env("GRACE_SECONDS", "120"),
                     help="grace window for unschedulable/config-error/not-ready pods and "
                     "for a started Job without a pod, >= 0 [env GRACE_SECONDS]")
    ops.add_argument("--init-bound-seconds",
                     default=env("INIT_BOUND_SECONDS") or INIT_BOUND.total_seconds(),
                     help="seconds an init container may run before its pod is a zombie, > 0 "
                     "[env INIT_BOUND_SECONDS; default 600]")
    ops.add_argument("--reap", action=argparse.BooleanOptionalAction, default=env("REAP") or True,
                     help="after reporting a Job whose pods may still run, shorten its "
                     "activeDeadlineSeconds so Kubernetes stops them [env REAP; default on]")
    ops.add_argument("--relist-seconds", default=env("RELIST_SECONDS") or DEFAULT_RELIST_PERIOD,
                     help="how often the informers list again [env RELIST_SECONDS]")
    ops.add_argument("--liveness-window",
                     default=env("LIVENESS_WINDOW_SECONDS")
                     or DEFAULT_LIVENESS_WINDOW.total_seconds(),
                     help="seconds a heartbeat keeps a Job past its deadline alive "
                     "[env LIVENESS_WINDOW_SECONDS]")
    kafka.add_argument("--consumer-expiry",
                       default=env("CONSUMER_EXPIRY_SECONDS")
                       or DEFAULT_CONSUMER_EXPIRY.total_seconds(),
                       help="seconds after its requestTime the controller drops a command "
                       "(3600 today, 300 for a v0.3 controller) [env CONSUMER_EXPIRY_SECONDS]")
    ops.add_argument("--confirm-window", default=env("CONFIRM_WINDOW_SECONDS") or None,
                     help="seconds after its last send a failure the task feed has not "
                     "confirmed is published again; longer than --consumer-expiry "
                     f"[env CONFIRM_WINDOW_SECONDS; default expiry + "
                     f"{DEFAULT_CONFIRM_MARGIN.total_seconds():.0f}]")
    ops.add_argument("--shadow", action=argparse.BooleanOptionalAction,
                     default=env("SHADOW") or False,
                     help="shadow mode, to trial zombiewatch beside the executor: judge as "
                     "usual but publish, annotate and reap nothing and take no Lease; compare "
                     "each Job with the executor's failures on the request topic (metrics "
                     "zombiewatch_shadow_*, a shadow_disagreement log line each; see "
                     "'zombiewatch shadow-report') [env SHADOW; default off]")
    storm = parser.add_argument_group(
        "Storm guard", "zombies sharing a cause (an image, a missing object, a node, a "
        "constraint, a quota) become one incident: their failures are held until the cause "
        "clears or the bound passes")
    storm.add_argument("--storm-guard", action=argparse.BooleanOptionalAction,
                       default=env("STORM_GUARD") or True,
                       help="hold zombies that share a cause [env STORM_GUARD; default on]")
    storm.add_argument("--storm-threshold",
                       default=env("STORM_THRESHOLD", str(DEFAULT_THRESHOLD)),
                       help="Jobs of one cause within the window that open an incident, "
                       f">= 2 [env STORM_THRESHOLD; default {DEFAULT_THRESHOLD}]")
    storm.add_argument("--storm-gather-seconds",
                       default=env("STORM_GATHER_SECONDS") or DEFAULT_GATHER.total_seconds(),
                       help="seconds a zombie with a cause waits for others of its cause "
                       "before it is published alone, >= 0 [env STORM_GATHER_SECONDS; "
                       f"default {DEFAULT_GATHER.total_seconds():g}]")
    storm.add_argument("--storm-window-seconds",
                       default=env("STORM_WINDOW_SECONDS") or DEFAULT_WINDOW.total_seconds(),
                       help="seconds back Jobs of one cause count towards the threshold "
                       f"[env STORM_WINDOW_SECONDS; default {DEFAULT_WINDOW.total_seconds():g}]")
    storm.add_argument("--storm-hold-seconds",
                       default=env("STORM_HOLD_SECONDS") or DEFAULT_HOLD.total_seconds(),
                       help="the bound: seconds at most a failure is held "
                       f"[env STORM_HOLD_SECONDS; default {DEFAULT_HOLD.total_seconds():g}]")
    return parser


def add_cluster_arguments(group: argparse._ActionsContainer, environ: Mapping[str, str], *,
                          verb: str) -> None:
    """``--kubeconfig``, ``--context``, ``-n/--namespace`` as kubectl takes them (``run``
    and ``scan``)."""
    group.add_argument("--kubeconfig", default=environ.get("KUBECONFIG") or None,
                       help="kubeconfig file; a colon-separated list is merged as kubectl "
                       "merges it [env KUBECONFIG; default: ~/.kube/config, else in-cluster]")
    group.add_argument("--context", default=environ.get("KUBE_CONTEXT") or None,
                       help="kubeconfig context [env KUBE_CONTEXT; default: its "
                       "current-context]")
    group.add_argument("-n", "--namespace", default=environ.get("NAMESPACE") or None,
                       help=f"namespace to {verb}, a DNS-1123 label [env NAMESPACE; default: "
                       "the context's namespace; required without one]")


def cluster_namespace(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """``--namespace``, else the namespace of the kubeconfig context (as kubectl), checked."""
    namespace = args.namespace or context_namespace(args.kubeconfig, args.context, environ)
    if not namespace:
        raise SettingsError(f"{check.NAMESPACE.required()} (or a kubeconfig context with a "
                            "namespace)")
    return check.namespace(namespace)


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
        raise _bad_vault(value)
    return value


def parse_settings(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Flags + environment -> validated Settings, or SettingsError with a clear message.

    Text is converted here; every range and form is checked by the settings
    dataclasses themselves (:mod:`~zombiewatch.app.validation`), as for the library.
    """
    env = dict(os.environ if environ is None else environ)
    args = build_parser(env).parse_args(list(argv))
    namespace = cluster_namespace(args, env)
    if not args.kafka_brokers:
        raise check.KAFKA_BROKERS.required()
    host, port = check.listen(args.listen)
    leader_enabled = check.boolean(check.LEADER_ELECTION, args.leader_election, default=True)
    return Settings(
        namespace=namespace,
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        context=args.context,
        kafka=replace(
            kafka_connection(args, env),
            transactional_id=args.transactional_id,
            publish_timeout_seconds=check.number(check.PUBLISH_TIMEOUT, args.publish_timeout),
            consumer_isolation=check.choice(check.CONSUMER_ISOLATION, args.consumer_isolation,
                                            ConsumerIsolation),
        ),
        leader=LeaderOptions(
            enabled=leader_enabled,
            lease_name=args.lease_name,
            identity=args.identity,
            lease_duration_seconds=check.number(check.LEASE_DURATION, args.lease_duration),
            renew_deadline_seconds=check.number(check.RENEW_DEADLINE, args.renew_deadline),
            retry_period_seconds=check.number(check.RETRY_PERIOD, args.retry_period),
        ),
        listen_host=host,
        listen_port=port,
        log_format=args.log_format,
        log_level=args.log_level,
        grace_seconds=check.number(check.GRACE, args.grace_seconds),
        init_bound_seconds=check.number(check.INIT_BOUND, args.init_bound_seconds),
        relist_seconds=check.number(check.RELIST, args.relist_seconds),
        reap=check.boolean(check.REAP, args.reap, default=True),
        vault=vault_setting(args.vault),
        liveness_window_seconds=check.number(check.LIVENESS_WINDOW, args.liveness_window),
        consumer_expiry_seconds=check.number(check.CONSUMER_EXPIRY, args.consumer_expiry),
        confirm_window_seconds=None if args.confirm_window is None
        else check.number(check.CONFIRM_WINDOW, args.confirm_window),
        shadow=check.boolean(check.SHADOW, args.shadow, default=False),
        storm_guard=check.boolean(check.STORM_GUARD, args.storm_guard, default=True),
        storm_threshold=check.whole_number(check.STORM_THRESHOLD, args.storm_threshold,
                                           minimum=2),
        storm_gather_seconds=check.number(check.STORM_GATHER, args.storm_gather_seconds),
        storm_window_seconds=check.number(check.STORM_WINDOW, args.storm_window_seconds),
        storm_hold_seconds=check.number(check.STORM_HOLD, args.storm_hold_seconds),
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

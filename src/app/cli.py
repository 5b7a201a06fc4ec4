"""The ``zombiewatch`` console script: ``run`` (the daemon), ``explain FILE`` and ``scan``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from zombiewatch import __version__
from zombiewatch.adapters.kubernetes.credentials import CredentialsError, load_credentials
from zombiewatch.app.explain import ExplainError, explain_objects, load_objects
from zombiewatch.app.settings import (
    SettingsError,
    add_cluster_arguments,
    add_kafka_security_arguments,
    add_kafka_topic_arguments,
    add_task_events_argument,
    add_vault_argument,
    build_parser,
    cluster_namespace,
    kafka_connection,
    parse_settings,
    vault_setting,
)
from zombiewatch.domain.classification import GRACE, Rule

EXIT_BAD_INPUT = 1
EXIT_USAGE = 2

FEED_TIMEOUT_SECONDS = 30.0
"""How long ``scan`` may take to read the task event topic to its end (``--feed-timeout``)."""


def _parse_now(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--now: not an RFC3339 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--now: give a time zone, e.g. 2026-06-02T09:46:00Z")
    return moment.astimezone(UTC)


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return seconds


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zombiewatch",
        description="Find Kubernetes agent Jobs that died without reporting and publish the "
        "failure commands on Kafka.",
        epilog="Run 'zombiewatch run --help' for the daemon's flags and environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"zombiewatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{run,explain,scan}")
    sub.add_parser("run", add_help=False, help="run the daemon (flags: zombiewatch run --help)")
    explain = sub.add_parser(
        "explain", help="classify a Pod or Job (kubectl get -o json|yaml) and name the rule",
        description="Classify a Pod or Job as 'kubectl get -o json' or '-o yaml' prints it (a "
        "List too, or the stream of 'kubectl get -w --output-watch-events -o json', where a "
        "DELETED event is judged as a deleted pod's last state) and print one JSON object "
        'per item: {"kind", "name", "reason", "rule"}; reason and rule are null when healthy '
        "or not decided yet. A failed Job given with its pods is judged with them.",
        epilog="Rules (the pod table in order, the Job conditions, the sweeper's deadline "
        "rows): " + ", ".join(rule.value for rule in Rule)
        + ".",
    )
    explain.add_argument("file", help="the object file, or - for standard input")
    explain.add_argument("--now", type=_parse_now, default=None,
                         help="judge as of this RFC3339 time (default: now)")
    explain.add_argument("--grace-seconds", type=float, default=GRACE.total_seconds(),
                         help="grace window of the time-dependent pod rows (default 120)")
    scan = sub.add_parser(
        "scan", help="list every in-flight Job with its verdict now, or why not yet (read-only)",
        description="Read-only: one list of the namespace's agent Jobs, Pods and Configs, and "
        "for every Job not completed its verdict now and the rule, or why it is not a zombie "
        "(yet), and whether it was reported or reaped. Given Kafka brokers it also reads the "
        "controller's task event topic once to its end (no consumer group, nothing "
        "committed): a Job its task no longer names is shown 'superseded by' the newer one "
        "and is no zombie, and a task naming a Job the namespace does not have is a row of "
        "its own, a zombie (executor_watch_lost) past its deadline from job_started_at (the "
        "daemon reports it only after seeing it missing for the pod grace). Publishes and "
        "patches nothing; needs only get/list, and Read on the event topic. Heartbeats live "
        "in the daemon, so a Job past its deadline is judged without them.",
        epilog="Exit status: 0 no zombie waiting to be reported, 1 at least one zombie not "
        "reported yet (a missing Job the task feed names, past its deadline, is one), 2 usage "
        "error, 3 the namespace could not be read. A task event topic "
        "that cannot be read (or not within --feed-timeout) is a one-line warning on stderr "
        "and does not change the exit status: the Jobs are then judged from the cluster only.",
    )
    add_cluster_arguments(scan, os.environ, verb="scan")
    add_vault_argument(scan, os.environ)
    scan.add_argument("-o", "--output", choices=("table", "json"), default="table",
                      help="a table for humans (default) or one JSON document")
    scan.add_argument("--now", type=_parse_now, default=None,
                      help="judge as of this RFC3339 time (default: now)")
    scan.add_argument("--grace-seconds", type=float, default=GRACE.total_seconds(),
                      help="grace window of the time-dependent pod rows (default 120)")
    feed = scan.add_argument_group(
        "Task feed", "the daemon's Kafka flags and variables; without brokers, the cluster only")
    add_kafka_topic_arguments(feed, os.environ,
                              brokers_help="bootstrap servers, comma separated: read the task "
                              "event topic [env KAFKA_BROKERS; default: none, cluster only]")
    add_task_events_argument(feed, os.environ, verb="read")
    feed.add_argument("--feed-timeout", type=_positive_seconds,
                      default=FEED_TIMEOUT_SECONDS,
                      help="seconds to read the task event topic to its end "
                      f"(default {FEED_TIMEOUT_SECONDS:g})")
    add_kafka_security_arguments(feed, os.environ)
    return parser


def _explain(args: argparse.Namespace) -> int:
    now: datetime = args.now or datetime.now(UTC)
    source = "<stdin>" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
        objects = load_objects(text, source=source)
        answers = explain_objects(objects, now=now, grace=timedelta(seconds=args.grace_seconds))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"zombiewatch explain: cannot read {source}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ExplainError as exc:
        print(f"zombiewatch explain: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for answer in answers:
        print(json.dumps(answer.as_json(), ensure_ascii=False))
    return 0


def _scan(args: argparse.Namespace) -> int:
    from zombiewatch.app import scan  # noqa: PLC0415 - the client only for commands that need it

    try:
        namespace = cluster_namespace(args, os.environ)
        vault = vault_setting(args.vault)
        source = scan.feed_source(kafka_connection(args, os.environ), namespace)
    except SettingsError as exc:
        print(f"zombiewatch scan: {exc}", file=sys.stderr)
        return scan.EXIT_USAGE
    now: datetime = args.now or datetime.now(UTC)
    try:
        snapshot = scan.read_namespace(args.kubeconfig, args.context, namespace)
    except scan.ScanError as exc:
        print(f"zombiewatch scan: {exc}", file=sys.stderr)
        return scan.EXIT_UNREADABLE
    feed = None
    if source is not None:  # after the list: a Job created since is no "missing" zombie
        _quiet_client_logs()
        feed = asyncio.run(scan.read_task_feed(source, timeout=args.feed_timeout))
        warning = scan.feed_warning(feed)
        if warning is not None:
            print(f"zombiewatch scan: {warning}", file=sys.stderr)
    report = scan.scan(snapshot, namespace=namespace, now=now,
                       grace=timedelta(seconds=args.grace_seconds), feed=feed, vault=vault)
    render = scan.render_json if args.output == "json" else scan.render_table
    sys.stdout.write(render(report))
    return report.exit_code


def _quiet_client_logs() -> None:
    """Keep stderr to scan's own lines: without a handler Python prints every WARNING
    (aiokafka's per-retry lines, each malformed event) there; scan says what matters once
    (the feed warning, the count of malformed events)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def _run(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        build_parser({}).print_help()
        return 0
    try:
        settings = parse_settings(argv)
        # Found now as the daemon will find them: no credentials is one line, not a start
        # that fails later with the client's "Service host/port is not set."
        load_credentials(str(settings.kubeconfig) if settings.kubeconfig else None,
                         settings.context)
    except (SettingsError, CredentialsError) as exc:
        print(f"zombiewatch run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from zombiewatch.app.daemon import run_daemon  # noqa: PLC0415 - heavy imports only for run

    return asyncio.run(run_daemon(settings))


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["run"]:
        return _run(args_list[1:])
    args = _top_parser().parse_args(args_list)
    if args.command == "explain":
        return _explain(args)
    if args.command == "scan":
        return _scan(args)
    _top_parser().print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``zombiewatch`` console script: ``run`` (the daemon), ``explain FILE``, ``scan`` and
``shadow-report``."""

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
from zombiewatch.app.validation import STORM_THRESHOLD, whole_number
from zombiewatch.domain.classification import GRACE, Rule
from zombiewatch.domain.never_started import INIT_BOUND
from zombiewatch.domain.storm import DEFAULT_THRESHOLD

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
    sub = parser.add_subparsers(dest="command", metavar="{run,explain,scan,shadow-report}")
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
    explain.add_argument("--init-bound-seconds", type=float,
                         default=INIT_BOUND.total_seconds(),
                         help="how long an init container may run (default 600)")
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
    scan.add_argument("--init-bound-seconds", type=float, default=INIT_BOUND.total_seconds(),
                      help="how long an init container may run (default 600)")
    _add_storm_threshold(scan)
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
    _add_shadow_report(sub)
    return parser


def _add_shadow_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "shadow-report",
        help="compare zombiewatch's verdicts with the executor's failures over a window "
        "(read-only)",
        description="Read-only, for a trial beside the agent system's executor (see "
        "'zombiewatch run --shadow'): judge the namespace's Jobs created in the window as "
        "'scan' does (from the cluster only), read the executor's failure updates in the "
        "window from the request topic <prefix>-agent-task-v1-request (matched by task id "
        "and the Job named in their '## Failure' section: their request ids are random), "
        "and print one row per Job: agreement, reason_disagreement, zombiewatch_only, "
        "executor_only, and how often the executor sent it (more than once after its "
        "restart). Latencies are the shadow daemon's (zombiewatch_shadow_latency_seconds). "
        "Needs get/list on jobs, pods and configs and Read on the request topic.",
        epilog="Exit status: 0 the table was printed, 2 usage error, 3 the namespace or the "
        "request topic could not be read.")
    add_cluster_arguments(report, os.environ, verb="compare")
    add_vault_argument(report, os.environ)
    report.add_argument("--since", type=_parse_since, default=timedelta(hours=1),
                        help="start of the window: a duration back from --until (90s, 30m, "
                        "2h) or an RFC3339 time (default 1h)")
    report.add_argument("--until", type=_parse_until, default=None,
                        help="end of the window, an RFC3339 time (default: now)")
    report.add_argument("-o", "--output", choices=("table", "json"), default="table",
                        help="a table for humans (default) or one JSON document")
    report.add_argument("--grace-seconds", type=float, default=GRACE.total_seconds(),
                        help="grace window of the time-dependent pod rows (default 120)")
    _add_storm_threshold(report)
    kafka = report.add_argument_group("Kafka", "the daemon's Kafka flags and variables")
    add_kafka_topic_arguments(kafka, os.environ,
                              brokers_help="bootstrap servers, comma separated "
                              "[env KAFKA_BROKERS; required]")
    kafka.add_argument("--read-timeout", type=_positive_seconds,
                       default=FEED_TIMEOUT_SECONDS,
                       help="seconds to read the request topic over the window "
                       f"(default {FEED_TIMEOUT_SECONDS:g})")
    add_kafka_security_arguments(kafka, os.environ)


def _storm_threshold(text: str) -> int:
    try:
        return whole_number(STORM_THRESHOLD, text, minimum=2)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_storm_threshold(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storm-threshold", type=_storm_threshold,
                        default=os.environ.get("STORM_THRESHOLD") or DEFAULT_THRESHOLD,
                        help="unreported zombies sharing a cause that make a storm incident, "
                        f"as the daemon's guard counts them [env STORM_THRESHOLD; default "
                        f"{DEFAULT_THRESHOLD}]")


def _parse_until(text: str) -> datetime:
    try:
        return _parse_now(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"not an RFC3339 time with a zone (2026-06-02T09:46:00Z): {text!r}") from None


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_since(text: str) -> timedelta | datetime:
    """``--since``: ``90s``, ``30m``, ``2h``, ``1d`` or plain seconds, else an RFC3339 time."""
    number, unit = (text[:-1], _UNITS[text[-1]]) if text[-1:] in _UNITS else (text, 1)
    try:
        seconds = float(number) * unit
    except ValueError:
        try:
            return _parse_now(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"neither a duration (90s, 30m, 2h) nor an RFC3339 time: {text!r}",
            ) from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return timedelta(seconds=seconds)


def _explain(args: argparse.Namespace) -> int:
    now: datetime = args.now or datetime.now(UTC)
    source = "<stdin>" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
        objects = load_objects(text, source=source)
        answers = explain_objects(objects, now=now, grace=timedelta(seconds=args.grace_seconds),
                                  init_bound=timedelta(seconds=args.init_bound_seconds))
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
                       grace=timedelta(seconds=args.grace_seconds), feed=feed, vault=vault,
                       init_bound=timedelta(seconds=args.init_bound_seconds),
                       storm_threshold=args.storm_threshold)
    render = scan.render_json if args.output == "json" else scan.render_table
    sys.stdout.write(render(report))
    return report.exit_code


def _shadow_report(args: argparse.Namespace) -> int:
    from zombiewatch.app import scan, shadow_report  # noqa: PLC0415 - clients only when needed

    prog = "zombiewatch shadow-report"
    if not args.kafka_brokers:
        print(f"{prog}: KAFKA_BROKERS is required (--kafka-brokers or env KAFKA_BROKERS)",
              file=sys.stderr)
        return EXIT_USAGE
    until: datetime = args.until or datetime.now(UTC)
    since: datetime = args.since if isinstance(args.since, datetime) else until - args.since
    if since >= until:
        print(f"{prog}: --since must be before --until", file=sys.stderr)
        return EXIT_USAGE
    args.task_events = False  # the request topic only
    try:
        namespace = cluster_namespace(args, os.environ)
        vault = vault_setting(args.vault)
        kafka = kafka_connection(args, os.environ)
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        snapshot = scan.read_namespace(args.kubeconfig, args.context, namespace)
        _quiet_client_logs()
        executor = asyncio.run(shadow_report.executor_failures(
            kafka, namespace=namespace, since=since, until=until,
            timeout=args.read_timeout))
    except (scan.ScanError, shadow_report.ReportError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return scan.EXIT_UNREADABLE
    grace = timedelta(seconds=args.grace_seconds)
    ours = shadow_report.would_publish(snapshot, namespace=namespace, since=since,
                                       until=until, grace=grace, vault=vault)
    held = shadow_report.would_hold(snapshot, namespace=namespace, since=since, until=until,
                                    grace=grace, vault=vault, threshold=args.storm_threshold)
    result = shadow_report.report(namespace=namespace, since=since, until=until,
                                  ours=ours, executor=executor, incidents=held,
                                  storm_threshold=args.storm_threshold)
    render = shadow_report.render_json if args.output == "json" else shadow_report.render_table
    sys.stdout.write(render(result))
    return 0


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
    if args.command == "shadow-report":
        return _shadow_report(args)
    _top_parser().print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())

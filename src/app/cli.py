"""The ``zombiewatch`` console script: ``run`` (the daemon), ``explain FILE`` and ``scan``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from zombiewatch import __version__
from zombiewatch.app.explain import ExplainError, explain_objects, load_objects
from zombiewatch.app.settings import SettingsError, build_parser, parse_settings
from zombiewatch.domain.classification import GRACE, Rule

EXIT_BAD_INPUT = 1
EXIT_USAGE = 2


def _parse_now(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--now: not an RFC3339 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--now: give a time zone, e.g. 2026-06-02T09:46:00Z")
    return moment.astimezone(UTC)


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
        "(yet), and whether it was reported or reaped. Publishes and patches nothing; needs "
        "only get/list. Heartbeats live in the daemon, so a Job past its deadline is judged "
        "without them.",
        epilog="Exit status: 0 no zombie waiting to be reported, 1 at least one zombie not "
        "reported yet, 2 usage error, 3 the namespace could not be read.",
    )
    scan.add_argument("--namespace", default=os.environ.get("NAMESPACE"),
                      help="the namespace to scan [env NAMESPACE; required]")
    scan.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"),
                      help="kubeconfig file [env KUBECONFIG; default: in-cluster config]")
    scan.add_argument("-o", "--output", choices=("table", "json"), default="table",
                      help="a table for humans (default) or one JSON document")
    scan.add_argument("--now", type=_parse_now, default=None,
                      help="judge as of this RFC3339 time (default: now)")
    scan.add_argument("--grace-seconds", type=float, default=GRACE.total_seconds(),
                      help="grace window of the time-dependent pod rows (default 120)")
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

    if not args.namespace:
        print("zombiewatch scan: NAMESPACE is required (--namespace or env NAMESPACE)",
              file=sys.stderr)
        return scan.EXIT_USAGE
    now: datetime = args.now or datetime.now(UTC)
    try:
        snapshot = scan.read_namespace(args.kubeconfig, args.namespace)
    except scan.ScanError as exc:
        print(f"zombiewatch scan: {exc}", file=sys.stderr)
        return scan.EXIT_UNREADABLE
    report = scan.scan(snapshot, namespace=args.namespace, now=now,
                       grace=timedelta(seconds=args.grace_seconds))
    render = scan.render_json if args.output == "json" else scan.render_table
    sys.stdout.write(render(report))
    return report.exit_code


def _run(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        build_parser({}).print_help()
        return 0
    try:
        settings = parse_settings(argv)
    except SettingsError as exc:
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

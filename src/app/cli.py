"""The ``zombiewatch`` console script: ``run`` (the daemon) and ``explain FILE``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from zombiewatch import __version__
from zombiewatch.app.explain import ExplainError, explain_objects, load_objects
from zombiewatch.app.settings import SettingsError, build_parser, parse_settings
from zombiewatch.domain.classification import GRACE

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
    sub = parser.add_subparsers(dest="command", metavar="{run,explain}")
    sub.add_parser("run", add_help=False, help="run the daemon (flags: zombiewatch run --help)")
    explain = sub.add_parser(
        "explain", help="classify a Pod or Job (kubectl get -o json|yaml) and name the rule",
        description="Classify a Pod or Job as 'kubectl get -o json' or '-o yaml' prints it (a "
        "List too, or the stream of 'kubectl get -w --output-watch-events -o json', where a "
        "DELETED event is judged as a deleted pod's last state) and print one JSON object "
        'per item: {"kind", "name", "reason", "rule"}; reason and rule are null when healthy '
        "or not decided yet. A failed Job given with its pods is judged with them.",
    )
    explain.add_argument("file", help="the object file, or - for standard input")
    explain.add_argument("--now", type=_parse_now, default=None,
                         help="judge as of this RFC3339 time (default: now)")
    explain.add_argument("--grace-seconds", type=float, default=GRACE.total_seconds(),
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
    _top_parser().print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m benchmarks [--only NAME] [--quick]``: run, print a table, write JSON.

Benchmarks: sweep, decode, memory (pure, in-process), taskfeed (memory in process, catch-up
on the real broker), e2e (real kube-apiserver and
Kafka via ``harness.services.acquire()``), footprint (``zombiewatch run``'s RSS, time to
ready and imports, on the same services), node (the real single-node
Kubernetes v1.37 and its broker via ``harness.demo.node``), soak (a churn of Jobs and
tasks against the real services, the daemon's memory sampled) and scale (the whole daemon
beside a client-go program at 0 to 50,000 Jobs). Results go to stdout and to
``benchmarks/results/latest.json``. Exit status 1 when a target was missed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import Row, machine, table, write_json

BENCHMARKS = ("sweep", "decode", "memory", "taskfeed", "e2e", "footprint", "node", "soak",
              "scale")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", choices=BENCHMARKS, action="append",
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats, smaller e2e runs, a 3-minute soak "
                        "(a smoke test, not figures)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON file to write")
    args = parser.parse_args(argv)
    selected = args.only or list(BENCHMARKS)
    started = datetime.now(UTC)
    rows: list[Row] = []
    durations: dict[str, float] = {}
    host = machine()
    for name in selected:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name}...", file=sys.stderr, flush=True)
        began = time.monotonic()
        rows.extend(module.run(quick=args.quick))
        durations[name] = round(time.monotonic() - began, 1)
    print(table(rows))
    print(f"\nmachine: {host['nproc']} CPUs, {host['cpu_model']}, {host['memory_gib']} GiB, "
          f"Python {host['python']}; load at start {host['loadavg_at_start']}")
    write_json(args.output, {
        "started_at": started.isoformat(),
        "command": " ".join(["python -m benchmarks", *(argv or sys.argv[1:])]),
        "quick": args.quick,
        "machine": host,
        "durations_s": durations,
        "rows": [row.as_json() for row in rows],
    })
    print(f"written: {args.output}")
    return 1 if any(row.verdict == "MISS" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

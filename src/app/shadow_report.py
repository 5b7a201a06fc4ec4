"""``zombiewatch shadow-report``: zombiewatch against the executor over a time window.

Read-only, like ``scan``: the namespace is judged as ``scan`` judges it (the
same list, the same rules; from the cluster only, so a Job the executor already
freed is still judged by its own state), and the request topic is read over the
window for the executor's failure updates (no consumer group, nothing
committed). The domain's rule (:mod:`zombiewatch.domain.shadow`) pairs them per
Job: agreement, reason disagreement, zombiewatch only, executor only, and how
often the executor sent each one. Only Jobs created within the window count on
zombiewatch's side. A report has no verdict times (it judges the cluster as it
is now), so the latency column is the running shadow daemon's
(``zombiewatch_shadow_latency_seconds``, the ``shadow_disagreement`` lines).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from returns.result import Failure

from zombiewatch.adapters.kafka.history import KafkaFailureHistory
from zombiewatch.adapters.kubernetes.listing import NamespaceSnapshot
from zombiewatch.app.scan import ScanRow, incident_lines, incidents_json, scan
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings, kafka_client_settings
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.shadow import (
    ExecutorFailure,
    OurVerdict,
    ShadowOutcome,
    ShadowRow,
    compare,
    tally,
)
from zombiewatch.domain.storm import DEFAULT_THRESHOLD, CauseGroup, group_by_cause

REPORT_CLIENT_ID = "zombiewatch-shadow-report"
"""The consumer's client id, so the broker's logs tell the report from the daemon."""


class ReportError(Exception):
    """The request topic could not be read; the message says why."""


@dataclass(frozen=True, slots=True)
class ShadowReport:
    namespace: str
    since: datetime
    until: datetime
    rows: tuple[ShadowRow, ...]
    incidents: tuple[CauseGroup, ...] = ()
    """Causes zombiewatch's storm guard would hold as incidents (the window's zombies)."""
    storm_threshold: int = DEFAULT_THRESHOLD


def _zombies_in_window(snapshot: NamespaceSnapshot, *, namespace: str, since: datetime,
                       until: datetime, grace: timedelta,
                       vault: str | None) -> list[tuple[ScanRow, Verdict]]:
    judged = scan(snapshot, namespace=namespace, now=until, grace=grace, vault=vault)
    return [(row, row.outcome) for row in judged.rows
            if isinstance(row.outcome, Verdict) and row.since is not None
            and since <= row.since <= until]


def would_publish(snapshot: NamespaceSnapshot, *, namespace: str, since: datetime,
                  until: datetime, grace: timedelta, vault: str | None) -> list[OurVerdict]:
    """The failures zombiewatch would publish for the Jobs created in the window, judged
    at ``until`` as ``scan`` judges them (verdict time unknown)."""
    return [OurVerdict(task_id=row.task_id, job_name=row.job_name, reason=verdict.reason,
                       at=None)
            for row, verdict in _zombies_in_window(snapshot, namespace=namespace, since=since,
                                                   until=until, grace=grace, vault=vault)]


def would_hold(snapshot: NamespaceSnapshot, *, namespace: str, since: datetime,
               until: datetime, grace: timedelta, vault: str | None,
               threshold: int = DEFAULT_THRESHOLD) -> tuple[CauseGroup, ...]:
    """The storm incidents among the window's zombies not reported yet: causes shared by
    ``threshold`` of them, whose failures the daemon's guard holds."""
    return group_by_cause(
        ((row.job_name, row.task_id, verdict.cause)
         for row, verdict in _zombies_in_window(snapshot, namespace=namespace, since=since,
                                                until=until, grace=grace, vault=vault)
         if row.unreported_zombie), threshold=threshold)


async def executor_failures(kafka: KafkaOptions, *, namespace: str, since: datetime,
                            until: datetime, timeout: float) -> tuple[ExecutorFailure, ...]:
    """The executor's failure updates on the request topic in the window."""
    settings = Settings(namespace=namespace, kubeconfig=None, kafka=kafka,
                        leader=LeaderOptions(enabled=False), serve_http=False)
    history = KafkaFailureHistory(
        replace(kafka_client_settings(settings), client_id=REPORT_CLIENT_ID), timeout=timeout)
    result = await history.executor_failures_since(since, until=until)
    if isinstance(result, Failure):
        error = result.failure()
        raise ReportError(f"cannot read the request topic: {error.kind.value}: "
                          f"{error.message}")
    return result.unwrap()


def report(*, namespace: str, since: datetime, until: datetime, ours: Sequence[OurVerdict],
           executor: Sequence[ExecutorFailure], incidents: Sequence[CauseGroup] = (),
           storm_threshold: int = DEFAULT_THRESHOLD) -> ShadowReport:
    return ShadowReport(namespace=namespace, since=since, until=until,
                        rows=compare(ours, executor), incidents=tuple(incidents),
                        storm_threshold=storm_threshold)


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat().replace("+00:00", "Z")


def render_table(result: ShadowReport) -> str:
    """One line per Job, then the counts per outcome."""
    header = ("TASK", "JOB", "OUTCOME", "ZOMBIEWATCH", "EXECUTOR", "SENDS", "EXECUTOR SENT")
    lines: list[Sequence[str]] = [header]
    for row in result.rows:
        lines.append((row.task_id, row.job_name, row.outcome.value,
                      row.ours.reason.value if row.ours is not None else "-",
                      row.executor_reason.value if row.executor_reason is not None else "-",
                      str(row.executor_sends), _time(row.executor_at)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
           for line in lines]
    counts = tally(result.rows)
    out.append("")
    out.append(f"namespace {result.namespace}, {_time(result.since)} .. {_time(result.until)}: "
               + ", ".join(f"{counts[o]} {o.value}" for o in ShadowOutcome
                           if o is not ShadowOutcome.PENDING))
    repeated = sum(1 for row in result.rows if row.executor_sends > 1)
    if repeated:
        out.append(f"{repeated} Jobs reported more than once by the executor")
    out.extend(incident_lines(result.incidents, result.storm_threshold))
    return "\n".join(out) + "\n"


def render_json(result: ShadowReport) -> str:
    """One JSON document for machines (stable keys)."""
    counts = tally(result.rows)
    document = {
        "namespace": result.namespace, "since": _time(result.since),
        "until": _time(result.until),
        "jobs": [{"task_id": row.task_id, "job": row.job_name, "outcome": row.outcome.value,
                  "zombiewatch": row.ours.reason.value if row.ours is not None else None,
                  "executor": row.executor_reason.value
                  if row.executor_reason is not None else None,
                  "executor_sends": row.executor_sends,
                  "executor_sent_at": [_time(f.sent_at) for f in row.executor]}
                 for row in result.rows],
        "counts": {o.value: counts[o] for o in ShadowOutcome if o is not ShadowOutcome.PENDING},
        "storm_threshold": result.storm_threshold,
        "incidents": incidents_json(result.incidents),
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"

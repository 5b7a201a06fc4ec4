"""``zombiewatch scan --namespace NS``: every in-flight Job, its verdict now or why not yet.

Read-only by construction: one list of Jobs, Pods and Configs (the listing
adapter), then the same rules the sweeper applies (``domain.triage``). It
publishes nothing and patches nothing, so it can run with a Role that may only
get/list, next to the daemon or instead of it.

Exit status (``EXIT_*``): 0 no zombie waiting to be reported, 1 at least one
Job is a zombie now that no one has reported (no annotation), 2 usage error,
3 the namespace could not be read (forbidden, unreachable, bad kubeconfig).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubernetes.config.config_exception import ConfigException

from zombiewatch.adapters.kubernetes.client import api_client_factory
from zombiewatch.adapters.kubernetes.errors import ForbiddenError, KubernetesError
from zombiewatch.adapters.kubernetes.listing import NamespaceSnapshot, list_namespace
from zombiewatch.domain.classification import GRACE, Verdict
from zombiewatch.domain.config import resolve
from zombiewatch.domain.triage import NotYet, Triage, format_duration, triage
from zombiewatch.domain.views import InFlightJob, JobView, PodView

EXIT_NO_ZOMBIES = 0
EXIT_ZOMBIES = 1
EXIT_USAGE = 2
EXIT_UNREADABLE = 3


class ScanError(Exception):
    """The namespace could not be read; the message says why, for the operator."""


def read_namespace(kubeconfig: str | None, namespace: str) -> NamespaceSnapshot:
    """The snapshot ``scan`` judges: get/list only, on Jobs, Pods and Configs."""
    try:
        client = api_client_factory(kubeconfig)()
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise ScanError(f"no usable cluster credentials ({kubeconfig or 'in-cluster'}): "
                        f"{exc}") from exc
    try:
        return list_namespace(client, namespace)
    except ForbiddenError as exc:
        raise ScanError(f"cannot read namespace {namespace}: {exc} (scan needs get and list "
                        "on jobs, pods and configs.agent.benjamin-borbe.de)") from exc
    except KubernetesError as exc:
        raise ScanError(f"cannot read namespace {namespace}: {exc}") from exc
    finally:
        client.close()


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One in-flight Job as ``scan`` shows it."""

    job: JobView
    pods: int
    age: timedelta
    outcome: Triage

    @property
    def zombie(self) -> bool:
        return isinstance(self.outcome, Verdict)

    @property
    def unreported_zombie(self) -> bool:
        return self.zombie and not self.job.reported


@dataclass(frozen=True, slots=True)
class ScanReport:
    namespace: str
    now: datetime
    rows: tuple[ScanRow, ...]
    completed: int
    """Labelled Jobs left out because their agent completed them."""
    skipped: int
    """Objects the translator refused (malformed)."""
    configs_missing: bool

    @property
    def exit_code(self) -> int:
        return EXIT_ZOMBIES if any(r.unreported_zombie for r in self.rows) else EXIT_NO_ZOMBIES


def scan(
    snapshot: NamespaceSnapshot, *, namespace: str, now: datetime, grace: timedelta = GRACE
) -> ScanReport:
    """Triage every labelled Job that has not completed, oldest first.

    The daemon's heartbeats (pod transitions it saw, the host's reports) are
    not in the cluster, so a Job past its deadline is judged without them.
    """
    config = resolve(snapshot.configs)
    pods_by_job: dict[str, list[PodView]] = {}
    for pod in snapshot.pods:
        pods_by_job.setdefault(pod.job_name, []).append(pod)
    rows: list[ScanRow] = []
    completed = 0
    for job in snapshot.jobs:
        if job.complete:
            completed += 1
            continue
        pods = pods_by_job.get(job.name, [])
        started = job.started_at or job.created_at
        record = InFlightJob(task_id=job.task_id, job_name=job.name, assignee=job.assignee,
                             started_at=started)
        outcome = triage(record, job=job, pods=pods, now=now,
                         deadline=config.deadline_for(job.assignee),
                         heartbeat_window=config.heartbeat_for(job.assignee),
                         last_heartbeat=None, grace=grace)
        rows.append(ScanRow(job=job, pods=len(pods), age=now - job.created_at, outcome=outcome))
    rows.sort(key=lambda r: (r.job.created_at, r.job.name))
    return ScanReport(namespace=namespace, now=now, rows=tuple(rows), completed=completed,
                      skipped=len(snapshot.skipped), configs_missing=snapshot.configs_missing)


def _verdict_cells(outcome: Triage) -> tuple[str, str]:
    if isinstance(outcome, Verdict):
        return outcome.reason.value, outcome.rule.value
    return "-", outcome.describe()


def _reported_cell(job: JobView) -> str:
    if job.reported_reason is None:
        return "-"
    return f"{job.reported_reason} at {job.reported_at or '?'}"


def render_table(report: ScanReport) -> str:
    """Fixed columns for a terminal; the last lines sum it up."""
    header = ("JOB", "ASSIGNEE", "AGE", "PODS", "VERDICT", "RULE / WHY NOT YET", "REPORTED",
              "REAPED")
    lines: list[Sequence[str]] = [header]
    for row in report.rows:
        verdict, why = _verdict_cells(row.outcome)
        lines.append((row.job.name, row.job.assignee or "-", format_duration(row.age),
                      str(row.pods), verdict, why, _reported_cell(row.job),
                      row.job.reaped_at or "-"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
           for line in lines]
    zombies = sum(r.zombie for r in report.rows)
    unreported = sum(r.unreported_zombie for r in report.rows)
    out.append("")
    out.append(f"namespace {report.namespace}: {len(report.rows)} in flight, {zombies} zombies "
               f"({unreported} not reported), {report.completed} completed not shown")
    if report.skipped:
        out.append(f"{report.skipped} malformed objects skipped")
    if report.configs_missing:
        out.append("no Config CRD installed: default deadlines and heartbeats apply")
    return "\n".join(out) + "\n"


def _row_json(row: ScanRow) -> dict[str, object]:
    job = row.job
    outcome = row.outcome
    entry: dict[str, object] = {
        "job": job.name, "task_id": job.task_id, "assignee": job.assignee,
        "created_at": job.created_at.isoformat().replace("+00:00", "Z"),
        "age_seconds": int(row.age.total_seconds()), "pods": row.pods, "zombie": row.zombie,
        "reason": None, "rule": None, "waiting": None, "why": None, "remaining_seconds": None,
        "reported": ({"reason": job.reported_reason, "at": job.reported_at}
                     if job.reported_reason is not None else None),
        "reaped_at": job.reaped_at,
    }
    if isinstance(outcome, Verdict):
        entry["reason"] = outcome.reason.value
        entry["rule"] = outcome.rule.value
    else:
        assert isinstance(outcome, NotYet)
        entry["waiting"] = outcome.waiting.value
        entry["why"] = outcome.describe()
        if outcome.remaining is not None:
            entry["remaining_seconds"] = max(0, int(outcome.remaining.total_seconds()))
    return entry


def render_json(report: ScanReport) -> str:
    """One JSON document for machines (stable keys)."""
    document = {
        "namespace": report.namespace,
        "now": report.now.isoformat().replace("+00:00", "Z"),
        "jobs": [_row_json(row) for row in report.rows],
        "zombies": sum(r.zombie for r in report.rows),
        "unreported_zombies": sum(r.unreported_zombie for r in report.rows),
        "completed": report.completed,
        "skipped": report.skipped,
        "configs_missing": report.configs_missing,
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"

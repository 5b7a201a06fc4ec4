"""``zombiewatch scan --namespace NS``: every in-flight Job, its verdict now or why not yet.

Read-only by construction: one list of Jobs, Pods and Configs (the listing
adapter), then the same rules the sweeper applies (``domain.triage``). It
publishes nothing and patches nothing, so it can run with a Role that may only
get/list, next to the daemon or instead of it.

Given Kafka brokers it also reads the controller's task event topic once, from
the beginning to its end offsets (no consumer group, nothing committed), as the
daemon's feed does: a Job its task no longer names is "superseded", and a task
naming a Job the namespace does not have is a row of its own. A topic it cannot
read is a warning; the scan then judges from the cluster only.

Exit status (``EXIT_*``): 0 no zombie waiting to be reported, 1 at least one
Job is a zombie now that no one has reported (no annotation; a Job the feed
names that does not exist cannot carry one), 2 usage error, 3 the namespace
could not be read (forbidden, unreachable, bad kubeconfig). An unreadable task
topic does not change it: the cluster-only verdicts set it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from zombiewatch.adapters.kafka.settings import KafkaClientSettings
from zombiewatch.adapters.kubernetes.client import api_client_factory
from zombiewatch.adapters.kubernetes.credentials import CredentialsError
from zombiewatch.adapters.kubernetes.errors import ForbiddenError, KubernetesError
from zombiewatch.adapters.kubernetes.listing import NamespaceSnapshot, list_namespace
from zombiewatch.app.settings import KafkaOptions, LeaderOptions, Settings, kafka_client_settings
from zombiewatch.domain.classification import GRACE, Verdict
from zombiewatch.domain.config import resolve
from zombiewatch.domain.doctrine import reason_line
from zombiewatch.domain.gate import DEFAULT_LIVENESS_WINDOW
from zombiewatch.domain.never_started import INIT_BOUND
from zombiewatch.domain.storm import DEFAULT_THRESHOLD, CauseGroup, group_by_cause
from zombiewatch.domain.tasks import TaskStates
from zombiewatch.domain.triage import (
    NotYet,
    Triage,
    Waiting,
    format_duration,
    triage,
    triage_missing,
)
from zombiewatch.domain.views import InFlightJob, JobView, PodView

if TYPE_CHECKING:
    from zombiewatch.adapters.kafka.task_events import FeedConsumer

EXIT_NO_ZOMBIES = 0
EXIT_ZOMBIES = 1
EXIT_USAGE = 2
EXIT_UNREADABLE = 3

FEED_CLIENT_ID = "zombiewatch-scan"
"""The consumer's client id, so the broker's logs tell scan from the daemon."""


class ScanError(Exception):
    """The namespace could not be read; the message says why, for the operator."""


def read_namespace(kubeconfig: str | None, context: str | None,
                   namespace: str) -> NamespaceSnapshot:
    """The snapshot ``scan`` judges: get/list only, on Jobs, Pods and Configs; the
    credentials found as kubectl finds them."""
    try:
        client = api_client_factory(kubeconfig, context)()
    except CredentialsError as exc:
        raise ScanError(str(exc)) from exc
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
class FeedSource:
    """Where the task event topic is and how to reach it (the daemon's settings)."""

    topic: str
    settings: KafkaClientSettings


def feed_source(kafka: KafkaOptions, namespace: str) -> FeedSource | None:
    """The daemon's feed topic and client settings for these options; None without
    brokers or with ``--no-task-events`` (the cluster only, as before the feed)."""
    if not kafka.brokers or not kafka.task_events:
        return None
    # Here, not at the top: the Kafka client (aiokafka) and the metrics only for a scan
    # that reads the feed.
    from zombiewatch.app.feedpart import feed_topic  # noqa: PLC0415

    settings = Settings(namespace=namespace, kubeconfig=None, kafka=kafka,
                        leader=LeaderOptions(enabled=False), serve_http=False)
    return FeedSource(topic=feed_topic(settings),
                      settings=replace(kafka_client_settings(settings),
                                       client_id=FEED_CLIENT_ID))


@dataclass(frozen=True, slots=True)
class FeedRead:
    """What ``scan`` got from the task event topic."""

    topic: str
    states: TaskStates | None
    """Every task read, to the end offsets; None when the topic could not be read."""
    problem: str | None = None
    """Why it could not be read (then the scan is the cluster's only)."""
    malformed: int = 0
    """Task events skipped as malformed (their tasks count as unknown)."""


def aiokafka_feed_consumer(settings: KafkaClientSettings) -> FeedConsumer:
    """The feed's real consumer, imported on first use (see ``feed_source``)."""
    from zombiewatch.adapters.kafka import task_events  # noqa: PLC0415

    return task_events.aiokafka_feed_consumer(settings)


async def read_task_feed(source: FeedSource, *, timeout: float) -> FeedRead:
    """Read the topic once to its end within ``timeout`` seconds; never raises for Kafka."""
    from zombiewatch.adapters.kafka.task_events import (  # noqa: PLC0415 - see feed_source
        FeedUnreadableError,
        KafkaTaskFeed,
    )

    feed = KafkaTaskFeed(source.settings, topic=source.topic, states=TaskStates(),
                         consumer_factory=aiokafka_feed_consumer)
    try:
        async with asyncio.timeout(timeout):
            await feed.read_to_end()
    except FeedUnreadableError as exc:
        return FeedRead(source.topic, None, str(exc))
    except TimeoutError:
        return FeedRead(source.topic, None, f"not read to its end within {timeout:g} s")
    return FeedRead(source.topic, feed.states, None, sum(feed.stats.malformed.values()))


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One in-flight Job as ``scan`` shows it: a Job of the namespace, or one that the
    task feed names as its task's current Job and the namespace does not have."""

    job_name: str
    task_id: str
    assignee: str
    job: JobView | None
    """None: the namespace has no such Job (a row from the task feed)."""
    since: datetime | None
    """The Job's creation, or (no Job) the task's ``job_started_at`` when known."""
    pods: int
    age: timedelta | None
    outcome: Triage
    settle: timedelta | None = None
    """No Job: how long the daemon waits after first seeing it missing (the pod grace)."""

    @property
    def missing(self) -> bool:
        return self.job is None

    @property
    def zombie(self) -> bool:
        return isinstance(self.outcome, Verdict)

    @property
    def unreported_zombie(self) -> bool:
        """A zombie without the annotation (a Job that does not exist can never have it)."""
        return self.zombie and (self.job is None or not self.job.reported)

    @property
    def superseded_by(self) -> str | None:
        outcome = self.outcome
        if isinstance(outcome, NotYet) and outcome.waiting is Waiting.SUPERSEDED:
            return outcome.detail
        return None


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
    feed: FeedRead | None = None
    """The task event topic, when brokers were given."""
    incidents: tuple[CauseGroup, ...] = ()
    """Causes shared by at least ``storm_threshold`` unreported zombies: the daemon's
    storm guard holds such failures as one incident."""
    storm_threshold: int = DEFAULT_THRESHOLD

    @property
    def exit_code(self) -> int:
        return EXIT_ZOMBIES if any(r.unreported_zombie for r in self.rows) else EXIT_NO_ZOMBIES


def scan(
    snapshot: NamespaceSnapshot, *, namespace: str, now: datetime, grace: timedelta = GRACE,
    feed: FeedRead | None = None, vault: str | None = None, init_bound: timedelta = INIT_BOUND,
    storm_threshold: int = DEFAULT_THRESHOLD,
) -> ScanReport:
    """Triage every labelled Job that has not completed, and with the feed read every task
    naming a Job the namespace does not have; oldest first.

    The daemon's heartbeats (pod transitions it saw, the host's reports) are
    not in the cluster, so a Job past its deadline is judged without them (the
    liveness window does not matter). ``vault`` resolves the feed's assignees to
    their per-vault Configs as the daemon does. The unreported zombies are grouped by
    cause: a cause shared by ``storm_threshold`` of them is an incident (scan has no
    window: it sees one moment).
    """
    config = resolve(snapshot.configs, vault=vault)
    states = feed.states if feed is not None else None
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
                         deadline=config.deadline_of_job(job.assignee),
                         heartbeat_window=DEFAULT_LIVENESS_WINDOW,
                         last_heartbeat=None, grace=grace, init_bound=init_bound,
                         task=states.get(job.task_id) if states is not None else None)
        rows.append(ScanRow(job_name=job.name, task_id=job.task_id, assignee=job.assignee,
                            job=job, since=job.created_at, pods=len(pods),
                            age=now - job.created_at, outcome=outcome))
    if states is not None:
        # As the sweep finds them, less its settling period (scan has no earlier looks):
        # the Jobs some task names that the namespace does not have, each with its task.
        absent = states.jobs_in_flight() - {job.name for job in snapshot.jobs}
        named = (states.naming(name) for name in sorted(absent))
        for task_id, state in (pair for pair in named if pair is not None):
            pods = pods_by_job.get(state.current_job, [])
            outcome = triage_missing(task_id, state, pods=pods, now=now,
                                     deadline=config.deadline_for(state.assignee),
                                     heartbeat_window=DEFAULT_LIVENESS_WINDOW,
                                     grace=grace)
            since = state.job_started_at
            rows.append(ScanRow(job_name=state.current_job, task_id=task_id,
                                assignee=state.assignee, job=None, since=since,
                                pods=len(pods), age=None if since is None else now - since,
                                outcome=outcome, settle=grace))
    rows.sort(key=lambda r: (r.since is None, r.since or now, r.job_name))
    incidents = group_by_cause(
        ((r.job_name, r.task_id, r.outcome.cause) for r in rows
         if r.unreported_zombie and isinstance(r.outcome, Verdict)),
        threshold=storm_threshold)
    return ScanReport(namespace=namespace, now=now, rows=tuple(rows), completed=completed,
                      skipped=len(snapshot.skipped), configs_missing=snapshot.configs_missing,
                      feed=feed, incidents=incidents, storm_threshold=storm_threshold)


def incident_lines(incidents: Sequence[CauseGroup], threshold: int) -> list[str]:
    """One line per incident (``scan`` and ``shadow-report`` tables)."""
    return [f"storm: {len(group.jobs)} zombies share {group.cause.key} (threshold "
            f"{threshold}): the daemon holds their failures until it clears or the bound "
            f"passes; jobs {', '.join(group.jobs)}" for group in incidents]


def incidents_json(incidents: Sequence[CauseGroup]) -> list[dict[str, object]]:
    """The incidents for ``-o json`` (``scan`` and ``shadow-report``)."""
    return [{"cause": group.cause.key, "cause_kind": group.cause.kind.value,
             "jobs": list(group.jobs), "tasks": list(group.tasks)} for group in incidents]


def _missing_note(row: ScanRow) -> str:
    settle = format_duration(row.settle or timedelta(0))
    return f"the daemon waits {settle} after first seeing it missing"


def _verdict_cells(row: ScanRow) -> tuple[str, str]:
    outcome = row.outcome
    if isinstance(outcome, Verdict):
        verdict, why = reason_line(outcome.reason, outcome.evidence), outcome.rule.value
        if row.missing:
            why = f"{why}: job not in the namespace ({_missing_note(row)})"
        return verdict, why
    why = outcome.describe()
    if row.missing:
        why = f"{why} ({_missing_note(row)})"
    return "-", why


def _detail_cell(row: ScanRow) -> str:
    """The failure's ``Detail:`` line (last column: its length shifts no other column)."""
    outcome = row.outcome
    return (outcome.detail or "-") if isinstance(outcome, Verdict) else "-"


def _reported_cell(job: JobView | None) -> str:
    if job is None or job.reported_reason is None:
        return "-"
    return f"{job.reported_reason} at {job.reported_at or '?'}"


def feed_warning(feed: FeedRead) -> str | None:
    """The one line for stderr when the topic could not be read, else None."""
    if feed.states is not None:
        return None
    return (f"warning: task feed {feed.topic} not read ({feed.problem}); judging from the "
            "cluster only")


def _feed_summary(report: ScanReport) -> list[str]:
    feed = report.feed
    if feed is None:
        return []
    if feed.states is None:
        return [f"task feed {feed.topic}: not read, cluster only ({feed.problem})"]
    superseded = sum(r.superseded_by is not None for r in report.rows)
    missing = sum(r.missing for r in report.rows)
    lines = [f"task feed {feed.topic}: {len(feed.states)} tasks, {superseded} Jobs superseded, "
             f"{missing} named Jobs not in the namespace"]
    if feed.malformed:
        lines.append(f"{feed.malformed} malformed task events skipped")
    return lines


def render_table(report: ScanReport) -> str:
    """Fixed columns for a terminal; the last lines sum it up."""
    header = ("JOB", "ASSIGNEE", "AGE", "PODS", "VERDICT", "RULE / WHY NOT YET", "REPORTED",
              "REAPED", "DETAIL")
    lines: list[Sequence[str]] = [header]
    for row in report.rows:
        verdict, why = _verdict_cells(row)
        lines.append((row.job_name, row.assignee or "-",
                      "-" if row.age is None else format_duration(row.age),
                      str(row.pods), verdict, why, _reported_cell(row.job),
                      (row.job.reaped_at if row.job is not None else None) or "-",
                      _detail_cell(row)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
           for line in lines]
    zombies = sum(r.zombie for r in report.rows)
    unreported = sum(r.unreported_zombie for r in report.rows)
    out.append("")
    out.append(f"namespace {report.namespace}: {len(report.rows)} in flight, {zombies} zombies "
               f"({unreported} not reported), {report.completed} completed not shown")
    out.extend(_feed_summary(report))
    out.extend(incident_lines(report.incidents, report.storm_threshold))
    if report.skipped:
        out.append(f"{report.skipped} malformed objects skipped")
    if report.configs_missing:
        out.append("no Config CRD installed: default deadlines apply")
    return "\n".join(out) + "\n"


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _row_json(row: ScanRow) -> dict[str, object]:
    job = row.job
    outcome = row.outcome
    entry: dict[str, object] = {
        "job": row.job_name, "task_id": row.task_id, "assignee": row.assignee,
        "created_at": _time(job.created_at if job is not None else None),
        "started_at": _time(job.started_at if job is not None else row.since),
        "age_seconds": None if row.age is None else int(row.age.total_seconds()),
        "pods": row.pods, "zombie": row.zombie,
        "reason": None, "evidence": None, "detail": None, "cause": None, "rule": None,
        "waiting": None, "why": None,
        "remaining_seconds": None,
        "reported": ({"reason": job.reported_reason, "at": job.reported_at}
                     if job is not None and job.reported_reason is not None else None),
        "reaped_at": job.reaped_at if job is not None else None,
        "missing": row.missing,
        "superseded_by": row.superseded_by,
        "settle_seconds": None if row.settle is None else int(row.settle.total_seconds()),
    }
    if isinstance(outcome, Verdict):
        entry["reason"] = outcome.reason.value
        entry["evidence"] = outcome.evidence or None
        entry["detail"] = outcome.detail or None
        entry["cause"] = outcome.cause.key if outcome.cause is not None else None
        entry["rule"] = outcome.rule.value
    else:
        entry["waiting"] = outcome.waiting.value
        entry["why"] = outcome.describe()
        if outcome.remaining is not None:
            entry["remaining_seconds"] = max(0, int(outcome.remaining.total_seconds()))
    return entry


def _feed_json(feed: FeedRead | None) -> dict[str, object] | None:
    if feed is None:
        return None
    return {"topic": feed.topic, "read": feed.states is not None,
            "tasks": None if feed.states is None else len(feed.states),
            "malformed": feed.malformed, "problem": feed.problem}


def render_json(report: ScanReport) -> str:
    """One JSON document for machines (stable keys)."""
    document = {
        "namespace": report.namespace,
        "now": _time(report.now),
        "jobs": [_row_json(row) for row in report.rows],
        "zombies": sum(r.zombie for r in report.rows),
        "unreported_zombies": sum(r.unreported_zombie for r in report.rows),
        "completed": report.completed,
        "skipped": report.skipped,
        "configs_missing": report.configs_missing,
        "task_feed": _feed_json(report.feed),
        "storm_threshold": report.storm_threshold,
        "incidents": incidents_json(report.incidents),
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"

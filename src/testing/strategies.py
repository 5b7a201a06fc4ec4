"""Hypothesis strategies for zombiewatch's domain, named after what they generate.

Pods and Jobs in every state (and the ones each row of the pod table fires
on), Configs, task files as the controller reads them (typed frontmatter,
bodies with look-alike headings), task file *texts* (broken ones included)
and record values (any bytes up to well-formed envelopes of both commands).
:func:`register_strategies` registers them for the views and
:class:`~zombiewatch.domain.taskfile.TaskFile` (``st.from_type(PodView)``);
importing the module registers nothing.
"""

from __future__ import annotations

import json
import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from zombiewatch.domain.classification import (
    CONTAINER_CONFIG_WAITING_REASONS,
    CRASH_LOOP_WAITING_REASONS,
    DISRUPTION_REASONS,
    GRACE,
    IMAGE_PULL_WAITING_REASONS,
    OOM_KILLED_REASON,
)
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.taskfile import TaskFile, Value
from zombiewatch.domain.views import (
    AgentConfigView,
    ContainerView,
    InFlightJob,
    JobView,
    PodPhase,
    PodView,
)
from zombiewatch.testing.raw_api import json_values

__all__ = [
    "ALL_WAITING_REASONS",
    "DISRUPTION_REASON_SAMPLES",
    "LOOKALIKE_STRINGS",
    "NEUTRAL_WAITING_REASONS",
    "POD_TABLE_REASONS",
    "REFERENCE_NOW",
    "agent_config_views",
    "assignees",
    "command_data",
    "container_views",
    "durations",
    "envelope_values",
    "failing_pod_views",
    "frontmatter_keys",
    "frontmatter_scalars",
    "frontmatter_values",
    "healthy_pod_views",
    "in_flight_jobs",
    "job_names",
    "job_views",
    "neutral_container_views",
    "odd_assignees",
    "pod_views",
    "project_task_files",
    "record_values",
    "register_strategies",
    "task_bodies",
    "task_file_texts",
    "task_files",
    "task_ids",
    "utc_datetimes",
]

REFERENCE_NOW = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)
"""The ``now`` that :func:`failing_pod_views` pods are built to fail at."""

NEUTRAL_WAITING_REASONS = ("ContainerCreating", "PodInitializing")
"""Waiting reasons no row of the pod table looks at."""

ALL_WAITING_REASONS = (
    *sorted(IMAGE_PULL_WAITING_REASONS),
    *sorted(CRASH_LOOP_WAITING_REASONS),
    *sorted(CONTAINER_CONFIG_WAITING_REASONS),
    *NEUTRAL_WAITING_REASONS,
)

TERMINATED_REASON_SAMPLES = ("Completed", "Error", OOM_KILLED_REASON, "ContainerStatusUnknown")
"""``state.terminated.reason`` values the node was seen to write (tests/data/corpus)."""

_DNS_CHARS = string.ascii_lowercase + string.digits

DISRUPTION_REASON_SAMPLES = (*sorted(DISRUPTION_REASONS), "")
"""``DisruptionTarget`` reasons Kubernetes writes, and none at all."""


def utc_datetimes() -> st.SearchStrategy[datetime]:
    """Timezone-aware UTC datetimes in a plausible range (whole microseconds)."""
    return st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
    )


def durations(*, max_seconds: int = 7200) -> st.SearchStrategy[timedelta]:
    return st.integers(min_value=0, max_value=max_seconds).map(lambda s: timedelta(seconds=s))


def task_ids() -> st.SearchStrategy[str]:
    """Task identifiers: mostly UUIDs, sometimes short label-safe ids."""
    return st.one_of(
        st.uuids().map(str),
        st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=20),
    )


def job_names() -> st.SearchStrategy[str]:
    """Valid DNS-1123 labels of at most 63 characters."""
    edge = st.sampled_from(_DNS_CHARS)
    middle = st.text(alphabet=_DNS_CHARS + "-", max_size=61)
    return st.one_of(
        edge,
        st.tuples(edge, middle, edge).map("".join),
    )


def assignees() -> st.SearchStrategy[str]:
    """Agent names as Configs name them (valid label values, possibly empty)."""
    return st.one_of(
        st.just(""),
        st.sampled_from(["claude", "codex-agent", "gemini_v2", "Agent.Smith"]),
        st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,40}[A-Za-z0-9])?", fullmatch=True),
    )


def odd_assignees() -> st.SearchStrategy[str]:
    """Any text at all: what a careless host might pass as an assignee."""
    return st.text(max_size=120)


def container_views(
    *, waiting_reasons: st.SearchStrategy[str | None] | None = None
) -> st.SearchStrategy[ContainerView]:
    """Any container state, or only the given waiting reasons."""
    reasons = (
        waiting_reasons
        if waiting_reasons is not None
        else st.one_of(st.none(), st.sampled_from(ALL_WAITING_REASONS), st.text(max_size=12))
    )
    return st.builds(
        ContainerView,
        name=st.sampled_from(["agent", "init", "sidecar"]),
        waiting_reason=reasons,
        terminated_exit_code=st.one_of(st.none(), st.integers(min_value=-1, max_value=255)),
        terminated_reason=st.one_of(
            st.none(), st.sampled_from(TERMINATED_REASON_SAMPLES), st.text(max_size=12)),
        running=st.booleans(),
    )


def neutral_container_views() -> st.SearchStrategy[ContainerView]:
    """Containers no row of the pod table fires on, whatever the pod phase."""
    return st.builds(
        ContainerView,
        name=st.sampled_from(["agent", "init", "sidecar"]),
        waiting_reason=st.one_of(st.none(), st.sampled_from(NEUTRAL_WAITING_REASONS)),
        terminated_exit_code=st.one_of(st.none(), st.just(0)),
        terminated_reason=st.one_of(st.none(), st.sampled_from(TERMINATED_REASON_SAMPLES)),
        running=st.booleans(),
    )


def pod_views(
    *,
    containers: st.SearchStrategy[ContainerView] | None = None,
    phases: st.SearchStrategy[PodPhase] | None = None,
    created_at: st.SearchStrategy[datetime] | None = None,
    job_name: str | None = None,
) -> st.SearchStrategy[PodView]:
    """Arbitrary pods of agent Jobs."""
    items = containers if containers is not None else container_views()
    return st.builds(
        PodView,
        namespace=st.just("agents"),
        name=st.text(alphabet=_DNS_CHARS, min_size=1, max_size=10),
        uid=st.uuids().map(str),
        task_id=task_ids(),
        job_name=st.just(job_name) if job_name is not None else job_names(),
        phase=phases if phases is not None else st.sampled_from(PodPhase),
        status_reason=st.one_of(st.none(), st.sampled_from(["Evicted", "Preempting", ""])),
        created_at=created_at if created_at is not None else utc_datetimes(),
        scheduled=st.one_of(st.none(), st.booleans()),
        init_containers=st.lists(items, max_size=2).map(tuple),
        containers=st.lists(items, max_size=3).map(tuple),
        disruption_reason=st.one_of(st.none(), st.sampled_from(DISRUPTION_REASON_SAMPLES)),
    )


def healthy_pod_views(
    *, created_at: st.SearchStrategy[datetime] | None = None
) -> st.SearchStrategy[PodView]:
    """Pods no row of the pod table fires on, at any time."""
    return pod_views(
        containers=neutral_container_views(),
        phases=st.sampled_from([PodPhase.RUNNING, PodPhase.SUCCEEDED, PodPhase.UNKNOWN]),
        created_at=created_at,
    ).map(lambda pod: _replace_pod(pod, status_reason=None))


def _replace_pod(pod: PodView, **changes: object) -> PodView:
    return replace(pod, **changes)  # type: ignore[arg-type]


def _with_trigger(
    triggers: st.SearchStrategy[ContainerView], *, init: bool
) -> st.SearchStrategy[tuple[tuple[ContainerView, ...], tuple[ContainerView, ...]]]:
    """(init containers, containers) where one container is a trigger, the rest neutral."""
    neutral = st.lists(neutral_container_views(), max_size=2)

    def place(
        parts: tuple[list[ContainerView], ContainerView, list[ContainerView]],
    ) -> tuple[tuple[ContainerView, ...], tuple[ContainerView, ...]]:
        before, trigger, after = parts
        if init:
            return (*before, trigger), tuple(after)
        return tuple(before), (trigger, *after)

    return st.tuples(neutral, triggers, neutral).map(place)


def _waiting(reasons: frozenset[str]) -> st.SearchStrategy[ContainerView]:
    return st.builds(
        ContainerView,
        name=st.just("agent"),
        waiting_reason=st.sampled_from(sorted(reasons)),
    )


def failing_pod_views(reason: ZombieReason) -> st.SearchStrategy[PodView]:
    """Pods that the pod table classifies as ``reason`` at :data:`REFERENCE_NOW`.

    Only the reasons the pod table can produce are accepted.
    """
    old = st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=(REFERENCE_NOW - GRACE).replace(tzinfo=None),
        timezones=st.just(UTC),
    )
    init = st.booleans()
    base = pod_views(containers=neutral_container_views(), created_at=old).map(
        lambda pod: _replace_pod(pod, disruption_reason=None))

    def combine(
        pod: PodView,
        parts: tuple[tuple[ContainerView, ...], tuple[ContainerView, ...]],
        **changes: object,
    ) -> PodView:
        return _replace_pod(
            pod, init_containers=parts[0], containers=parts[1], status_reason=None, **changes
        )

    def triggered(
        triggers: st.SearchStrategy[ContainerView], **changes: object
    ) -> st.SearchStrategy[PodView]:
        return init.flatmap(
            lambda i: st.tuples(base, _with_trigger(triggers, init=i)).map(
                lambda t: combine(t[0], t[1], **changes)
            )
        )

    if reason is ZombieReason.IMAGE_PULL_BACKOFF:
        return triggered(_waiting(IMAGE_PULL_WAITING_REASONS))
    if reason is ZombieReason.POD_CRASH_NO_STDOUT:
        crashed = st.builds(
            ContainerView,
            name=st.just("agent"),
            terminated_exit_code=st.integers(min_value=1, max_value=255),
            terminated_reason=st.one_of(
                st.none(), st.text(max_size=12).filter(lambda r: r != OOM_KILLED_REASON)),
        )
        return st.one_of(
            triggered(_waiting(CRASH_LOOP_WAITING_REASONS)),
            triggered(crashed, phase=PodPhase.FAILED),
        )
    if reason is ZombieReason.POD_OOM_KILLED:
        oom_killed = st.builds(
            ContainerView,
            name=st.just("agent"),
            terminated_exit_code=st.integers(min_value=1, max_value=255),
            terminated_reason=st.just(OOM_KILLED_REASON),
        )
        return triggered(oom_killed, phase=PodPhase.FAILED)
    if reason is ZombieReason.POD_EVICTED:
        return st.one_of(
            base.map(lambda pod: _replace_pod(pod, status_reason="Evicted")),
            st.tuples(base, st.sampled_from(DISRUPTION_REASON_SAMPLES)).map(
                lambda t: _replace_pod(t[0], status_reason=None, phase=PodPhase.FAILED,
                                       disruption_reason=t[1])),
        )
    if reason is ZombieReason.POD_NOT_SCHEDULED:
        return base.map(
            lambda pod: _replace_pod(
                pod, phase=PodPhase.PENDING, scheduled=False, status_reason=None
            )
        )
    if reason is ZombieReason.CONTAINER_CONFIG_ERROR:
        return triggered(_waiting(CONTAINER_CONFIG_WAITING_REASONS), scheduled=True)
    raise ValueError(f"the pod table never produces {reason}")


POD_TABLE_REASONS = (
    ZombieReason.IMAGE_PULL_BACKOFF,
    ZombieReason.POD_CRASH_NO_STDOUT,
    ZombieReason.POD_OOM_KILLED,
    ZombieReason.POD_EVICTED,
    ZombieReason.POD_NOT_SCHEDULED,
    ZombieReason.CONTAINER_CONFIG_ERROR,
)


def job_views(*, name: str | None = None) -> st.SearchStrategy[JobView]:
    """Arbitrary agent Jobs, any condition combination, reported or not."""
    return st.builds(
        JobView,
        namespace=st.just("agents"),
        name=st.just(name) if name is not None else job_names(),
        uid=st.uuids().map(str),
        task_id=task_ids(),
        assignee=assignees(),
        created_at=utc_datetimes(),
        started_at=st.one_of(st.none(), utc_datetimes()),
        failed_reason=st.one_of(
            st.none(),
            st.sampled_from(["DeadlineExceeded", "BackoffLimitExceeded", "", "PodFailurePolicy"]),
        ),
        complete=st.booleans(),
        reported_reason=st.one_of(st.none(), st.sampled_from(ZombieReason).map(str)),
        reported_at=st.none(),
        failure_target=st.booleans(),
        failed_at=st.one_of(st.none(), utc_datetimes()),
        reaped_at=st.one_of(st.none(), st.just("2026-06-02T09:47:00Z")),
    )


def in_flight_jobs() -> st.SearchStrategy[InFlightJob]:
    return st.builds(
        InFlightJob,
        task_id=task_ids(),
        job_name=job_names(),
        assignee=assignees(),
        started_at=st.one_of(st.none(), utc_datetimes()),
    )


def agent_config_views() -> st.SearchStrategy[AgentConfigView]:
    """Config objects, possibly with invalid knobs."""
    return st.builds(
        AgentConfigView,
        namespace=st.just("agents"),
        name=st.text(alphabet=_DNS_CHARS, min_size=1, max_size=12),
        assignee=assignees(),
        type=st.sampled_from(["job", "service"]),
        zombie_sweeper_interval_seconds=st.one_of(
            st.none(), st.integers(min_value=-5, max_value=600)
        ),
        zombie_job_timeout_seconds=st.one_of(st.none(), st.integers(min_value=-5, max_value=7200)),
        image=st.one_of(st.none(), st.just("registry.example/agent:1")),
        task_types=st.lists(
            st.sampled_from(["code", "review", "docs"]), max_size=2, unique=True
        ).map(tuple),
        env=st.lists(
            st.tuples(st.sampled_from(["MODEL", "LOG_LEVEL", "TASK_ID"]), st.text(max_size=8)),
            max_size=3,
        ).map(tuple),
    )


def frontmatter_keys() -> st.SearchStrategy[str]:
    """Keys a task file may carry: the project's, YAML look-alikes, and any text."""
    return st.one_of(
        st.sampled_from(
            ["task_identifier", "assignee", "phase", "status", "current_job", "trigger_count",
             "max_triggers", "previous_assignee", "spawn_notification", "job_started_at"]
        ),
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,15}", fullmatch=True),
        st.sampled_from(["1", "true", "null", "~", "yes", "a b", "a: b", "#x", "-", "", "ä"]),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    )


LOOKALIKE_STRINGS = (
    "", "true", "No", "yes", "on", "y", "null", "~", "42", "-7", "010", "0x1F", "1e3", "1.5",
    ".5", "12:30", "2026-06-02", "2026-06-02T09:46:00Z", "2026-07-15 14:05:30", "a: b", "x #y",
    " ", "-", "---", "...", "- x", "@bot", "it's", "multi\nline", "trailing \n", "\ttab",
    "deploy \U0001F680", "\u2028", "NaN", ".inf",
)
"""Strings the controller's YAML must keep as strings."""


def frontmatter_scalars() -> st.SearchStrategy[Value]:
    """Every scalar kind yaml.v3 reads: str, int (uint64 too), float, bool, null, timestamp."""
    return st.one_of(
        st.text(alphabet=st.characters(codec="utf-8")),
        st.sampled_from(LOOKALIKE_STRINGS),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
        st.datetimes(
            min_value=datetime(1000, 1, 1),
            max_value=datetime(9999, 12, 31),
            timezones=st.sampled_from(
                [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))]
            ),
        ),
    )


def frontmatter_values() -> st.SearchStrategy[Value]:
    """Scalars, lists and string-keyed maps of them."""
    return st.recursive(
        frontmatter_scalars(),
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(frontmatter_keys(), children, max_size=3),
        ),
        max_leaves=8,
    )


def task_bodies() -> st.SearchStrategy[str]:
    """Markdown bodies, sometimes with sections, rules, CR characters or look-alike headings."""
    lines = st.one_of(
        st.text(alphabet=st.characters(exclude_characters="\n"), max_size=20),
        st.sampled_from(
            ["## Failure", "## Failure (old)", "## Failure2", "## Notes", "### Sub", "# Title",
             "---", "## Failure\r", "```", "- item", ""]
        ),
    )
    return st.lists(lines, max_size=8).map("\n".join)


def task_files() -> st.SearchStrategy[TaskFile]:
    """Typed task files (what the controller reads a file as)."""
    return st.builds(
        TaskFile,
        frontmatter=st.dictionaries(frontmatter_keys(), frontmatter_values(), max_size=8),
        body=st.one_of(task_bodies(), st.text()),
    )


def project_task_files(
    *, task_id: str | None = None, max_triggers: st.SearchStrategy[Value] | None = None
) -> st.SearchStrategy[TaskFile]:
    """Task files shaped like the agent system's: identifier, assignee, phase, counters."""
    return st.builds(
        lambda tid, assignee, phase, count, cap, body: TaskFile(
            frontmatter={
                "task_identifier": tid, "assignee": assignee, "phase": phase,
                "status": "in_progress", "current_job": "", "trigger_count": count,
                **({} if cap is None else {"max_triggers": cap}),
            },
            body=body,
        ),
        st.just(task_id) if task_id is not None else st.uuids().map(str),
        assignees(),
        st.sampled_from(["in_progress", "planning", "human_review", "done"]),
        st.integers(min_value=0, max_value=6),
        max_triggers
        if max_triggers is not None
        else st.one_of(
            st.none(), st.integers(min_value=-1, max_value=6), st.just("5"), st.just(2.5)
        ),
        task_bodies(),
    )


def task_file_texts() -> st.SearchStrategy[str]:
    """Task file texts: well-formed, hand-edited YAML, broken splits, and any text at all."""
    hand_written = st.lists(
        st.sampled_from(
            ["task_identifier: t1", "assignee: claude", "trigger_count: 010", "max_triggers: 2.5",
             "tags: [a, b]", "meta:\n  k: v", "note: |\n  a\n  b", "base: &b x", "alias: *b",
             "<<: {m: 1}", "due: 2026-06-30", "dup: 1", "dup: 2", "bad: [", "# comment", "",
             "---owner: x", "k: 'q'", 'e: "\\U0001F9DF"', "\t tab: x"]
        ),
        max_size=8,
    ).map("\n".join)
    delimiters = st.sampled_from(["---\n", "---\r\n", "", "\n---\n", "\ufeff---\n"])
    closings = st.sampled_from(["\n---\n", "\n---\r\n", "\n--- \n", "\n---", ""])
    return st.one_of(
        st.tuples(delimiters, hand_written, closings, task_bodies()).map("".join),
        st.text(),
    )


def envelope_values(data: st.SearchStrategy[object] | None = None) -> st.SearchStrategy[bytes]:
    """Record values in the wire shape, with odd envelope fields and any data."""
    fields = st.fixed_dictionaries(
        {
            "requestID": st.one_of(st.uuids().map(str), st.sampled_from(["", "x"])),
            "requestTime": st.sampled_from(
                ["2026-06-02T09:46:00Z", "2026-06-02T09:46:00.5+02:00", "yesterday", ""]
            ),
            "initiator": st.sampled_from(["executor", "", " "]),
            "operation": st.sampled_from(
                ["update-frontmatter", "increment-frontmatter", "delete-frontmatter",
                 "Update-Frontmatter", ""]
            ),
            "data": data if data is not None else json_values(),
        },
        optional={
            "id": st.text(max_size=4),
            "header": st.dictionaries(st.text(max_size=4), st.text(max_size=4)),
        },
    )
    return fields.map(lambda obj: json.dumps(obj).encode("utf-8"))


def command_data() -> st.SearchStrategy[object]:
    """``data`` objects of both commands, well and badly typed."""
    return st.fixed_dictionaries(
        {},
        optional={
            "taskIdentifier": st.one_of(st.just("t1"), st.none(), st.integers()),
            "updates": st.one_of(
                st.dictionaries(frontmatter_keys(), json_values(), max_size=4), st.none(),
                st.lists(st.integers(), max_size=2),
            ),
            "body": st.one_of(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "heading": st.sampled_from(["## Failure", "", "#"]),
                        "section": st.text(max_size=30),
                    },
                ),
                st.none(),
                st.text(max_size=3),
            ),
            "field": st.sampled_from(["trigger_count", "", "max_triggers"]),
            "delta": st.one_of(
                st.integers(),
                st.floats(allow_nan=False, allow_infinity=False),
                st.none(),
                st.just("1"),
            ),
        },
    )


def record_values() -> st.SearchStrategy[bytes]:
    """Any bytes, JSON that is not an envelope, and envelopes of both commands."""
    return st.one_of(
        st.binary(max_size=64),
        json_values().map(lambda obj: json.dumps(obj).encode("utf-8")),
        envelope_values(),
        envelope_values(command_data()),
    )


def register_strategies() -> None:
    """Register these strategies for the views and :class:`TaskFile` with Hypothesis.

    Afterwards ``st.from_type(PodView)`` (and ``st.builds`` inferring a view
    argument) draws from :func:`pod_views` and its siblings. Registration is
    global to the process, so importing this module does not do it: a host's
    suite calls this once (in its ``conftest.py``) when it wants it; calling it
    again registers the same strategies again.
    """
    for view, strategy in (
        (TaskFile, task_files()),
        (PodView, pod_views()),
        (JobView, job_views()),
        (ContainerView, container_views()),
        (AgentConfigView, agent_config_views()),
        (InFlightJob, in_flight_jobs()),
    ):
        st.register_type_strategy(view, strategy)

"""Agent configuration (SPEC §8): defaults, floors, validation and resolution.

``resolve`` turns the raw Config views into effective settings per assignee
plus the problems found; an invalid field falls back to its default (the app
logs and counts the problems). It is a single pass over a handful of objects,
cheap enough for the sweeper to call on every tick, which is how the interval
is "re-read every tick".

Which Config applies is decided here, and only here, as today's executor
decides it: a **Job** was made from the Config whose ``spec.assignee`` its
assignee label carries (the composed ``{assignee}-{vault}`` under per-vault
Configs), so a Job's settings come from that Config exactly
(:meth:`ResolvedConfig.config_of_job`); an **assignee** named by a task (the
feed, the host) resolves to ``{assignee}-{vault}`` first, then the plain
assignee (:meth:`ResolvedConfig.config_for`). Without a vault only the plain
assignee is looked up (the executor before per-vault Configs). ``type:
service`` Configs run StatefulSets, never Jobs: they are ignored.

A Config's ``heartbeat`` is the agent system's re-spawn interval, not a
liveness window: it is not read (the liveness window is the daemon's own
setting, :data:`zombiewatch.domain.gate.DEFAULT_LIVENESS_WINDOW`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from zombiewatch.domain.views import AgentConfigView

VAULT_NAME_PATTERN: Final = r"^[a-z][a-z0-9-]*$"
"""The form of a vault name (the executor's ``VAULT_NAME``)."""
_VAULT_NAME = re.compile(VAULT_NAME_PATTERN)

SERVICE_TYPE: Final = "service"
"""``spec.type`` of a Config that runs a StatefulSet (no task Jobs): ignored."""

DEFAULT_SWEEPER_INTERVAL_SECONDS: Final = 60
MIN_SWEEPER_INTERVAL_SECONDS: Final = 10
"""Below 10 s a sweep over every in-flight Job buys nothing but CPU: pod events
are already handled as they arrive; the sweeper is the safety net."""

DEFAULT_JOB_TIMEOUT_SECONDS: Final = 1800
MIN_JOB_TIMEOUT_SECONDS: Final = 30
"""A Job deadline under 30 s would kill agents before their image is even pulled."""

DEFAULT_DEDUPE_TTL_FACTOR: Final = 2
"""The in-memory dedupe TTL is twice the (largest) Job timeout (SPEC §7)."""

FIELD_ASSIGNEE: Final = "assignee"
FIELD_SWEEPER_INTERVAL: Final = "zombieSweeperIntervalSeconds"
FIELD_JOB_TIMEOUT: Final = "zombieJobTimeoutSeconds"

SWEEPER_INTERVAL_MESSAGE: Final = (
    f"{FIELD_SWEEPER_INTERVAL} invalid: must be >= {MIN_SWEEPER_INTERVAL_SECONDS}"
)
JOB_TIMEOUT_MESSAGE: Final = f"{FIELD_JOB_TIMEOUT} invalid: must be >= {MIN_JOB_TIMEOUT_SECONDS}"
EMPTY_ASSIGNEE_MESSAGE: Final = f"{FIELD_ASSIGNEE} invalid: must not be empty"


def valid_vault_name(name: str) -> bool:
    """True when ``name`` has the form of a vault name (``^[a-z][a-z0-9-]*$``)."""
    return _VAULT_NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectiveConfig:
    """One agent's settings after validation, defaults filled in."""

    assignee: str
    sweeper_interval: timedelta = timedelta(seconds=DEFAULT_SWEEPER_INTERVAL_SECONDS)
    job_timeout: timedelta = timedelta(seconds=DEFAULT_JOB_TIMEOUT_SECONDS)
    """The Job deadline: ``activeDeadlineSeconds`` and the sweeper's deadline."""
    image: str | None = None
    task_types: tuple[str, ...] = ()
    """Task types the agent accepts; empty means any."""
    env: tuple[tuple[str, str], ...] = ()
    namespace: str = ""
    name: str = ""
    """The Config object this came from (empty for the built-in defaults)."""

    def accepts_task_type(self, task_type: str) -> bool:
        """An agent with no declared task types, or a task without one, never mismatches."""
        return not self.task_types or not task_type or task_type in self.task_types


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigProblem:
    """One invalid field of one Config object; the field fell back to its default."""

    namespace: str
    name: str
    field: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedConfig:
    """All agents' effective settings, and what was wrong with the input."""

    by_assignee: Mapping[str, EffectiveConfig] = field(default_factory=dict)
    """By ``spec.assignee`` (a plain or a composed ``{assignee}-{vault}`` name)."""
    problems: tuple[ConfigProblem, ...] = ()
    vault: str | None = None
    """The vault whose per-vault Configs come first; None: plain assignees only."""

    def config_for(self, assignee: str) -> EffectiveConfig | None:
        """The Config an assignee named by a task resolves to: ``{assignee}-{vault}``
        first, then the plain ``assignee``; None when neither is configured."""
        if self.vault is not None:
            composed = self.by_assignee.get(f"{assignee}-{self.vault}")
            if composed is not None:
                return composed
        return self.by_assignee.get(assignee)

    def config_of_job(self, label: str) -> EffectiveConfig | None:
        """The Config a Job was made from: the one whose ``spec.assignee`` is the Job's
        assignee label (already the resolved name; never composed again)."""
        return self.by_assignee.get(label)

    def deadline_for(self, assignee: str) -> timedelta:
        """The Job timeout for an assignee named by a task (:meth:`config_for`); 1800 s
        without a Config."""
        return _timeout(self.config_for(assignee))

    def deadline_of_job(self, label: str) -> timedelta:
        """The Job timeout of a Job with this assignee label (:meth:`config_of_job`);
        1800 s without a Config."""
        return _timeout(self.config_of_job(label))

    @property
    def sweeper_interval(self) -> timedelta:
        """The smallest configured interval (default 60 s when nothing is configured)."""
        if not self.by_assignee:
            return timedelta(seconds=DEFAULT_SWEEPER_INTERVAL_SECONDS)
        return min(config.sweeper_interval for config in self.by_assignee.values())

    @property
    def dedupe_ttl(self) -> timedelta:
        """Twice the largest Job timeout (3600 s by default), for the in-memory dedupe."""
        longest = max(
            (config.job_timeout for config in self.by_assignee.values()),
            default=timedelta(seconds=DEFAULT_JOB_TIMEOUT_SECONDS),
        )
        return DEFAULT_DEDUPE_TTL_FACTOR * longest

    def accepts_task_type(self, assignee: str, task_type: str) -> bool:
        """False only when the assignee's Config (:meth:`config_for`) lists task types and
        ``task_type`` is not one.

        An assignee without a Config is not judged here (the dispatch path
        cannot spawn it anyway, and a type mismatch would be the wrong story).
        """
        config = self.config_for(assignee)
        return config is None or config.accepts_task_type(task_type)


def _timeout(config: EffectiveConfig | None) -> timedelta:
    return config.job_timeout if config else timedelta(seconds=DEFAULT_JOB_TIMEOUT_SECONDS)


def _problem(view: AgentConfigView, field_name: str, message: str) -> ConfigProblem:
    return ConfigProblem(
        namespace=view.namespace, name=view.name, field=field_name, message=message
    )


def _seconds_at_least(
    view: AgentConfigView, value: int | None, *, minimum: int, default: int, field: str,
    message: str, problems: list[ConfigProblem],
) -> int:
    """``value`` when set and at least ``minimum``; else ``default`` (and a problem if set)."""
    if value is None:
        return default
    if value >= minimum:
        return value
    problems.append(_problem(view, field, message))
    return default


def effective_config(view: AgentConfigView) -> tuple[EffectiveConfig, list[ConfigProblem]]:
    """One Config's effective settings and the problems found (invalid → default)."""
    problems: list[ConfigProblem] = []
    interval = _seconds_at_least(
        view, view.zombie_sweeper_interval_seconds, minimum=MIN_SWEEPER_INTERVAL_SECONDS,
        default=DEFAULT_SWEEPER_INTERVAL_SECONDS, field=FIELD_SWEEPER_INTERVAL,
        message=SWEEPER_INTERVAL_MESSAGE, problems=problems)
    timeout = _seconds_at_least(
        view, view.zombie_job_timeout_seconds, minimum=MIN_JOB_TIMEOUT_SECONDS,
        default=DEFAULT_JOB_TIMEOUT_SECONDS, field=FIELD_JOB_TIMEOUT,
        message=JOB_TIMEOUT_MESSAGE, problems=problems)
    config = EffectiveConfig(
        assignee=view.assignee,
        sweeper_interval=timedelta(seconds=interval),
        job_timeout=timedelta(seconds=timeout),
        image=view.image or None,
        task_types=view.task_types,
        env=view.env,
        namespace=view.namespace,
        name=view.name,
    )
    return config, problems


def resolve(configs: Iterable[AgentConfigView], *, vault: str | None = None) -> ResolvedConfig:
    """Effective settings per assignee, plus every problem found; ``vault`` for the
    per-vault lookup (:meth:`ResolvedConfig.config_for`).

    A ``type: service`` Config is ignored (it runs no Jobs). A Config with an
    empty assignee is ignored (one problem). When two Configs name the same
    assignee, the one first in ``(namespace, name)`` order wins and the other
    is reported, so the result does not depend on informer order.
    """
    by_assignee: dict[str, EffectiveConfig] = {}
    problems: list[ConfigProblem] = []
    for view in sorted(configs, key=lambda v: (v.namespace, v.name)):
        if view.type == SERVICE_TYPE:
            continue
        if not view.assignee:
            problems.append(_problem(view, FIELD_ASSIGNEE, EMPTY_ASSIGNEE_MESSAGE))
            continue
        winner = by_assignee.get(view.assignee)
        if winner is not None:
            problems.append(
                _problem(
                    view,
                    FIELD_ASSIGNEE,
                    f"{FIELD_ASSIGNEE} duplicate: {view.assignee!r} is already configured "
                    f"by {winner.namespace}/{winner.name}; this Config is ignored",
                )
            )
            continue
        config, config_problems = effective_config(view)
        by_assignee[view.assignee] = config
        problems.extend(config_problems)
    return ResolvedConfig(by_assignee=by_assignee, problems=tuple(problems), vault=vault)

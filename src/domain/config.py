"""Agent configuration (SPEC §8): defaults, floors, validation and resolution.

``resolve`` turns the raw Config views into effective settings per assignee
plus the problems found; an invalid field falls back to its default (the app
logs and counts the problems). It is a single pass over a handful of objects,
cheap enough for the sweeper to call on every tick, which is how the interval
is "re-read every tick".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from zombiewatch.domain.views import AgentConfigView

HEARTBEAT_PATTERN: Final = r"^[0-9]+(s|m|h)$"
_HEARTBEAT = re.compile(r"([0-9]+)(s|m|h)")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600}

DEFAULT_HEARTBEAT: Final = timedelta(minutes=5)
"""How recent a heartbeat must be to keep a Job past its deadline alive."""

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
FIELD_HEARTBEAT: Final = "heartbeat"
FIELD_SWEEPER_INTERVAL: Final = "zombieSweeperIntervalSeconds"
FIELD_JOB_TIMEOUT: Final = "zombieJobTimeoutSeconds"

SWEEPER_INTERVAL_MESSAGE: Final = (
    f"{FIELD_SWEEPER_INTERVAL} invalid: must be >= {MIN_SWEEPER_INTERVAL_SECONDS}"
)
JOB_TIMEOUT_MESSAGE: Final = f"{FIELD_JOB_TIMEOUT} invalid: must be >= {MIN_JOB_TIMEOUT_SECONDS}"
HEARTBEAT_MESSAGE: Final = f"{FIELD_HEARTBEAT} invalid: must match {HEARTBEAT_PATTERN}"
EMPTY_ASSIGNEE_MESSAGE: Final = f"{FIELD_ASSIGNEE} invalid: must not be empty"


class ConfigValueError(ValueError):
    """A configuration value does not have the required form."""


def parse_heartbeat(text: str) -> timedelta:
    """``"5m"`` → 5 minutes; the form is ``^[0-9]+(s|m|h)$``, else ConfigValueError."""
    match = _HEARTBEAT.fullmatch(text)
    if match is None:
        raise ConfigValueError(HEARTBEAT_MESSAGE)
    amount, unit = match.groups()
    return timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectiveConfig:
    """One agent's settings after validation, defaults filled in."""

    assignee: str
    heartbeat: timedelta = DEFAULT_HEARTBEAT
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
    problems: tuple[ConfigProblem, ...] = ()

    def config_for(self, assignee: str) -> EffectiveConfig | None:
        return self.by_assignee.get(assignee)

    def deadline_for(self, assignee: str) -> timedelta:
        """The assignee's Job timeout; 1800 s for an assignee without a Config."""
        config = self.by_assignee.get(assignee)
        return config.job_timeout if config else timedelta(seconds=DEFAULT_JOB_TIMEOUT_SECONDS)

    def heartbeat_for(self, assignee: str) -> timedelta:
        """The assignee's heartbeat window; 5 min for an assignee without a Config."""
        config = self.by_assignee.get(assignee)
        return config.heartbeat if config else DEFAULT_HEARTBEAT

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
        """False only when the assignee's Config lists task types and ``task_type`` is not one.

        An assignee without a Config is not judged here (the dispatch path
        cannot spawn it anyway, and a type mismatch would be the wrong story).
        """
        config = self.by_assignee.get(assignee)
        return config is None or config.accepts_task_type(task_type)


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
    heartbeat = DEFAULT_HEARTBEAT
    if view.heartbeat is not None:
        try:
            heartbeat = parse_heartbeat(view.heartbeat)
        except ConfigValueError as exc:
            problems.append(_problem(view, FIELD_HEARTBEAT, str(exc)))
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
        heartbeat=heartbeat,
        sweeper_interval=timedelta(seconds=interval),
        job_timeout=timedelta(seconds=timeout),
        image=view.image or None,
        task_types=view.task_types,
        env=view.env,
        namespace=view.namespace,
        name=view.name,
    )
    return config, problems


def resolve(configs: Iterable[AgentConfigView]) -> ResolvedConfig:
    """Effective settings per assignee, plus every problem found.

    A Config with an empty assignee is ignored (one problem). When two Configs
    name the same assignee, the one first in ``(namespace, name)`` order wins
    and the other is reported, so the result does not depend on informer order.
    """
    by_assignee: dict[str, EffectiveConfig] = {}
    problems: list[ConfigProblem] = []
    for view in sorted(configs, key=lambda v: (v.namespace, v.name)):
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
    return ResolvedConfig(by_assignee=by_assignee, problems=tuple(problems))

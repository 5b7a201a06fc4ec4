"""The closed set of zombie reasons.

The values are an on-disk contract: they are written verbatim into task files
(``- **Reason:** <value>``) and Job annotations, and operators grep for them.
They never change; a new failure mode gets a new value.
"""

from enum import StrEnum


class ZombieReason(StrEnum):
    """Why a Job is considered dead without having reported (SPEC §4)."""

    IMAGE_PULL_BACKOFF = "image_pull_backoff"
    POD_EVICTED = "pod_evicted"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    POD_NOT_SCHEDULED = "pod_not_scheduled"
    POD_CRASH_NO_STDOUT = "pod_crash_no_stdout"
    EXECUTOR_WATCH_LOST = "executor_watch_lost"
    TYPE_MISMATCH = "type_mismatch"
    CONTAINER_CONFIG_ERROR = "container_config_error"
    """Our extension: today's executor has no reason for a container that cannot be created."""
    POD_OOM_KILLED = "pod_oom_killed"
    """The agent container was killed for exceeding its memory limit (executor >= v0.13)."""

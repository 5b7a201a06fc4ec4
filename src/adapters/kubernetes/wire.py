"""The wire shapes: the parts of the API's JSON we read, as ``msgspec.Struct`` types.

They declare only the fields we keep; msgspec skips everything else while
decoding, so a list or watch line is decoded straight from bytes into these
small structs (``decoding``) and then translated into a view (``translation``).
No ``V1Pod``/``V1Job`` is ever built (the client's model deserialisation is
~2 orders of magnitude slower, see docs/KUBERNETES.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec


class OwnerReference(msgspec.Struct, frozen=True):
    kind: str | None = None
    name: str | None = None


class ObjectMeta(msgspec.Struct, frozen=True, rename="camel"):
    """Metadata without annotations (pods: not read there, so not materialised)."""

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    creation_timestamp: datetime | None = None
    labels: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None


class PodMeta(ObjectMeta, frozen=True, rename="camel"):
    """Pods: also whether the pod is being deleted (its sandbox then goes down)."""

    deletion_timestamp: datetime | None = None


class AnnotatedMeta(ObjectMeta, frozen=True, rename="camel"):
    annotations: dict[str, str] | None = None


class Condition(msgspec.Struct, frozen=True):
    type: str | None = None
    status: str | None = None
    reason: str | None = None
    message: str | None = None


class JobCondition(Condition, frozen=True, rename="camel"):
    """Job conditions also carry their time (pods' do not need it: not decoded there)."""

    last_transition_time: datetime | None = None


class Present(msgspec.Struct, frozen=True):
    """A JSON object of whatever shape; we only care that it is there."""


class Waiting(msgspec.Struct, frozen=True):
    reason: str | None = None
    message: str | None = None


class Terminated(msgspec.Struct, frozen=True, rename="camel"):
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None


class ContainerState(msgspec.Struct, frozen=True):
    waiting: Waiting | None = None
    running: Present | None = None
    terminated: Terminated | None = None


class LastState(msgspec.Struct, frozen=True):
    terminated: Terminated | None = None


class ContainerStatus(msgspec.Struct, frozen=True, rename="camel"):
    name: str | None = None
    state: ContainerState | None = None
    last_state: LastState | None = None


class Running(Present, frozen=True, rename="camel"):
    started_at: datetime | None = None


class InitContainerState(ContainerState, frozen=True):
    """An init container's state also carries when it started running (the init bound);
    regular containers' do not need it (not decoded there)."""

    running: Running | None = None


class InitContainerStatus(ContainerStatus, frozen=True):
    state: InitContainerState | None = None


class PodStatus(msgspec.Struct, frozen=True, rename="camel"):
    phase: str | None = None
    reason: str | None = None
    message: str | None = None
    conditions: list[Condition] | None = None
    init_container_statuses: list[InitContainerStatus] | None = None
    container_statuses: list[ContainerStatus] | None = None


class RawObject(msgspec.Struct, frozen=True):
    metadata: ObjectMeta | None = None


class Resources(msgspec.Struct, frozen=True):
    # object: a quantity is a string on the wire, but hand-written objects (explain's
    # YAML) may hold a number; the detail reads it, nothing refuses the pod for it.
    limits: dict[str, object] | None = None


class SpecContainer(msgspec.Struct, frozen=True):
    """A container of the pod's spec: only what a failure's detail names."""

    name: str | None = None
    image: str | None = None
    resources: Resources | None = None


class PodSpec(msgspec.Struct, frozen=True, rename="camel"):
    node_name: str | None = None
    init_containers: list[SpecContainer] | None = None
    containers: list[SpecContainer] | None = None


class RawPod(RawObject, frozen=True):
    spec: PodSpec | None = None
    metadata: PodMeta | None = None
    status: PodStatus | None = None


class JobSpec(msgspec.Struct, frozen=True, rename="camel"):
    active_deadline_seconds: int | None = None
    suspend: bool | None = None


class JobStatus(msgspec.Struct, frozen=True, rename="camel"):
    start_time: datetime | None = None
    conditions: list[JobCondition] | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    terminating: int | None = None


class RawJob(RawObject, frozen=True):
    metadata: AnnotatedMeta | None = None
    spec: JobSpec | None = None
    status: JobStatus | None = None


class EnvVar(msgspec.Struct, frozen=True):
    name: str
    value: str = ""


class ConfigSpec(msgspec.Struct, frozen=True, rename="camel"):
    assignee: str | None = None
    type: str | None = None
    zombie_sweeper_interval_seconds: int | None = None
    zombie_job_timeout_seconds: int | None = None
    image: str | None = None
    task_types: list[str] | None = None
    env: list[EnvVar] | dict[str, str] | None = None


class RawConfig(RawObject, frozen=True):
    spec: ConfigSpec | None = None


class IdentMeta(msgspec.Struct, frozen=True, rename="camel"):
    name: object = None
    namespace: object = None
    resource_version: object = None


class Ident(msgspec.Struct, frozen=True):
    """The lenient fallback: enough to name a refused object, nothing more."""

    metadata: IdentMeta | None = None



class ListMeta(msgspec.Struct, frozen=True, rename={"continue_": "continue"}):
    resourceVersion: str | None = None  # noqa: N815 - wire name
    continue_: str | None = None


class ListBody(msgspec.Struct, frozen=True):
    metadata: ListMeta | None = None
    items: list[msgspec.Raw] | None = None


EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]


class WatchLineBody(msgspec.Struct, frozen=True):
    type: EventType
    object: msgspec.Raw


class StatusBody(msgspec.Struct, frozen=True):
    code: int | None = None
    reason: str | None = None
    message: str | None = None

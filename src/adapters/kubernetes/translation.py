"""Raw API JSON -> the domain's frozen views. Pure: no I/O, no clock.

The wire shapes below are ``msgspec.Struct`` types that declare only the fields
we keep; msgspec skips everything else while decoding, so a list or watch line
is decoded straight from bytes into these small structs and then translated
into a view. No ``V1Pod``/``V1Job`` is ever built (the client's model
deserialisation is ~2 orders of magnitude slower, see docs/KUBERNETES.md).

The translator is total over API data: malformed or unexpected objects come
back as :class:`Skipped` (kind, namespace, name, reason) for the caller to
count and log. Nothing here raises on input bytes or JSON-like objects.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeAlias, TypeVar

import msgspec

from zombiewatch.adapters.kubernetes.errors import TransportError
from zombiewatch.domain.views import (
    ASSIGNEE_LABEL,
    TASK_ID_LABEL,
    ZOMBIE_REASON_ANNOTATION,
    AgentConfigView,
    ContainerView,
    JobView,
    PodPhase,
    PodView,
)

MAX_REASON_CHARS = 200
"""Skip reasons are logged; a hostile object must not flood the log."""

MAX_NAME_CHARS = 253
"""DNS-1123 subdomain limit: longer names cannot be real objects."""

_PHASES: dict[str, PodPhase] = {p.value: p for p in PodPhase}


@dataclass(frozen=True, slots=True)
class Skipped:
    """An object the translator refused; the informer counts and logs it."""

    kind: str
    namespace: str
    name: str
    reason: str


V = TypeVar("V")
Translated: TypeAlias = V | Skipped
"""Either the view or why the object was skipped."""


# --------------------------------------------------------------------------
# Wire shapes (the parts of the API JSON we read).


class _OwnerReference(msgspec.Struct, frozen=True):
    kind: str | None = None
    name: str | None = None


class _ObjectMeta(msgspec.Struct, frozen=True, rename="camel"):
    """Metadata without annotations (pods: not read there, so not materialised)."""

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    creation_timestamp: datetime | None = None
    labels: dict[str, str] | None = None
    owner_references: list[_OwnerReference] | None = None


class _AnnotatedMeta(_ObjectMeta, frozen=True, rename="camel"):
    annotations: dict[str, str] | None = None


class _Condition(msgspec.Struct, frozen=True):
    type: str | None = None
    status: str | None = None
    reason: str | None = None


class _Present(msgspec.Struct, frozen=True):
    """Any JSON object; we only care that it is there."""


class _Waiting(msgspec.Struct, frozen=True):
    reason: str | None = None


class _Terminated(msgspec.Struct, frozen=True, rename="camel"):
    exit_code: int | None = None


class _ContainerState(msgspec.Struct, frozen=True):
    waiting: _Waiting | None = None
    running: _Present | None = None
    terminated: _Terminated | None = None


class _ContainerStatus(msgspec.Struct, frozen=True):
    name: str | None = None
    state: _ContainerState | None = None


class _PodStatus(msgspec.Struct, frozen=True, rename="camel"):
    phase: str | None = None
    reason: str | None = None
    conditions: list[_Condition] | None = None
    init_container_statuses: list[_ContainerStatus] | None = None
    container_statuses: list[_ContainerStatus] | None = None


class _RawObject(msgspec.Struct, frozen=True):
    metadata: _ObjectMeta | None = None


class RawPod(_RawObject, frozen=True):
    status: _PodStatus | None = None


class _JobStatus(msgspec.Struct, frozen=True, rename="camel"):
    start_time: datetime | None = None
    conditions: list[_Condition] | None = None


class RawJob(_RawObject, frozen=True):
    metadata: _AnnotatedMeta | None = None
    status: _JobStatus | None = None


class _EnvVar(msgspec.Struct, frozen=True):
    name: str
    value: str = ""


class _ConfigSpec(msgspec.Struct, frozen=True, rename="camel"):
    assignee: str | None = None
    heartbeat: str | None = None
    zombie_sweeper_interval_seconds: int | None = None
    zombie_job_timeout_seconds: int | None = None
    image: str | None = None
    task_types: list[str] | None = None
    env: list[_EnvVar] | dict[str, str] | None = None


class RawConfig(_RawObject, frozen=True):
    spec: _ConfigSpec | None = None


class _IdentMeta(msgspec.Struct, frozen=True, rename="camel"):
    name: object = None
    namespace: object = None
    resource_version: object = None


class _Ident(msgspec.Struct, frozen=True):
    """The lenient fallback: enough to name a refused object, nothing more."""

    metadata: _IdentMeta | None = None


# --------------------------------------------------------------------------
# Translation of decoded wire shapes.


def _clip(text: str, limit: int = MAX_REASON_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _meta_ident(meta: _ObjectMeta | None) -> tuple[str, str]:
    if meta is None:
        return "", ""
    return _clip(meta.namespace or "", MAX_NAME_CHARS), _clip(meta.name or "", MAX_NAME_CHARS)


def _check_meta(kind: str, meta: _ObjectMeta | None) -> Skipped | None:
    """The metadata every view needs: name, namespace, uid, an aware creation time."""
    if (
        meta is not None
        and meta.name
        and meta.namespace
        and meta.uid
        and meta.creation_timestamp is not None
        and meta.creation_timestamp.tzinfo is not None
        and len(meta.name) <= MAX_NAME_CHARS
        and len(meta.namespace) <= MAX_NAME_CHARS
    ):
        return None  # the fast path: a well-formed object
    namespace, name = _meta_ident(meta)
    if meta is None:
        return Skipped(kind, namespace, name, "no metadata")
    if not meta.name or len(meta.name) > MAX_NAME_CHARS:
        return Skipped(kind, namespace, name, "missing or oversized metadata.name")
    if not meta.namespace or len(meta.namespace) > MAX_NAME_CHARS:
        return Skipped(kind, namespace, name, "missing or oversized metadata.namespace")
    if not meta.uid:
        return Skipped(kind, namespace, name, "missing metadata.uid")
    if meta.creation_timestamp is None:
        return Skipped(kind, namespace, name, "missing metadata.creationTimestamp")
    return Skipped(kind, namespace, name, "creationTimestamp without time zone")


def _task_id(meta: _ObjectMeta) -> str | None:
    labels = meta.labels
    if not labels:
        return None
    task_id = labels.get(TASK_ID_LABEL)
    return task_id or None


_ContainerKey = tuple[str, str | None, int | None, bool]
_CONTAINER_VIEWS: dict[_ContainerKey, ContainerView] = {}
"""Shared ``ContainerView``s. Views are immutable and the states of agent containers
repeat endlessly (``agent`` running, ``agent`` waiting with ``ImagePullBackOff``...),
so one object serves every pod in that state: no constructor call on the hot path
and no per-pod copy in the cache."""
_CONTAINER_VIEWS_MAX = 4096
"""Bound on the shared views (exit codes and names are open-ended): cleared when full."""


def _container_view(key: _ContainerKey) -> ContainerView:
    view = _CONTAINER_VIEWS.get(key)
    if view is None:
        if len(_CONTAINER_VIEWS) >= _CONTAINER_VIEWS_MAX:
            _CONTAINER_VIEWS.clear()
        name, waiting, exit_code, running = key
        view = _CONTAINER_VIEWS[key] = ContainerView(
            name=name, waiting_reason=waiting, terminated_exit_code=exit_code, running=running
        )
    return view


def _containers(statuses: list[_ContainerStatus] | None) -> tuple[ContainerView, ...] | str:
    if not statuses:
        return ()
    out: list[ContainerView] = []
    for status in statuses:
        if not status.name:
            return "container status without a name"
        state = status.state
        if state is None:
            out.append(_container_view((status.name, None, None, False)))
            continue
        out.append(
            _container_view((
                status.name,
                state.waiting.reason if state.waiting is not None else None,
                state.terminated.exit_code if state.terminated is not None else None,
                state.running is not None,
            ))
        )
    return tuple(out)


def _scheduled(conditions: list[_Condition] | None) -> bool | None:
    if conditions:
        for cond in conditions:
            if cond.type == "PodScheduled":
                if cond.status == "True":
                    return True
                if cond.status == "False":
                    return False
                return None
    return None


def translate_pod(raw: RawPod) -> Translated[PodView]:
    """A decoded pod -> ``PodView``, or why not."""
    meta = raw.metadata
    bad = _check_meta("Pod", meta)
    if bad is not None or meta is None or meta.creation_timestamp is None:
        return bad or Skipped("Pod", "", "", "no metadata")
    namespace, name = meta.namespace or "", meta.name or ""
    task_id = _task_id(meta)
    if task_id is None:
        return Skipped("Pod", namespace, name, f"missing label {TASK_ID_LABEL}")
    job_name = None
    for ref in meta.owner_references or ():
        if ref.kind == "Job" and ref.name:
            job_name = ref.name
            break
    if job_name is None:
        return Skipped("Pod", namespace, name, "no ownerReference of kind Job")
    status = raw.status
    if status is None or status.phase is None:
        return Skipped("Pod", namespace, name, "missing status.phase")
    phase = _PHASES.get(status.phase)
    if phase is None:
        return Skipped("Pod", namespace, name, _clip(f"unknown phase {status.phase!r}"))
    init = _containers(status.init_container_statuses)
    if isinstance(init, str):
        return Skipped("Pod", namespace, name, init)
    regular = _containers(status.container_statuses)
    if isinstance(regular, str):
        return Skipped("Pod", namespace, name, regular)
    return PodView(
        namespace=sys.intern(namespace),
        name=name,
        uid=meta.uid or "",
        task_id=task_id,
        job_name=job_name,
        phase=phase,
        status_reason=status.reason,
        created_at=meta.creation_timestamp,
        scheduled=_scheduled(status.conditions),
        init_containers=init,
        containers=regular,
    )


def translate_job(raw: RawJob) -> Translated[JobView]:
    """A decoded Job -> ``JobView``, or why not."""
    meta = raw.metadata
    bad = _check_meta("Job", meta)
    if bad is not None or meta is None or meta.creation_timestamp is None:
        return bad or Skipped("Job", "", "", "no metadata")
    namespace, name = meta.namespace or "", meta.name or ""
    task_id = _task_id(meta)
    if task_id is None:
        return Skipped("Job", namespace, name, f"missing label {TASK_ID_LABEL}")
    assignee = (meta.labels or {}).get(ASSIGNEE_LABEL, "")
    status = raw.status
    started_at = status.start_time if status is not None else None
    if started_at is not None and started_at.tzinfo is None:
        return Skipped("Job", namespace, name, "status.startTime without time zone")
    failed_reason: str | None = None
    complete = False
    for cond in (status.conditions if status is not None else None) or ():
        if cond.status != "True":
            continue
        if cond.type == "Failed" and failed_reason is None:
            failed_reason = cond.reason or ""
        elif cond.type == "Complete":
            complete = True
    annotations = (raw.metadata.annotations if raw.metadata else None) or {}
    return JobView(
        namespace=namespace,
        name=name,
        uid=meta.uid or "",
        task_id=task_id,
        assignee=assignee,
        created_at=meta.creation_timestamp,
        started_at=started_at,
        failed_reason=failed_reason,
        complete=complete,
        reported_reason=annotations.get(ZOMBIE_REASON_ANNOTATION),
    )


def translate_config(raw: RawConfig) -> Translated[AgentConfigView]:
    """A decoded Config custom resource -> ``AgentConfigView``, or why not.

    Numeric knobs are passed through as they are (even below the floors):
    ``domain.config`` validates, logs and replaces them.
    """
    meta = raw.metadata
    namespace, name = _meta_ident(meta)
    if meta is None or not meta.name or not meta.namespace:
        return Skipped("Config", namespace, name, "missing metadata.name/namespace")
    spec = raw.spec
    if spec is None or not spec.assignee:
        return Skipped("Config", namespace, name, "missing spec.assignee")
    env: tuple[tuple[str, str], ...]
    if spec.env is None:
        env = ()
    elif isinstance(spec.env, dict):
        env = tuple(spec.env.items())
    else:
        env = tuple((var.name, var.value) for var in spec.env)
    return AgentConfigView(
        namespace=namespace,
        name=name,
        assignee=spec.assignee,
        heartbeat=spec.heartbeat,
        zombie_sweeper_interval_seconds=spec.zombie_sweeper_interval_seconds,
        zombie_job_timeout_seconds=spec.zombie_job_timeout_seconds,
        image=spec.image,
        task_types=tuple(spec.task_types or ()),
        env=env,
    )


# --------------------------------------------------------------------------
# Decoding from bytes / JSON-like objects.

R = TypeVar("R", bound=_RawObject)


@dataclass(frozen=True, slots=True)
class DecodedItem(Generic[V]):
    """One object off the wire: its key, resourceVersion and translation."""

    key: str
    """``namespace/name``; "/" when even the name is unreadable."""
    resource_version: str | None
    result: Translated[V]


def _key(result: object) -> str:
    """``namespace/name`` of a view or a ``Skipped`` (both carry the two fields)."""
    return f"{getattr(result, 'namespace', '')}/{getattr(result, 'name', '')}"


@dataclass(frozen=True, slots=True)
class DecodedEvent(Generic[V]):
    """One watch event: its type, the decoded item (ADDED/MODIFIED/DELETED),
    the resourceVersion it carries (items and BOOKMARKs), the Status of an ERROR."""

    type: EventType
    item: DecodedItem[V] | None
    resource_version: str | None
    error: WatchError | None = None


@dataclass(frozen=True, slots=True)
class KindCodec(Generic[R, V]):
    """How to decode and translate one kind of object."""

    kind: str
    raw_type: type[R]
    translate: Callable[[R], Translated[V]]
    _decoder: msgspec.json.Decoder[R] = field(init=False, repr=False, compare=False)
    _line_decoder: msgspec.json.Decoder[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Decoders are built once: msgspec then skips per-call type lookups.
        object.__setattr__(self, "_decoder", msgspec.json.Decoder(self.raw_type))
        line_type = msgspec.defstruct(
            f"{self.kind}WatchLine",
            [("type", EventType), ("object", self.raw_type)],
            frozen=True,
        )
        object.__setattr__(self, "_line_decoder", msgspec.json.Decoder(line_type))

    def decode(self, data: bytes | memoryview | msgspec.Raw) -> Translated[V]:
        """One object's JSON bytes -> view or ``Skipped``; never raises."""
        try:
            raw = self._decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return self._refused(data, exc)
        return self.translate(raw)

    def decode_item(self, data: bytes | memoryview | msgspec.Raw) -> DecodedItem[V]:
        """Like ``decode`` plus the key and resourceVersion the informer tracks."""
        try:
            raw = self._decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            skipped = self._refused(data, exc)
            return DecodedItem(
                f"{skipped.namespace}/{skipped.name}", resource_version_of(data), skipped
            )
        return self._item(raw)

    def _item(self, raw: R) -> DecodedItem[V]:
        result = self.translate(raw)
        meta = raw.metadata
        rv = meta.resource_version if meta is not None else None
        return DecodedItem(_key(result), rv or None, result)

    def decode_event(self, line: bytes) -> DecodedEvent[V]:
        """One watch-stream line, decoded and translated in a single pass.

        Raises ``MalformedResponseError`` only when the *line* is not a watch
        event at all; a malformed object becomes a ``Skipped`` item.
        """
        try:
            typed = self._line_decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return self._decode_event_slowly(line)
        event_type: EventType = typed.type
        if event_type == "ERROR":
            return self._decode_event_slowly(line)
        raw: R = typed.object
        if event_type == "BOOKMARK":
            meta = raw.metadata
            return DecodedEvent(event_type, None, meta.resource_version if meta else None)
        item = self._item(raw)
        return DecodedEvent(event_type, item, item.resource_version)

    def _decode_event_slowly(self, line: bytes) -> DecodedEvent[V]:
        event = decode_watch_line(line)
        if event.type == "ERROR":
            return DecodedEvent("ERROR", None, None, decode_status(event.raw))
        if event.type == "BOOKMARK":
            return DecodedEvent("BOOKMARK", None, resource_version_of(event.raw))
        item = self.decode_item(event.raw)
        return DecodedEvent(event.type, item, item.resource_version)

    def from_object(self, obj: object) -> Translated[V]:
        """A JSON-like object (e.g. parsed YAML or ``kubectl get -o json``) -> view."""
        try:
            raw = msgspec.convert(obj, type=self.raw_type, strict=True)
        except (msgspec.ValidationError, TypeError, ValueError) as exc:
            namespace, name = _ident_of_object(obj)
            return Skipped(self.kind, namespace, name, _clip(f"malformed: {exc}"))
        return self.translate(raw)

    def _refused(self, data: bytes | memoryview | msgspec.Raw, exc: Exception) -> Skipped:
        namespace, name = "", ""
        try:
            ident = msgspec.json.decode(data, type=_Ident)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            if ident.metadata is not None:
                namespace = _as_name(ident.metadata.namespace)
                name = _as_name(ident.metadata.name)
        return Skipped(self.kind, namespace, name, _clip(f"malformed: {exc}"))


def _as_name(value: object) -> str:
    return _clip(value, MAX_NAME_CHARS) if isinstance(value, str) else ""


def _ident_of_object(obj: object) -> tuple[str, str]:
    if isinstance(obj, dict):
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            return _as_name(meta.get("namespace")), _as_name(meta.get("name"))
    return "", ""


def resource_version_of(data: bytes | memoryview | msgspec.Raw) -> str | None:
    """``metadata.resourceVersion`` of one object's JSON, if readable."""
    try:
        ident = msgspec.json.decode(data, type=_Ident)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if ident.metadata is None or not isinstance(ident.metadata.resource_version, str):
        return None
    return ident.metadata.resource_version or None


# --------------------------------------------------------------------------
# List responses and watch-stream lines.


class _ListMeta(msgspec.Struct, frozen=True, rename={"continue_": "continue"}):
    resourceVersion: str | None = None  # noqa: N815 - wire name
    continue_: str | None = None


class _List(msgspec.Struct, frozen=True):
    metadata: _ListMeta | None = None
    items: list[msgspec.Raw] | None = None


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a list response, items still undecoded (decoded per item)."""

    resource_version: str
    continue_token: str | None
    items: tuple[msgspec.Raw, ...]


class MalformedResponseError(TransportError):
    """A list page or watch line that is not what the API server sends."""


def decode_list_page(data: bytes) -> ListPage:
    """A list response body -> its page; raises ``MalformedResponseError``.

    A broken *page* is a transport-level problem (truncated body, proxy error
    page): the informer treats it like a failed request and retries. Broken
    *items* are decoded one by one later, so one bad object never costs the list.
    """
    try:
        page = msgspec.json.decode(data, type=_List)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedResponseError(_clip(f"list response: {exc}")) from exc
    if page.metadata is None or not page.metadata.resourceVersion:
        raise MalformedResponseError("list response without metadata.resourceVersion")
    return ListPage(
        resource_version=page.metadata.resourceVersion,
        continue_token=page.metadata.continue_ or None,
        items=tuple(page.items or ()),
    )


EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]


class _WatchLine(msgspec.Struct, frozen=True):
    type: EventType
    object: msgspec.Raw


class _Status(msgspec.Struct, frozen=True):
    code: int | None = None
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class WatchLine:
    """One watch-stream line: the event type and the object's raw JSON."""

    type: EventType
    raw: msgspec.Raw


@dataclass(frozen=True, slots=True)
class WatchError:
    """An ``ERROR`` event's Status (code 410 means: re-list)."""

    code: int | None
    reason: str
    message: str


def decode_watch_line(line: bytes) -> WatchLine:
    """One line of a watch stream; raises ``MalformedResponseError``."""
    try:
        decoded = msgspec.json.decode(line, type=_WatchLine)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedResponseError(_clip(f"watch line: {exc}")) from exc
    return WatchLine(decoded.type, decoded.object)


def decode_status(raw: msgspec.Raw) -> WatchError:
    """The Status object of an ERROR event; never raises."""
    try:
        status = msgspec.json.decode(raw, type=_Status)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return WatchError(None, "", "unreadable Status")
    return WatchError(status.code, status.reason or "", _clip(status.message or ""))


POD = KindCodec("Pod", RawPod, translate_pod)
JOB = KindCodec("Job", RawJob, translate_job)
CONFIG = KindCodec("Config", RawConfig, translate_config)

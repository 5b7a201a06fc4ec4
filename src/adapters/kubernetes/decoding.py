"""Bytes off the wire -> decoded items, list pages and watch events (never raising on data).

One :class:`KindCodec` per kind decodes an object's JSON into its wire shape
(``wire``) and translates it (``translation``) in one pass; list pages and
watch lines are split here, their items decoded one by one, so one bad object
never costs a list. Only a broken *page* or *line* is an error
(``MalformedResponseError``, a transport-level problem the informer retries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from zombiewatch.adapters.kubernetes.errors import TransportError
from zombiewatch.adapters.kubernetes.translation import (
    MAX_NAME_CHARS,
    Skipped,
    Translated,
    clip,
    translate_config,
    translate_job,
    translate_pod,
)
from zombiewatch.adapters.kubernetes.wire import (
    EventType,
    Ident,
    ListBody,
    RawConfig,
    RawJob,
    RawObject,
    RawPod,
    StatusBody,
    WatchLineBody,
)

V = TypeVar("V")
R = TypeVar("R", bound=RawObject)

# Every decoder is built here, once, on the importing thread, so the informer threads
# never resolve a type's annotations concurrently on first use (an interpreter crash was
# seen once while three informers decoded their first list pages at the same moment).
_IDENT = msgspec.json.Decoder(Ident)
_LIST = msgspec.json.Decoder(ListBody)
_WATCH_LINE = msgspec.json.Decoder(WatchLineBody)
_STATUS = msgspec.json.Decoder(StatusBody)


@dataclass(frozen=True, slots=True)
class DecodedItem(Generic[V]):
    """One object off the wire: its key, resourceVersion and translation."""

    key: str
    """The object's name (the informer watches one namespace); "" when unreadable."""
    resource_version: str | None
    result: Translated[V]


def _key(result: object) -> str:
    """The name of a view or a ``Skipped``: the very string the view holds, so the
    store's key costs nothing (an informer watches one namespace: names are unique)."""
    name = getattr(result, "name", "")
    return name if isinstance(name, str) else ""


@dataclass(frozen=True, slots=True)
class DecodedEvent(Generic[V]):
    """One watch event: its type, the decoded item (ADDED/MODIFIED/DELETED),
    the resourceVersion it carries (items and BOOKMARKs), the Status of an ERROR."""

    type: EventType
    item: DecodedItem[V] | None
    resource_version: str | None
    error: WatchError | None = None


class Codec(Protocol[V]):
    """What the informer needs of a kind's codec, whatever its wire shape."""

    @property
    def kind(self) -> str: ...

    def decode_item(self, data: bytes | memoryview | msgspec.Raw) -> DecodedItem[V]: ...

    def decode_event(self, line: bytes) -> DecodedEvent[V]: ...


@dataclass(frozen=True, slots=True)
class KindCodec(Generic[R, V]):
    """How to decode and translate one kind of object."""

    kind: str
    raw_type: type[R]
    translate: Callable[[R], Translated[V]]
    _decoder: msgspec.json.Decoder[R] = field(init=False, repr=False, compare=False)
    # Any: the line's struct type is made at run time (defstruct), per kind.
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

    def decode_item(self, data: bytes | memoryview | msgspec.Raw) -> DecodedItem[V]:
        """One object's JSON bytes -> its view or ``Skipped`` (``result``; never raises),
        with the key and resourceVersion the informer tracks."""
        try:
            raw = self._decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            skipped = self._refused(data, exc)
            return DecodedItem(
                skipped.name, resource_version_of(data), skipped
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
            return Skipped(kind=self.kind, namespace=namespace, name=name,
                           reason=clip(f"malformed: {exc}"))
        return self.translate(raw)

    def _refused(self, data: bytes | memoryview | msgspec.Raw, exc: Exception) -> Skipped:
        namespace, name = "", ""
        try:
            ident = _IDENT.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            if ident.metadata is not None:
                namespace = _as_name(ident.metadata.namespace)
                name = _as_name(ident.metadata.name)
        return Skipped(kind=self.kind, namespace=namespace, name=name,
                       reason=clip(f"malformed: {exc}"))


def _as_name(value: object) -> str:
    return clip(value, MAX_NAME_CHARS) if isinstance(value, str) else ""


def _ident_of_object(obj: object) -> tuple[str, str]:
    if isinstance(obj, dict):
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            return _as_name(meta.get("namespace")), _as_name(meta.get("name"))
    return "", ""


def resource_version_of(data: bytes | memoryview | msgspec.Raw) -> str | None:
    """``metadata.resourceVersion`` of one object's JSON, if readable."""
    try:
        ident = _IDENT.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if ident.metadata is None or not isinstance(ident.metadata.resource_version, str):
        return None
    return ident.metadata.resource_version or None



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
        page = _LIST.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedResponseError(clip(f"list response: {exc}")) from exc
    if page.metadata is None or not page.metadata.resourceVersion:
        raise MalformedResponseError("list response without metadata.resourceVersion")
    return ListPage(
        resource_version=page.metadata.resourceVersion,
        continue_token=page.metadata.continue_ or None,
        items=tuple(page.items or ()),
    )


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
        decoded = _WATCH_LINE.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedResponseError(clip(f"watch line: {exc}")) from exc
    return WatchLine(decoded.type, decoded.object)


def decode_status(raw: msgspec.Raw) -> WatchError:
    """The Status object of an ERROR event; never raises."""
    try:
        status = _STATUS.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return WatchError(None, "", "unreadable Status")
    return WatchError(status.code, status.reason or "", clip(status.message or ""))


POD = KindCodec("Pod", RawPod, translate_pod)
JOB = KindCodec("Job", RawJob, translate_job)
CONFIG = KindCodec("Config", RawConfig, translate_config)

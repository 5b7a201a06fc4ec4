"""Watching, the kopf way: list one snapshot, follow one stream, loop forever.

The thread side of an informer: :func:`iter_lines` / :func:`iter_events` turn
one stream's bytes into decoded events (410 -> ``GoneError``), and
:class:`ListWatchLoop` lists, follows and loops. The loop side, which reflects
what it delivers into the store, is ``informer``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from zombiewatch.adapters.kubernetes.backoff import Backoff, BackoffSettings
from zombiewatch.adapters.kubernetes.client import translated_errors
from zombiewatch.adapters.kubernetes.decoding import Codec, DecodedEvent
from zombiewatch.adapters.kubernetes.errors import GoneError, KubernetesError, TransportError
from zombiewatch.adapters.kubernetes.listing import Listing, list_all
from zombiewatch.adapters.kubernetes.resources import RawResponse, ResourceCalls
from zombiewatch.adapters.logfields import log_event

logger = logging.getLogger(__name__)

V = TypeVar("V")

MAX_LINE_BYTES = 64 * 1024 * 1024
"""A single object larger than this is not a pod/Job/Config: a broken stream."""


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a chunked body into newline-terminated JSON lines (no empty lines)."""
    buffer = b""
    for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        if b"\n" not in chunk:
            if len(buffer) > MAX_LINE_BYTES:
                raise TransportError("watch line exceeds the size limit")
            continue
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def iter_events(lines: Iterable[bytes], codec: Codec[V]) -> Iterator[DecodedEvent[V]]:
    """Decode lines into watch events; ERROR 410 raises ``GoneError``.

    Other ERROR events and undecodable lines end the stream as transport
    errors: the caller reconnects from its last resourceVersion.
    """
    for line in lines:
        event = codec.decode_event(line)
        if event.error is not None:
            status = event.error
            if status.code == 410:
                raise GoneError(status.message or status.reason or "410 Gone")
            raise TransportError(
                f"watch ERROR event {status.code} {status.reason}: {status.message}"
            )
        yield event


DEFAULT_RELIST_PERIOD = 300.0
"""Five minutes: a missed event is repaired well within one Job timeout, and a
namespace of 100,000 pods costs the API server one list per pod informer that often."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InformerSettings:
    page_size: int = 500
    """List page size (``limit``): bounds a page's memory; 500 like client-go."""
    watch_timeout_seconds: int = 50
    """Server-side ``timeoutSeconds`` of one watch request: the stream ends
    cleanly this often and is reopened from the last resourceVersion, so a
    silently dead connection is noticed within a minute."""
    connect_timeout: float = 5.0
    list_read_timeout: float = 60.0
    """Read timeout of a list page (a slow API server under load)."""
    watch_read_slack: float = 15.0
    """Added to ``watch_timeout_seconds`` for the client-side read timeout."""
    relist_period: float | None = DEFAULT_RELIST_PERIOD
    """List again this often (seconds) and reflect the difference, catching
    anything a watch could have missed; None disables. (client-go's "resync"
    replays its store and makes no request: this is a different thing.)"""
    backoff: BackoffSettings = field(default_factory=BackoffSettings)
    stop_timeout: float = 10.0
    """How long ``stop()`` waits for the thread; it normally ends in ms."""


@dataclass(slots=True)
class InformerStats:
    """Plain counters for the app's metrics (written by the informer's two sides)."""

    lists: int = 0
    """Complete lists, the initial one included."""
    relists: int = 0
    """Lists after the first: after 410 Gone or every ``relist_period``."""
    gone: int = 0
    """410 Gone answers (each forces a re-list): tells a compaction from a periodic re-list."""
    events: int = 0
    """Watch events received (bookmarks not included)."""
    problems: int = 0
    """Objects the translator refused (Skipped)."""
    reconnects: int = 0
    """Transport errors followed by a backoff and a new attempt."""
    errors: int = 0
    """Unexpected errors (a bug in us or the client), logged with their traceback."""
    resource_version: str = ""


Delivery = Listing[V] | DecodedEvent[V]
"""What the thread hands the loop: a list, or one watch event (never a bookmark)."""


class Stopping(Protocol):
    """``threading.Event``'s two methods the loop uses (a fake in unit tests)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class ListWatchLoop(Generic[V]):
    """The thread side of an informer: list, watch, forever, until ``stopping`` is set.

    It keeps no objects: it delivers snapshots and events, and remembers only
    the resourceVersion to resume from.
    """

    def __init__(
        self,
        *,
        name: str,
        codec: Codec[V],
        deliver: Callable[[Delivery[V]], None],
        stopping: Stopping,
        stats: InformerStats,
        settings: InformerSettings,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._codec = codec
        self._deliver = deliver
        self._stopping = stopping
        self._stats = stats
        self._settings = settings
        self._monotonic = monotonic
        self._backoff = Backoff(settings.backoff)
        self._inflight_lock = threading.Lock()
        self._inflight: RawResponse | None = None

    def run(self, calls: ResourceCalls) -> None:
        """Loop until stopped; never raises for anything the API server or the client does."""
        rv: str | None = None
        next_relist = float("inf")
        while not self._stopping.is_set():
            try:
                with translated_errors():
                    if rv is None:
                        rv = self._list(calls)
                        period = self._settings.relist_period
                        if period is not None:
                            next_relist = self._monotonic() + period
                    opened = self._monotonic()
                    rv, received = self.follow_stream(calls, rv, until=next_relist)
                    if not received and self._monotonic() - opened < 1.0:
                        # A stream that ends at once with nothing in it (a proxy, an
                        # overloaded server): do not spin, back off as for an error.
                        self._stopping.wait(self._backoff.next_delay())
                    if self._monotonic() >= next_relist:
                        rv = None
            except GoneError as exc:
                if self._stopping.is_set():
                    return
                self._stats.gone += 1
                log_event(logger, logging.INFO, "informer_gone", informer=self._name,
                          detail=str(exc))
                rv = None
            except KubernetesError as exc:
                if self._stopping.is_set():
                    return
                self._stats.reconnects += 1
                delay = self._backoff.next_delay()
                log_event(logger, logging.WARNING, "informer_reconnect", informer=self._name,
                          delay=round(delay, 2), error=str(exc))
                self._stopping.wait(delay)
            except Exception:
                if self._stopping.is_set():
                    return
                self._stats.errors += 1
                delay = self._backoff.next_delay()
                log_event(logger, logging.ERROR, "informer_unexpected_error", exc_info=True,
                          informer=self._name, delay=round(delay, 2))
                self._stopping.wait(delay)

    def list_snapshot(self, calls: ResourceCalls) -> Listing[V]:
        """Every page of the collection, decoded: one consistent snapshot."""
        return list_all(lambda token: self._fetch_page(calls, token), self._codec)

    def follow_stream(self, calls: ResourceCalls, rv: str, *, until: float) -> tuple[str, int]:
        """Follow one watch stream from ``rv`` (ending by ``until`` on the monotonic clock);
        return the last resourceVersion and how many lines it carried."""
        settings = self._settings
        timeout = settings.watch_timeout_seconds
        remaining = until - self._monotonic()
        if remaining < timeout:
            timeout = max(1, int(remaining) + 1)
        response = self._open(lambda: calls.watch(
            resource_version=rv, timeout_seconds=timeout,
            request_timeout=(settings.connect_timeout, timeout + settings.watch_read_slack)))
        self._backoff.reset()
        received = 0
        try:
            for event in self._events(response):
                received += 1
                if self._stopping.is_set():
                    break
                if event.resource_version:
                    rv = event.resource_version
                    self._stats.resource_version = rv
                if event.item is not None:
                    self._stats.events += 1
                    self._deliver(event)
        finally:
            self._close(response)
        return rv, received

    def interrupt(self) -> None:
        """From another thread: close the request in flight so ``run`` notices the stop."""
        with self._inflight_lock:
            response = self._inflight
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()

    def _list(self, calls: ResourceCalls) -> str:
        snapshot = self.list_snapshot(calls)
        self._backoff.reset()
        if self._stats.lists:
            self._stats.relists += 1
        self._stats.lists += 1
        self._stats.resource_version = snapshot.resource_version
        self._deliver(snapshot)
        return snapshot.resource_version

    def _events(self, response: RawResponse) -> Iterator[DecodedEvent[V]]:
        lines = iter_lines(response.stream(None, decode_content=False))
        return iter_events(lines, self._codec)

    def _fetch_page(self, calls: ResourceCalls, token: str | None) -> bytes:
        settings = self._settings
        response = self._open(lambda: calls.list_page(
            limit=settings.page_size, continue_token=token,
            request_timeout=(settings.connect_timeout, settings.list_read_timeout)))
        try:
            return response.data
        finally:
            self._close(response)

    def _open(self, call: Callable[[], RawResponse]) -> RawResponse:
        response = call()
        with self._inflight_lock:
            self._inflight = response
        if self._stopping.is_set():
            with contextlib.suppress(Exception):
                response.shutdown()
        return response

    def _close(self, response: RawResponse) -> None:
        with self._inflight_lock:
            if self._inflight is response:
                self._inflight = None
        with contextlib.suppress(Exception):
            response.release_conn()
        with contextlib.suppress(Exception):
            response.close()

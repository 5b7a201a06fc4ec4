"""An informer: list, then watch, forever; events delivered on the asyncio loop.

One dedicated thread per informer runs the blocking kubernetes client (list,
watch, backoff); it keeps its own key -> (resourceVersion, view) store so it can
diff re-lists, and hands every change to the loop with
``loop.call_soon_threadsafe(queue.put_nowait, ...)``. A consumer task on the
loop applies each event (``apply``, e.g. the cache) and then awaits
``on_event``. Neither side ever blocks the other. See docs/KUBERNETES.md for
the guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from zombiewatch.adapters.kubernetes.backoff import Backoff, BackoffSettings
from zombiewatch.adapters.kubernetes.client import ApiClientFactory, translated_errors
from zombiewatch.adapters.kubernetes.errors import GoneError, KubernetesError
from zombiewatch.adapters.kubernetes.listing import diff_relist, list_all
from zombiewatch.adapters.kubernetes.resources import (
    RawResponse,
    ResourceCalls,
    ResourceCallsFactory,
)
from zombiewatch.adapters.kubernetes.translation import (
    DecodedItem,
    KindCodec,
    Skipped,
)
from zombiewatch.adapters.kubernetes.watching import iter_events, iter_lines

logger = logging.getLogger(__name__)

V = TypeVar("V")


class Change(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class WatchEvent(Generic[V]):
    """One change of one object, as the cache and the app see it."""

    change: Change
    view: V
    """The new state; for DELETED the last state seen."""
    previous: V | None
    """The state the informer held before (None for ADDED)."""
    synthetic: bool = False
    """True when produced by a (re-)list diff rather than a watch event."""


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
    resync_period: float | None = 600.0
    """Re-list this often (seconds) and emit the difference, catching anything
    a watch could have missed; None disables."""
    backoff: BackoffSettings = field(default_factory=BackoffSettings)
    stop_timeout: float = 10.0
    """How long ``stop()`` waits for the thread; it normally ends in ms."""


@dataclass(slots=True)
class InformerStats:
    """Plain counters for the app's metrics (written by the informer thread)."""

    lists: int = 0
    """Complete lists, the initial one included."""
    relists: int = 0
    """Lists after the first: after 410 Gone or for resync."""
    gone: int = 0
    resyncs: int = 0
    events: int = 0
    """Watch events received (bookmarks not included)."""
    bookmarks: int = 0
    problems: int = 0
    """Objects the translator refused (Skipped)."""
    reconnects: int = 0
    """Transport errors followed by a backoff and a new attempt."""
    resource_version: str = ""


class _Marker(StrEnum):
    SYNCED = "synced"
    STOP = "stop"


class Informer(Generic[V]):
    """List+watch one collection in one namespace.

    ``apply`` (sync) runs first for each event, then ``on_event`` (async) is
    awaited; events are delivered one at a time in the order the informer saw
    them. ``on_synced`` runs once, after the first complete list has been
    applied, just before ``wait_synced()`` returns.
    """

    def __init__(
        self,
        *,
        name: str,
        codec: KindCodec[Any, V],
        calls_factory: ResourceCallsFactory,
        api_client_factory: ApiClientFactory,
        namespace: str,
        apply: Callable[[WatchEvent[V]], None] | None = None,
        on_event: Callable[[WatchEvent[V]], Awaitable[None]] | None = None,
        on_synced: Callable[[], None] | None = None,
        on_problem: Callable[[Skipped], None] | None = None,
        settings: InformerSettings | None = None,
    ) -> None:
        self.name = name
        self.stats = InformerStats()
        self._codec = codec
        self._calls_factory = calls_factory
        self._api_client_factory = api_client_factory
        self._namespace = namespace
        self._apply = apply
        self._on_event = on_event
        self._on_synced = on_synced
        self._on_problem = on_problem
        self._settings = settings or InformerSettings()
        self._backoff = Backoff(self._settings.backoff)
        self._store: dict[str, tuple[str, V]] = {}
        self._stopping = threading.Event()
        self._inflight_lock = threading.Lock()
        self._inflight: RawResponse | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[WatchEvent[V] | Skipped | _Marker] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._thread_done: asyncio.Future[None] | None = None
        self._synced = asyncio.Event()
        self._listed_once = False

    # ------------------------------------------------------------------ loop side

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Return once the first complete list has been applied.

        Bound it with ``asyncio.timeout``: an API server that refuses the list
        (RBAC!) keeps the informer retrying forever.
        """
        await self._synced.wait()

    async def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"informer {self.name} already started")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._queue = asyncio.Queue()
        self._thread_done = loop.create_future()
        self._consumer = asyncio.create_task(self._consume(), name=f"informer-{self.name}")
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop promptly: close the in-flight response, join the thread, drain."""
        if self._thread is None:
            return
        self._stopping.set()
        self._interrupt()
        assert self._thread_done is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._thread_done), self._settings.stop_timeout)
        except TimeoutError:
            logger.error("event=informer_stop_timeout informer=%s", self.name)
        self._thread.join(timeout=0.1)
        assert self._queue is not None
        self._queue.put_nowait(_Marker.STOP)
        if self._consumer is not None:
            await self._consumer

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            if item is _Marker.STOP:
                return
            if item is _Marker.SYNCED:
                if self._on_synced is not None:
                    self._on_synced()
                self._synced.set()
                continue
            if isinstance(item, Skipped):
                if self._on_problem is not None:
                    self._on_problem(item)
                continue
            assert isinstance(item, WatchEvent)
            if self._apply is not None:
                self._apply(item)
            if self._on_event is not None:
                try:
                    await self._on_event(item)
                except Exception:
                    logger.exception("event=informer_handler_failed informer=%s", self.name)

    # ---------------------------------------------------------------- thread side

    def _post(self, item: WatchEvent[V] | Skipped | _Marker) -> None:
        assert self._loop is not None
        assert self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _interrupt(self) -> None:
        with self._inflight_lock:
            response = self._inflight
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()

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

    def _run(self) -> None:
        api_client = None
        try:
            api_client = self._api_client_factory()
            calls = self._calls_factory(api_client, self._namespace)
            self._loop_forever(calls)
        except Exception:
            logger.exception("event=informer_crashed informer=%s", self.name)
        finally:
            if api_client is not None:
                with contextlib.suppress(Exception):
                    api_client.close()
            self._signal_done()

    def _signal_done(self) -> None:
        loop, done = self._loop, self._thread_done
        if loop is None or done is None:
            return

        def finish() -> None:
            if not done.done():
                done.set_result(None)

        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(finish)

    def _loop_forever(self, calls: ResourceCalls) -> None:
        settings = self._settings
        rv: str | None = None
        next_resync = float("inf")
        while not self._stopping.is_set():
            try:
                with translated_errors():
                    if rv is None:
                        rv = self._relist(calls)
                        self._backoff.reset()
                        if settings.resync_period is not None:
                            next_resync = time.monotonic() + settings.resync_period
                    opened = time.monotonic()
                    rv, received = self._watch(calls, rv, next_resync)
                    if not received and time.monotonic() - opened < 1.0:
                        # A stream that ends at once with nothing in it (a proxy, an
                        # overloaded server): do not spin, back off as for an error.
                        self._stopping.wait(self._backoff.next_delay())
                    if time.monotonic() >= next_resync:
                        self.stats.resyncs += 1
                        rv = None
            except GoneError as exc:
                if self._stopping.is_set():
                    return
                self.stats.gone += 1
                logger.info("event=informer_gone informer=%s detail=%s", self.name, exc)
                rv = None
            except Exception as exc:
                # Transport errors are expected; anything else is a bug in us or the
                # client, logged with its traceback. Either way the informer keeps going.
                if self._stopping.is_set():
                    return
                self.stats.reconnects += 1
                delay = self._backoff.next_delay()
                if isinstance(exc, KubernetesError):
                    logger.warning(
                        "event=informer_reconnect informer=%s delay=%.2f error=%s",
                        self.name,
                        delay,
                        exc,
                    )
                else:
                    logger.exception(
                        "event=informer_unexpected_error informer=%s delay=%.2f",
                        self.name,
                        delay,
                    )
                self._stopping.wait(delay)

    def _fetch_page(self, calls: ResourceCalls, token: str | None) -> bytes:
        settings = self._settings
        response = self._open(
            lambda: calls.list_page(
                limit=settings.page_size,
                continue_token=token,
                request_timeout=(settings.connect_timeout, settings.list_read_timeout),
            )
        )
        try:
            return response.data
        finally:
            self._close(response)

    def _relist(self, calls: ResourceCalls) -> str:
        listing = list_all(lambda token: self._fetch_page(calls, token), self._codec)
        listed: dict[str, tuple[str, V]] = {}
        for item in listing.items:
            if isinstance(item.result, Skipped):
                self._problem(item.result)
                continue
            listed[item.key] = (item.resource_version or "", item.result)
        if self._stopping.is_set():
            return listing.resource_version
        known = self._store
        diff = diff_relist(
            {k: rv for k, (rv, _) in known.items()}, {k: rv for k, (rv, _) in listed.items()}
        )
        for key in diff.added:
            self._post(WatchEvent(Change.ADDED, listed[key][1], None, synthetic=True))
        for key in diff.updated:
            self._post(WatchEvent(Change.MODIFIED, listed[key][1], known[key][1], synthetic=True))
        for key in diff.deleted:
            gone = known[key][1]
            self._post(WatchEvent(Change.DELETED, gone, gone, synthetic=True))
        self._store = listed
        self.stats.lists += 1
        if self._listed_once:
            self.stats.relists += 1
        self.stats.resource_version = listing.resource_version
        logger.info(
            "event=informer_listed informer=%s items=%d added=%d updated=%d deleted=%d rv=%s",
            self.name,
            len(listed),
            len(diff.added),
            len(diff.updated),
            len(diff.deleted),
            listing.resource_version,
        )
        if not self._listed_once:
            self._listed_once = True
            self._post(_Marker.SYNCED)
        return listing.resource_version

    def _watch(self, calls: ResourceCalls, rv: str, next_resync: float) -> tuple[str, int]:
        """Follow one watch stream; return the last resourceVersion and the line count."""
        settings = self._settings
        remaining = next_resync - time.monotonic()
        timeout = settings.watch_timeout_seconds
        if remaining < timeout:
            timeout = max(1, int(remaining) + 1)
        response = self._open(
            lambda: calls.watch(
                resource_version=rv,
                timeout_seconds=timeout,
                request_timeout=(settings.connect_timeout, timeout + settings.watch_read_slack),
            )
        )
        self._backoff.reset()
        received = 0
        try:
            lines = iter_lines(response.stream(None, decode_content=False))
            for event in iter_events(lines, self._codec):
                received += 1
                if self._stopping.is_set():
                    break
                if event.resource_version:
                    rv = event.resource_version
                    self.stats.resource_version = rv
                if event.item is None:
                    self.stats.bookmarks += 1
                    continue
                self.stats.events += 1
                self._apply_watch_event(event.type, event.item)
        finally:
            self._close(response)
        return rv, received

    def _apply_watch_event(self, event_type: str, item: DecodedItem[V]) -> None:
        result = item.result
        previous = self._store.get(item.key)
        if event_type == "DELETED":
            if previous is None:
                return
            del self._store[item.key]
            view = previous[1] if isinstance(result, Skipped) else result
            self._post(WatchEvent(Change.DELETED, view, previous[1]))
            return
        if isinstance(result, Skipped):
            self._problem(result)
            if previous is not None:
                # It no longer qualifies (e.g. label removed by hand): forget it.
                del self._store[item.key]
                self._post(WatchEvent(Change.DELETED, previous[1], previous[1]))
            return
        self._store[item.key] = (item.resource_version or "", result)
        if previous is None:
            self._post(WatchEvent(Change.ADDED, result, None))
        else:
            self._post(WatchEvent(Change.MODIFIED, result, previous[1]))

    def _problem(self, skipped: Skipped) -> None:
        self.stats.problems += 1
        logger.warning(
            "event=informer_skipped informer=%s kind=%s namespace=%s name=%s reason=%s",
            self.name,
            skipped.kind,
            skipped.namespace,
            skipped.name,
            skipped.reason,
        )
        self._post(skipped)

"""An informer: list, then watch, forever, reflected into one store on the asyncio loop.

Split the way kopf splits watching, one job per piece:

- :meth:`ListWatchLoop.list_snapshot` lists every page and returns one
  snapshot with its resourceVersion;
- :meth:`ListWatchLoop.follow_stream` follows one watch stream from a
  resourceVersion (bookmarks move it on, nothing else);
- :meth:`ListWatchLoop.run` loops forever: 410 Gone -> list again; transport
  errors -> capped, jittered backoff, reset after the next success; anything
  else is logged with its traceback, counted, and retried the same way; every
  ``relist_period`` a fresh list repairs anything a watch could have missed.

The loop runs the blocking kubernetes client on a thread of its own and hands
what it reads to the event loop through a :class:`LoopBridge`. There the
:class:`Informer` reflects it into its :class:`KindStore` (a list is diffed
against the store, a watch event updates it) and then awaits ``on_event`` for
each change: the store is updated before any handler runs. See
docs/KUBERNETES.md for the guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from zombiewatch.adapters.kubernetes.backoff import Backoff, BackoffSettings
from zombiewatch.adapters.kubernetes.bridge import LoopBridge
from zombiewatch.adapters.kubernetes.client import ApiClientFactory, translated_errors
from zombiewatch.adapters.kubernetes.errors import GoneError, KubernetesError
from zombiewatch.adapters.kubernetes.listing import Listing, list_all
from zombiewatch.adapters.kubernetes.resources import (
    RawResponse,
    ResourceCalls,
    ResourceCallsFactory,
)
from zombiewatch.adapters.kubernetes.store import Change, KindStore, Listed, WatchEvent
from zombiewatch.adapters.kubernetes.translation import (
    DecodedEvent,
    DecodedItem,
    KindCodec,
    Skipped,
)
from zombiewatch.adapters.kubernetes.watching import iter_events, iter_lines

logger = logging.getLogger(__name__)

V = TypeVar("V")

__all__ = [
    "Change",
    "Informer",
    "InformerSettings",
    "InformerStats",
    "ListWatchLoop",
    "Reflector",
    "WatchEvent",
]


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
        codec: KindCodec[Any, V],
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
                logger.info("event=informer_gone informer=%s detail=%s", self._name, exc)
                rv = None
            except KubernetesError as exc:
                if self._stopping.is_set():
                    return
                self._stats.reconnects += 1
                delay = self._backoff.next_delay()
                logger.warning("event=informer_reconnect informer=%s delay=%.2f error=%s",
                               self._name, delay, exc)
                self._stopping.wait(delay)
            except Exception:
                if self._stopping.is_set():
                    return
                self._stats.errors += 1
                delay = self._backoff.next_delay()
                logger.exception("event=informer_unexpected_error informer=%s delay=%.2f",
                                 self._name, delay)
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


class Informer(Generic[V]):
    """List+watch one collection in one namespace into ``store``.

    For each change the store is updated first, then ``on_event`` is awaited;
    changes are delivered one at a time in the order the informer saw them.
    The store is marked synced after the first complete list has been
    reflected and its changes handled.
    """

    def __init__(
        self,
        *,
        name: str,
        codec: KindCodec[Any, V],
        store: KindStore[V],
        calls_factory: ResourceCallsFactory,
        api_client_factory: ApiClientFactory,
        namespace: str,
        on_event: Callable[[WatchEvent[V]], Awaitable[None]] | None = None,
        on_problem: Callable[[Skipped], None] | None = None,
        settings: InformerSettings | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.stats = InformerStats()
        self._codec = codec
        self._calls_factory = calls_factory
        self._api_client_factory = api_client_factory
        self._namespace = namespace
        self._reflector = Reflector(name=name, store=store, stats=self.stats,
                                    on_event=on_event, on_problem=on_problem)
        self._settings = settings or InformerSettings()
        self._stopping = threading.Event()
        self._started: _Started[V] | None = None

    @property
    def synced(self) -> bool:
        return self.store.synced

    async def wait_synced(self) -> None:
        """Return once the first complete list has been reflected.

        Bound it with ``asyncio.timeout``: an API server that refuses the list
        (RBAC!) keeps the informer retrying forever.
        """
        await self.store.wait_synced()

    async def start(self) -> None:
        if self._started is not None:
            raise RuntimeError(f"informer {self.name} already started")
        loop = asyncio.get_running_loop()
        bridge: LoopBridge[Delivery[V]] = LoopBridge(loop)
        watcher = ListWatchLoop(
            name=self.name, codec=self._codec, deliver=bridge.post, stopping=self._stopping,
            stats=self.stats, settings=self._settings)
        done = loop.create_future()
        thread = threading.Thread(target=self._run, args=(watcher, loop, done),
                                  name=f"informer-{self.name}", daemon=True)
        consumer = asyncio.create_task(self._consume(bridge), name=f"informer-{self.name}")
        self._started = _Started(watcher, bridge, thread, consumer, done)
        thread.start()

    async def stop(self) -> None:
        """Stop promptly: close the in-flight response, join the thread, drain."""
        started = self._started
        if started is None:
            return
        self._stopping.set()
        started.watcher.interrupt()
        try:
            await asyncio.wait_for(asyncio.shield(started.done), self._settings.stop_timeout)
        except TimeoutError:
            logger.error("event=informer_stop_timeout informer=%s", self.name)
        started.thread.join(timeout=0.1)
        started.bridge.close()
        await started.consumer

    def _run(self, watcher: ListWatchLoop[V], loop: asyncio.AbstractEventLoop,
             done: asyncio.Future[None]) -> None:
        api_client = None
        try:
            api_client = self._api_client_factory()
            watcher.run(self._calls_factory(api_client, self._namespace))
        except Exception:
            logger.exception("event=informer_crashed informer=%s", self.name)
        finally:
            if api_client is not None:
                with contextlib.suppress(Exception):
                    api_client.close()
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(_finish, done)

    async def _consume(self, bridge: LoopBridge[Delivery[V]]) -> None:
        while (delivery := await bridge.get()) is not None:
            await self._reflector.reflect(delivery)


class Reflector(Generic[V]):
    """The loop side of an informer: reflect deliveries into the store, then tell the handler.

    A list is diffed against the store (client-go's "knownObjects is the
    informer's local cache"); a watch event updates it; an object the
    translator now refuses (e.g. its task-id label removed by hand) is dropped
    from it. The store is marked synced once the first list and its changes
    have been handled.
    """

    def __init__(
        self,
        *,
        name: str,
        store: KindStore[V],
        stats: InformerStats,
        on_event: Callable[[WatchEvent[V]], Awaitable[None]] | None = None,
        on_problem: Callable[[Skipped], None] | None = None,
    ) -> None:
        self._name = name
        self._store = store
        self._stats = stats
        self._on_event = on_event
        self._on_problem = on_problem

    async def reflect(self, delivery: Delivery[V]) -> None:
        if isinstance(delivery, Listing):
            await self._reflect_listing(delivery)
        elif delivery.item is not None:
            await self._reflect_event(delivery.type, delivery.item)

    async def _reflect_listing(self, listing: Listing[V]) -> None:
        listed: list[Listed[V]] = []
        for item in listing.items:
            if isinstance(item.result, Skipped):
                self._problem(item.result)
            else:
                listed.append(Listed(item.key, item.resource_version or "", item.result))
        changes = self._store.replace(listed)
        logger.info("event=informer_listed informer=%s items=%d changes=%d rv=%s",
                    self._name, len(listed), len(changes), listing.resource_version)
        for change in changes:
            await self._handle(change)
        self._store.mark_synced()

    async def _reflect_event(self, event_type: str, item: DecodedItem[V]) -> None:
        result = item.result
        if isinstance(result, Skipped):
            self._problem(result)
        change = (
            self._store.delete(item.key)
            if event_type == "DELETED" or isinstance(result, Skipped)
            else self._store.put(item.key, item.resource_version or "", result)
        )
        if change is not None:
            await self._handle(change)

    async def _handle(self, change: WatchEvent[V]) -> None:
        if self._on_event is None:
            return
        try:
            await self._on_event(change)
        except Exception:
            logger.exception("event=informer_handler_failed informer=%s", self._name)

    def _problem(self, skipped: Skipped) -> None:
        self._stats.problems += 1
        logger.warning(
            "event=informer_skipped informer=%s kind=%s namespace=%s name=%s reason=%s",
            self._name, skipped.kind, skipped.namespace, skipped.name, skipped.reason)
        if self._on_problem is not None:
            self._on_problem(skipped)


def _finish(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


@dataclass(frozen=True, slots=True)
class _Started(Generic[V]):
    watcher: ListWatchLoop[V]
    bridge: LoopBridge[Delivery[V]]
    thread: threading.Thread
    consumer: asyncio.Task[None]
    done: asyncio.Future[None]

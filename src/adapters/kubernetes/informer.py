"""An informer: list, then watch, forever, reflected into one store on the asyncio loop.

Split the way kopf splits watching, one job per piece (the thread side is
``watching.ListWatchLoop``):

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
:class:`Reflector` reflects it into the :class:`KindStore` (a list is diffed
against the store, a watch event updates it) and then awaits ``on_event`` for
each change: the store is updated before any handler runs. See
docs/KUBERNETES.md for the guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from zombiewatch.adapters.kubernetes.bridge import LoopBridge
from zombiewatch.adapters.kubernetes.client import ApiClientFactory
from zombiewatch.adapters.kubernetes.decoding import Codec, DecodedItem
from zombiewatch.adapters.kubernetes.listing import Listing
from zombiewatch.adapters.kubernetes.resources import ResourceCallsFactory
from zombiewatch.adapters.kubernetes.store import KindStore, Listed, WatchEvent
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.adapters.kubernetes.watching import (
    Delivery,
    InformerSettings,
    InformerStats,
    ListWatchLoop,
)
from zombiewatch.adapters.logfields import log_event

logger = logging.getLogger(__name__)

V = TypeVar("V")

__all__ = ["Informer", "Reflector"]


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
        codec: Codec[V],
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
            log_event(logger, logging.ERROR, "informer_stop_timeout", informer=self.name)
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
            log_event(logger, logging.ERROR, "informer_crashed", exc_info=True,
                      informer=self.name)
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
        log_event(logger, logging.INFO, "informer_listed", informer=self._name,
                  items=len(listed), changes=len(changes), rv=listing.resource_version)
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
            log_event(logger, logging.ERROR, "informer_handler_failed", exc_info=True,
                      informer=self._name)

    def _problem(self, skipped: Skipped) -> None:
        self._stats.problems += 1
        log_event(logger, logging.WARNING, "informer_skipped", informer=self._name,
                  kind=skipped.kind, namespace=skipped.namespace, name=skipped.name,
                  reason=skipped.reason)
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

"""One store per kind: the objects the informer reflects and the app reads.

As in client-go's ``tools/cache``, the informer reflects its list and watch into
this store and nothing else: a re-list is diffed against it, watch events update
it, and the handlers are told each change after the store holds it. It lives on
the event loop (the informer's consumer task is its only writer), so it needs no
locks.

Objects are kept by name (an informer watches one namespace) with the
``resourceVersion`` they came with (what a re-list compares); an optional index
groups them by a derived key (pods by their Job's name) as tuples: a Job has one
pod or a few, and a 1-tuple costs 48 bytes where a 1-entry dict costs 184.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, KeysView
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

V = TypeVar("V")


class Change(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class WatchEvent(Generic[V]):
    """One change of one object, as the app's handlers see it."""

    change: Change
    view: V
    """The new state; for DELETED the last state seen."""
    previous: V | None
    """The state the store held before (None for ADDED)."""


@dataclass(frozen=True, slots=True)
class Listed(Generic[V]):
    """One object of a complete list: its key, resourceVersion and view."""

    key: str
    resource_version: str
    view: V


class KindStore(Generic[V]):
    """The objects of one kind by name, optionally indexed."""

    def __init__(self, *, index: Callable[[V], str] | None = None) -> None:
        self._items: dict[str, tuple[str, V]] = {}
        self._index_of = index
        self._index: dict[str, tuple[V, ...]] = {}
        self._synced = asyncio.Event()

    # ---------------------------------------------------------------- reading

    def get(self, key: str) -> V | None:
        entry = self._items.get(key)
        return entry[1] if entry is not None else None

    def keys(self) -> KeysView[str]:
        return self._items.keys()

    def values(self) -> tuple[V, ...]:
        return tuple(view for _, view in self._items.values())

    def indexed(self, index_key: str) -> tuple[V, ...]:
        """The objects whose index key is ``index_key`` (no copy: the tuple is shared)."""
        return self._index.get(index_key, ())

    def __len__(self) -> int:
        return len(self._items)

    @property
    def index_keys(self) -> int:
        """Keys of the index (pods: the Jobs they belong to); 0 without an index."""
        return len(self._index)

    @property
    def synced(self) -> bool:
        """True once the first complete list has been applied."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    # ---------------------------------------------------------------- reflecting

    def mark_synced(self) -> None:
        self._synced.set()

    def put(self, key: str, resource_version: str, view: V) -> WatchEvent[V]:
        """An object was added or modified (a watch event)."""
        previous = self._items.get(key)
        self._items[key] = (resource_version, view)
        if previous is None:
            self._index_add(view)
            return WatchEvent(Change.ADDED, view, None)
        self._index_replace(previous[1], view)
        return WatchEvent(Change.MODIFIED, view, previous[1])

    def delete(self, key: str) -> WatchEvent[V] | None:
        """An object is gone (or no longer qualifies); None when it was not held."""
        previous = self._items.pop(key, None)
        if previous is None:
            return None
        self._index_discard(previous[1])
        return WatchEvent(Change.DELETED, previous[1], previous[1])

    def replace(self, listed: Iterable[Listed[V]]) -> list[WatchEvent[V]]:
        """A complete list: apply the difference to what the store holds, and return it.

        Added and changed objects (by resourceVersion) in list order, then the
        deleted ones in store order.
        """
        events: list[WatchEvent[V]] = []
        seen: set[str] = set()
        for item in listed:
            seen.add(item.key)
            held = self._items.get(item.key)
            if held is None or held[0] != item.resource_version:
                events.append(self.put(item.key, item.resource_version, item.view))
        for key in [k for k in self._items if k not in seen]:
            event = self.delete(key)
            if event is not None:
                events.append(event)
        return events

    # ---------------------------------------------------------------- index

    def _index_add(self, view: V) -> None:
        if self._index_of is not None:
            key = self._index_of(view)
            self._index[key] = (*self._index.get(key, ()), view)

    def _index_discard(self, view: V) -> None:
        if self._index_of is None:
            return
        key = self._index_of(view)
        kept = tuple(v for v in self._index.get(key, ()) if v is not view)
        if kept:
            self._index[key] = kept
        else:
            self._index.pop(key, None)

    def _index_replace(self, old: V, new: V) -> None:
        self._index_discard(old)
        self._index_add(new)

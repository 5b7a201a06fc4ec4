"""Handing items from a worker thread to the asyncio loop, in order, without blocking either."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Generic, TypeVar

T = TypeVar("T")


class _Closed:
    """The end-of-stream marker behind :meth:`LoopBridge.close`."""


_CLOSED = _Closed()


class LoopBridge(Generic[T]):
    """A thread posts with :meth:`post`; one consumer on the loop awaits :meth:`get`.

    ``post`` is ``loop.call_soon_threadsafe(queue.put_nowait, item)``: the
    thread never waits for the loop, and items arrive in the order posted.
    After :meth:`close`, ``get`` returns None once everything posted before it
    has been consumed.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[T | _Closed] = asyncio.Queue()

    def post(self, item: T) -> None:
        """From any thread; dropped silently once the loop is closed (shutdown)."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def close(self) -> None:
        """On the loop: let the consumer finish after what is already queued."""
        self._queue.put_nowait(_CLOSED)

    async def get(self) -> T | None:
        item = await self._queue.get()
        return None if isinstance(item, _Closed) else item

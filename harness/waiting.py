"""Waiting until the real services make something true: the one wait-until helper.

The API server, the broker, the node and a daemon under test all change state in their own
time, so the tests, the harness, the demo and the benchmarks poll: ``wait_until`` from a
coroutine, ``wait_until_sync`` from plain code. Both fail with an ``AssertionError`` naming
what never happened and return the seconds waited (for the few tests that report it).

``zwservices.procs.wait_until`` is the services' own start-up wait (it raises the service's
error with its log); ``zwservices`` cannot import the harness, so it keeps its own. Tests use
this module.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

WAIT = 30.0
"""The default bound of a wait, in seconds: long enough for a loaded 2-core machine."""


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], what: str, *,
                     timeout: float = WAIT, interval: float = 0.05,
                     between: Callable[[], Awaitable[None] | None] | None = None,
                     detail: Callable[[], str] | None = None) -> float:
    """Poll ``condition`` (a plain or an async predicate) until it holds.

    ``between`` runs after every unmet poll (a tick to drive, or a check that raises to stop
    waiting at once, e.g. when the daemon under test died); ``detail`` adds what helps the
    reader of a timeout (a log tail, the last value seen).
    """
    started = time.monotonic()
    while not await _holds(condition):
        waited = time.monotonic() - started
        if waited > timeout:
            raise AssertionError(_timed_out(what, timeout, detail))
        if between is not None:
            result = between()
            if inspect.isawaitable(result):
                await result
        await asyncio.sleep(interval)
    return time.monotonic() - started


def wait_until_sync(condition: Callable[[], bool], what: str, *, timeout: float = WAIT,
                    interval: float = 0.1, detail: Callable[[], str] | None = None) -> float:
    """``wait_until`` for code that is not a coroutine (it sleeps the thread)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(_timed_out(what, timeout, detail))
        time.sleep(interval)
    return time.monotonic() - started


async def _holds(condition: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = condition()
    return bool(await result) if inspect.isawaitable(result) else bool(result)


def _timed_out(what: str, timeout: float, detail: Callable[[], str] | None) -> str:
    message = f"timed out after {timeout:g}s waiting for {what}"
    return message if detail is None else f"{message}; {detail()}"

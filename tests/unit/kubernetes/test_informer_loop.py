"""The informer's two sides without threads: the list/watch loop over scripted
``ResourceCalls``, and the reflection of what it delivers into the one store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from tests.unit.worlds.logs import json_events
from zombiewatch.adapters.kubernetes.backoff import BackoffSettings
from zombiewatch.adapters.kubernetes.decoding import POD
from zombiewatch.adapters.kubernetes.errors import TransportError
from zombiewatch.adapters.kubernetes.informer import Reflector
from zombiewatch.adapters.kubernetes.listing import Listing
from zombiewatch.adapters.kubernetes.resources import ResourceCalls
from zombiewatch.adapters.kubernetes.store import Change, KindStore, WatchEvent
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.adapters.kubernetes.watching import (
    Delivery,
    InformerSettings,
    InformerStats,
    ListWatchLoop,
)
from zombiewatch.domain.views import PodPhase, PodView
from zombiewatch.testing.fakes import FakeClock
from zombiewatch.testing.raw_api import raw_pod

NO_JITTER = BackoffSettings(initial=1.0, factor=2.0, cap=3.0, jitter=0.0)


def line(event_type: str, obj: object) -> bytes:
    return msgspec.json.encode({"type": event_type, "object": obj}) + b"\n"


def page(rv: str, *pods: dict[str, Any]) -> bytes:
    return msgspec.json.encode({"metadata": {"resourceVersion": rv}, "items": list(pods)})


def pod_named(name: str, rv: str = "101", **overrides: Any) -> dict[str, Any]:
    return raw_pod(metadata__name=name, metadata__resourceVersion=rv, **overrides)


def bookmark(rv: str) -> bytes:
    return line("BOOKMARK", {"kind": "Pod", "metadata": {"resourceVersion": rv}})


@dataclass
class FakeStopping:
    """``threading.Event`` without a thread: waits are recorded, never slept."""

    stopped: bool = False
    waits: list[float] = field(default_factory=list)

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.stopped


@dataclass
class FakeResponse:
    """A list page (``data``) or a watch stream (``chunks``) that records how it was closed."""

    data: bytes = b""
    chunks: Callable[[], Iterator[bytes]] = lambda: iter(())
    shut_down: bool = False
    closed: bool = False

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        return self.chunks()

    def shutdown(self) -> None:
        self.shut_down = True

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


Step = FakeResponse | Exception


@dataclass
class ScriptedCalls:
    """Answers list and watch requests from two scripts.

    A request past the end of its script stops the loop the way ``stop()`` does:
    the stop flag is set and the request fails.
    """

    stopping: FakeStopping
    lists: list[Step]
    watches: list[Step]
    requests: list[dict[str, Any]] = field(default_factory=list)
    responses: list[FakeResponse] = field(default_factory=list)

    def calls(self) -> ResourceCalls:
        return ResourceCalls(self.call, None)

    def call(self, query: Mapping[str, object], timeout: tuple[float, float]) -> FakeResponse:
        script = self.watches if query.get("watch") else self.lists
        if not script:
            self.stopping.stopped = True
            raise TransportError("closed by stop()")
        self.requests.append(dict(query))
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        self.responses.append(step)
        return step

    def watched_from(self) -> list[str]:
        return [r["resourceVersion"] for r in self.requests if r.get("watch")]


def stream(*lines: bytes) -> FakeResponse:
    return FakeResponse(chunks=lambda: iter(lines))


Looped = tuple[ListWatchLoop[PodView], list[Delivery[PodView]], InformerStats]


def loop_over(calls: ScriptedCalls, *, settings: InformerSettings | None = None,
              clock: FakeClock | None = None) -> Looped:
    delivered: list[Delivery[PodView]] = []
    stats = InformerStats()
    loop = ListWatchLoop(
        name="pods", codec=POD, deliver=delivered.append, stopping=calls.stopping, stats=stats,
        settings=settings or InformerSettings(backoff=NO_JITTER, relist_period=None),
        monotonic=(clock or FakeClock()).monotonic)
    return loop, delivered, stats


def listings(delivered: list[Delivery[PodView]]) -> list[str]:
    return [d.resource_version for d in delivered if isinstance(d, Listing)]


# ---------------------------------------------------------------- the loop


def test_a_410_during_the_watch_lists_again_without_backing_off() -> None:
    stopping = FakeStopping()
    calls = ScriptedCalls(
        stopping,
        lists=[FakeResponse(data=page("10", pod_named("a"))), FakeResponse(data=page("20"))],
        watches=[stream(line("ERROR", {"kind": "Status", "code": 410, "message": "too old"})),
                 stream()],
    )
    loop, delivered, stats = loop_over(calls)

    loop.run(calls.calls())

    assert listings(delivered) == ["10", "20"]
    assert calls.watched_from() == ["10", "20"]
    assert (stats.lists, stats.relists, stats.gone, stats.reconnects) == (2, 1, 1, 0)
    assert stopping.waits == [1.0]  # only the empty stream of the last watch backs off


def test_transport_errors_back_off_up_to_the_cap_and_success_resets_it() -> None:
    stopping = FakeStopping()
    broken = TransportError("connection refused")
    calls = ScriptedCalls(
        stopping,
        lists=[broken, broken, broken, FakeResponse(data=page("10"))],
        watches=[broken],
    )
    loop, delivered, stats = loop_over(calls)

    loop.run(calls.calls())

    assert stopping.waits == [1.0, 2.0, 3.0, 1.0]
    assert stats.reconnects == 4
    assert listings(delivered) == ["10"]


def test_a_bookmark_only_stream_moves_the_resource_version_and_delivers_nothing() -> None:
    stopping = FakeStopping()
    calls = ScriptedCalls(
        stopping,
        lists=[FakeResponse(data=page("10"))],
        watches=[stream(bookmark("15"), bookmark("17")), stream(line("ADDED", pod_named("b"))),
                 stream()],
    )
    loop, delivered, stats = loop_over(calls)

    loop.run(calls.calls())

    assert calls.watched_from() == ["10", "17", "101"]
    assert [type(d).__name__ for d in delivered] == ["Listing", "DecodedEvent"]
    assert stats.events == 1


def test_a_stop_during_a_watch_ends_the_loop_and_closes_the_stream() -> None:
    stopping = FakeStopping()

    def lines() -> Iterator[bytes]:
        yield line("ADDED", pod_named("a", rv="11"))
        stopping.stopped = True  # stop() arrives while the stream is open
        loop.interrupt()
        yield line("ADDED", pod_named("b", rv="12"))

    calls = ScriptedCalls(stopping, lists=[FakeResponse(data=page("10"))],
                          watches=[FakeResponse(chunks=lines), stream()])
    loop, delivered, _ = loop_over(calls)

    loop.run(calls.calls())

    watch = calls.responses[-1]
    assert (watch.shut_down, watch.closed) == (True, True)
    assert len(delivered) == 2  # the list and the first event, not the one after the stop
    assert calls.watched_from() == ["10"]


def test_every_relist_period_the_collection_is_listed_again() -> None:
    stopping = FakeStopping()
    clock = FakeClock()

    def minute_long_stream() -> Iterator[bytes]:
        clock.advance(60)
        yield bookmark("10")

    calls = ScriptedCalls(
        stopping,
        lists=[FakeResponse(data=page("10")), FakeResponse(data=page("30"))],
        watches=[FakeResponse(chunks=minute_long_stream),
                 FakeResponse(chunks=minute_long_stream), stream()],
    )
    settings = InformerSettings(backoff=NO_JITTER, relist_period=100.0, watch_timeout_seconds=50)
    loop, delivered, stats = loop_over(calls, settings=settings, clock=clock)

    loop.run(calls.calls())

    assert listings(delivered) == ["10", "30"]
    assert stats.relists == 1
    timeouts = [r["timeoutSeconds"] for r in calls.requests if r.get("watch")]
    assert timeouts[:2] == [50, 41]  # the second watch ends when the re-list is due


def test_an_unexpected_error_is_logged_with_its_traceback_counted_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopping = FakeStopping()
    calls = ScriptedCalls(stopping, lists=[ValueError("a bug"), FakeResponse(data=page("10"))],
                          watches=[])
    loop, delivered, stats = loop_over(calls)

    with caplog.at_level(logging.ERROR):
        loop.run(calls.calls())

    assert stats.errors == 1
    assert stopping.waits == [1.0]
    assert listings(delivered) == ["10"]
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)


# ---------------------------------------------------------------- the reflection


@dataclass
class Handler:
    """Records each change with what the store held when the handler ran."""

    store: KindStore[PodView]
    seen: list[tuple[Change, str, int]] = field(default_factory=list)

    async def __call__(self, event: WatchEvent[PodView]) -> None:
        self.seen.append((event.change, event.view.name, len(self.store)))


def reflecting() -> tuple[Reflector[PodView], KindStore[PodView], Handler, list[Skipped]]:
    store: KindStore[PodView] = KindStore(index=lambda p: p.job_name)
    handler = Handler(store)
    problems: list[Skipped] = []
    reflector = Reflector(name="pods", store=store, stats=InformerStats(), on_event=handler,
                          on_problem=problems.append)
    return reflector, store, handler, problems


def listing_of(rv: str, *pods: dict[str, Any]) -> Listing[PodView]:
    return Listing(rv, tuple(POD.decode_item(msgspec.json.encode(p)) for p in pods))


async def test_a_listing_is_reflected_before_its_changes_are_handled_then_synced() -> None:
    reflector, store, handler, _ = reflecting()

    await reflector.reflect(listing_of("10", pod_named("a"), pod_named("b")))

    assert handler.seen == [(Change.ADDED, "a", 2), (Change.ADDED, "b", 2)]
    assert store.synced


async def test_a_relist_after_a_gap_yields_only_the_difference() -> None:
    reflector, store, handler, _ = reflecting()
    await reflector.reflect(listing_of("10", pod_named("keeps"), pod_named("changes"),
                                       pod_named("vanishes")))
    handler.seen.clear()

    await reflector.reflect(listing_of(
        "20", pod_named("keeps"), pod_named("appears", rv="15"),
        pod_named("changes", rv="12", status__phase="Running")))

    assert sorted((c, n) for c, n, _ in handler.seen) == [
        (Change.ADDED, "appears"), (Change.DELETED, "vanishes"), (Change.MODIFIED, "changes")]
    changed = store.get("changes")
    assert changed is not None
    assert changed.phase is PodPhase.RUNNING


async def test_an_object_that_no_longer_qualifies_is_dropped_from_the_store() -> None:
    reflector, store, handler, problems = reflecting()
    await reflector.reflect(listing_of("10", pod_named("a")))
    unlabelled = pod_named("a", rv="11", metadata__labels={})
    event = POD.decode_event(line("MODIFIED", unlabelled).strip())

    await reflector.reflect(event)

    assert handler.seen[-1] == (Change.DELETED, "a", 0)
    assert [p.name for p in problems] == ["a"]
    assert len(store) == 0


async def test_a_skipped_object_is_logged_with_its_fields_as_json_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reflector, _, _, _ = reflecting()
    unlabelled = pod_named("a", rv="11", metadata__labels={})

    with caplog.at_level(logging.WARNING, logger="zombiewatch.adapters.kubernetes.informer"):
        await reflector.reflect(POD.decode_event(line("ADDED", unlabelled).strip()))

    (skipped,) = json_events(caplog.records, "informer_skipped")
    assert (skipped["informer"], skipped["kind"], skipped["name"]) == ("pods", "Pod", "a")
    assert skipped["reason"]
    assert "msg" not in skipped

"""The informer's two sides without threads: the list/watch loop over scripted
``ResourceCalls``, and the reflection of what it delivers into the one store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
import pytest

from tests.unit.worlds.logs import json_events
from zombiewatch.adapters.kubernetes.backoff import BackoffSettings
from zombiewatch.adapters.kubernetes.decoding import POD, DecodedEvent
from zombiewatch.adapters.kubernetes.errors import ApiStatusError, ForbiddenError, TransportError
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
    StreamBegun,
    Streamed,
    StreamSynced,
)
from zombiewatch.domain.views import PodPhase, PodView
from zombiewatch.testing.fakes import FakeClock
from zombiewatch.testing.raw_api import raw_pod

NO_JITTER = BackoffSettings(initial=1.0, factor=2.0, cap=3.0, jitter=0.0)
PAGED = InformerSettings(backoff=NO_JITTER, relist_period=None, watch_list=False)
"""The paged LIST + WATCH (what a server that refuses watch-list gets)."""
STREAMED = InformerSettings(backoff=NO_JITTER, relist_period=None)


def line(event_type: str, obj: object) -> bytes:
    return msgspec.json.encode({"type": event_type, "object": obj}) + b"\n"


def page(rv: str, *pods: dict[str, Any]) -> bytes:
    return msgspec.json.encode({"metadata": {"resourceVersion": rv}, "items": list(pods)})


def pod_named(name: str, rv: str = "101", **overrides: Any) -> dict[str, Any]:
    return raw_pod(metadata__name=name, metadata__resourceVersion=rv, **overrides)


def bookmark(rv: str) -> bytes:
    return line("BOOKMARK", {"kind": "Pod", "metadata": {"resourceVersion": rv}})


def initial_events_end(rv: str) -> bytes:
    """The bookmark that ends a watch-list's initial events (as the API server sends it)."""
    return line("BOOKMARK", {"kind": "Pod", "metadata": {
        "resourceVersion": rv, "creationTimestamp": None,
        "annotations": {"k8s.io/initial-events-end": "true"}}, "spec": {"containers": None},
        "status": {}})


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
        """The resourceVersion of each watch; "list" for a watch-list (it has none)."""
        return [r.get("resourceVersion", "list") for r in self.requests if r.get("watch")]


def stream(*lines: bytes) -> FakeResponse:
    return FakeResponse(chunks=lambda: iter(lines))


Looped = tuple[ListWatchLoop[PodView], list[Delivery[PodView]], InformerStats]


def loop_over(calls: ScriptedCalls, *, settings: InformerSettings | None = None,
              clock: FakeClock | None = None) -> Looped:
    delivered: list[Delivery[PodView]] = []
    stats = InformerStats()
    loop = ListWatchLoop(
        name="pods", codec=POD, deliver=delivered.append, stopping=calls.stopping, stats=stats,
        settings=settings or PAGED,
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
    settings = InformerSettings(backoff=NO_JITTER, relist_period=100.0, watch_timeout_seconds=50,
                                watch_list=False)
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


# ---------------------------------------------------------------- the watch-list


def kinds(delivered: list[Delivery[PodView]]) -> list[str]:
    """Each delivery's kind; a page of streamed objects as ``Streamed(<their types>)``."""
    return [d.type if isinstance(d, DecodedEvent)
            else f"Streamed({', '.join(e.type for e in d.events)})" if isinstance(d, Streamed)
            else type(d).__name__ for d in delivered]


def test_a_watch_list_streams_the_objects_ends_at_its_bookmark_and_watches_on() -> None:
    stopping = FakeStopping()
    calls = ScriptedCalls(
        stopping, lists=[],
        watches=[stream(line("ADDED", pod_named("a", rv="7")),
                        line("ADDED", pod_named("b", rv="5")),
                        line("ADDED", pod_named("c", rv="6")),
                        initial_events_end("20"), line("MODIFIED", pod_named("a", rv="21"))),
                 stream()],
    )
    loop, delivered, stats = loop_over(calls, settings=replace(STREAMED, page_size=2))

    loop.run(calls.calls())

    first = calls.requests[0]
    assert (first["watch"], first["sendInitialEvents"], first["allowWatchBookmarks"],
            first["resourceVersionMatch"]) == (True, True, True, "NotOlderThan")
    assert "resourceVersion" not in first  # "": the current state, read consistently
    assert kinds(delivered) == ["StreamBegun", "Streamed(ADDED, ADDED)", "Streamed(ADDED)",
                                "StreamSynced", "MODIFIED"]  # a page at a time, then each
    assert StreamSynced("20") in delivered
    assert calls.watched_from() == ["list", "21"]  # on from the stream's last event
    assert (stats.lists, stats.watch_lists, stats.events) == (1, 1, 1)


def test_a_stream_broken_after_its_bookmark_resumes_and_one_broken_before_streams_again() -> None:
    stopping = FakeStopping()

    def broken_after_the_bookmark() -> Iterator[bytes]:
        yield line("ADDED", pod_named("a", rv="7"))
        yield initial_events_end("20")
        raise TransportError("connection reset")

    def broken_before_it() -> Iterator[bytes]:
        yield line("ADDED", pod_named("a", rv="7"))
        raise TransportError("connection reset")

    calls = ScriptedCalls(
        stopping, lists=[],
        watches=[FakeResponse(chunks=broken_before_it),
                 FakeResponse(chunks=broken_after_the_bookmark), stream()],
    )
    loop, delivered, stats = loop_over(calls, settings=STREAMED)

    loop.run(calls.calls())

    assert calls.watched_from() == ["list", "list", "20"]
    assert kinds(delivered) == ["StreamBegun", "Streamed(ADDED)", "StreamBegun",
                                "Streamed(ADDED)", "StreamSynced"]
    assert (stats.lists, stats.watch_lists, stats.reconnects) == (1, 1, 2)


def test_a_410_after_a_watch_list_syncs_by_a_watch_list_again() -> None:
    stopping = FakeStopping()
    calls = ScriptedCalls(
        stopping, lists=[],
        watches=[stream(initial_events_end("20")),
                 stream(line("ERROR", {"kind": "Status", "code": 410, "message": "too old"})),
                 stream(initial_events_end("40")), stream()],
    )
    loop, _, stats = loop_over(calls, settings=STREAMED)

    loop.run(calls.calls())

    assert calls.watched_from() == ["list", "20", "list", "40"]
    assert (stats.lists, stats.relists, stats.watch_lists, stats.gone) == (2, 1, 2, 1)


@pytest.mark.parametrize("status", [400, 422])
def test_a_server_refusing_the_watch_list_is_listed_by_pages_from_then_on(status: int) -> None:
    stopping = FakeStopping()
    refused = ApiStatusError(status, "sendInitialEvents is forbidden for watch unless the "
                                     "WatchList feature gate is enabled")
    calls = ScriptedCalls(
        stopping,
        lists=[FakeResponse(data=page("10", pod_named("a"))), FakeResponse(data=page("30"))],
        watches=[refused, stream(line("ERROR", {"kind": "Status", "code": 410})), stream()],
    )
    loop, delivered, stats = loop_over(calls, settings=STREAMED)

    loop.run(calls.calls())

    assert calls.watched_from() == ["list", "10", "30"]  # one watch-list, never again
    assert listings(delivered) == ["10", "30"]
    assert (stats.lists, stats.watch_lists, stats.reconnects) == (2, 0, 0)


def test_a_stream_that_ends_without_the_bookmark_falls_back_to_pages() -> None:
    stopping = FakeStopping()
    calls = ScriptedCalls(  # a server that ignores sendInitialEvents: a plain watch from ""
        stopping, lists=[FakeResponse(data=page("10", pod_named("a")))],
        watches=[stream(line("ADDED", pod_named("a", rv="7"))), stream()],
    )
    loop, delivered, stats = loop_over(calls, settings=STREAMED)

    loop.run(calls.calls())

    assert calls.watched_from() == ["list", "10"]
    assert kinds(delivered) == ["StreamBegun", "Streamed(ADDED)", "Listing"]
    assert (stats.lists, stats.watch_lists) == (1, 0)


def test_a_forbidden_watch_list_is_retried_as_any_refusal_not_taken_for_no_support() -> None:
    stopping = FakeStopping()
    calls = ScriptedCalls(
        stopping, lists=[],
        watches=[ForbiddenError(403, "Forbidden"), stream(initial_events_end("9"))])
    loop, _, stats = loop_over(calls, settings=STREAMED)

    loop.run(calls.calls())

    assert calls.watched_from() == ["list", "list"]
    assert (stats.reconnects, stats.watch_lists) == (1, 1)


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


def event(event_type: str, pod: dict[str, Any]) -> DecodedEvent[PodView]:
    return POD.decode_event(line(event_type, pod).strip())


def streamed(*pods: dict[str, Any]) -> Streamed[PodView]:
    return Streamed(tuple(event("ADDED", pod) for pod in pods))


async def test_a_streamed_resync_yields_only_the_difference_and_drops_what_was_not_streamed(
) -> None:
    reflector, store, handler, _ = reflecting()
    await reflector.reflect(listing_of("10", pod_named("keeps"), pod_named("changes"),
                                       pod_named("vanishes")))
    handler.seen.clear()

    await reflector.reflect(StreamBegun())
    await reflector.reflect(streamed(pod_named("keeps"), pod_named("appears", rv="15")))
    await reflector.reflect(streamed(pod_named("changes", rv="12", status__phase="Running")))
    assert [(c, n) for c, n, _ in handler.seen] == [
        (Change.ADDED, "appears"), (Change.MODIFIED, "changes")]
    assert store.get("vanishes") is not None  # until the initial events end
    await reflector.reflect(StreamSynced("20"))

    assert handler.seen[-1] == (Change.DELETED, "vanishes", 3)
    assert sorted(store.keys()) == ["appears", "changes", "keeps"]
    await reflector.reflect(event("DELETED", pod_named("keeps", rv="21")))
    assert sorted(store.keys()) == ["appears", "changes"]  # the watch goes on as ever


async def test_a_first_watch_list_marks_the_store_synced_only_at_its_bookmark() -> None:
    reflector, store, handler, _ = reflecting()

    await reflector.reflect(StreamBegun())
    await reflector.reflect(streamed(pod_named("a", rv="7")))
    assert (len(store), store.synced) == (1, False)
    await reflector.reflect(StreamSynced("20"))

    assert store.synced
    assert handler.seen == [(Change.ADDED, "a", 1)]


async def test_an_interrupted_stream_begun_again_drops_only_what_the_new_one_did_not_stream(
) -> None:
    reflector, store, _, _ = reflecting()
    await reflector.reflect(StreamBegun())
    await reflector.reflect(streamed(pod_named("gone-meanwhile", rv="7")))

    await reflector.reflect(StreamBegun())  # the first stream broke before its bookmark
    await reflector.reflect(streamed(pod_named("a", rv="8")))
    await reflector.reflect(StreamSynced("20"))

    assert list(store.keys()) == ["a"]


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

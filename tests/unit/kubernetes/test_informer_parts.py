"""The informer's pure parts: re-list diff, backoff, stream splitting, watch events."""

from __future__ import annotations

import itertools

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.adapters.kubernetes.backoff import Backoff, BackoffSettings
from zombiewatch.adapters.kubernetes.errors import GoneError, TransportError
from zombiewatch.adapters.kubernetes.listing import diff_relist, list_all
from zombiewatch.adapters.kubernetes.translation import POD, MalformedResponseError, Skipped
from zombiewatch.adapters.kubernetes.watching import iter_events, iter_lines
from zombiewatch.domain.views import PodView
from zombiewatch.testing.raw_api import raw_pod

# ---------------------------------------------------------------- re-list diff


def test_a_relist_diff_reports_adds_updates_and_deletes() -> None:
    known = {"ns/a": "1", "ns/b": "2", "ns/c": "3"}
    listed = {"ns/b": "2", "ns/c": "9", "ns/d": "4"}

    diff = diff_relist(known, listed)

    assert (diff.added, diff.updated, diff.deleted) == (("ns/d",), ("ns/c",), ("ns/a",))


def test_an_unchanged_relist_is_an_empty_diff() -> None:
    state = {"ns/a": "1"}
    diff = diff_relist(state, dict(state))
    assert diff.added == diff.updated == diff.deleted == ()


@given(
    st.dictionaries(st.text(max_size=3), st.sampled_from("123")),
    st.dictionaries(st.text(max_size=3), st.sampled_from("123")),
)
def test_applying_a_relist_diff_to_the_old_state_yields_the_new_state(
    known: dict[str, str], listed: dict[str, str]
) -> None:
    diff = diff_relist(known, listed)
    state = dict(known)
    for key in diff.deleted:
        del state[key]
    for key in (*diff.added, *diff.updated):
        state[key] = listed[key]

    assert state == listed
    assert set(diff.added).isdisjoint(diff.updated)


def test_list_all_follows_continue_tokens_and_keeps_the_last_resource_version() -> None:
    pages = {
        None: {"metadata": {"resourceVersion": "10", "continue": "p2"}, "items": [raw_pod()]},
        "p2": {
            "metadata": {"resourceVersion": "10"},
            "items": [raw_pod(metadata__name="second"), {"junk": 1}],
        },
    }
    asked: list[str | None] = []

    def fetch(token: str | None) -> bytes:
        asked.append(token)
        return msgspec.json.encode(pages[token])

    listing = list_all(fetch, POD)

    assert asked == [None, "p2"]
    assert listing.resource_version == "10"
    assert [type(i.result) for i in listing.items] == [PodView, PodView, Skipped]


# ---------------------------------------------------------------- backoff


def test_backoff_grows_exponentially_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(BackoffSettings(initial=1, factor=2, cap=10, jitter=0.5), random=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 10, 10]


def test_backoff_jitter_only_shortens_the_delay_by_at_most_the_jitter_fraction() -> None:
    backoff = Backoff(BackoffSettings(initial=4, factor=1, cap=4, jitter=0.5), random=lambda: 1.0)
    assert backoff.next_delay() == 2.0


def test_backoff_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(BackoffSettings(initial=1, factor=3, cap=100, jitter=0), random=lambda: 0.5)
    backoff.next_delay()
    backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1


@given(st.integers(min_value=0, max_value=2000), st.floats(min_value=0, max_value=1))
def test_backoff_never_exceeds_the_cap_nor_goes_negative(attempts: int, draw: float) -> None:
    backoff = Backoff(BackoffSettings(), random=lambda: draw, attempts=attempts)
    assert 0 <= backoff.next_delay() <= BackoffSettings().cap


# ---------------------------------------------------------------- stream splitting


def test_lines_are_reassembled_across_arbitrary_chunk_boundaries() -> None:
    stream = b'{"a":1}\n{"b":2}\n\n{"c":3}\n'
    for size in range(1, len(stream) + 1):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert list(iter_lines(chunks)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_a_final_line_without_newline_is_kept() -> None:
    assert list(iter_lines([b'{"a":1}\n{"b"', b":2}"])) == [b'{"a":1}', b'{"b":2}']


def _line(event_type: str, obj: object) -> bytes:
    return msgspec.json.encode({"type": event_type, "object": obj})


def test_watch_events_pass_through_in_order() -> None:
    lines = [_line("ADDED", raw_pod()), _line("BOOKMARK", {"metadata": {"resourceVersion": "9"}})]
    assert [e.type for e in iter_events(lines, POD)] == ["ADDED", "BOOKMARK"]


def test_an_error_event_with_410_raises_gone() -> None:
    lines = [_line("ERROR", {"kind": "Status", "code": 410, "message": "too old resource version"})]
    with pytest.raises(GoneError, match="too old"):
        list(iter_events(lines, POD))


def test_other_error_events_and_garbage_lines_are_transport_errors() -> None:
    with pytest.raises(TransportError):
        list(iter_events([_line("ERROR", {"code": 500})], POD))
    with pytest.raises(MalformedResponseError):
        list(iter_events([b"<html>"], POD))


def test_events_before_a_gone_are_delivered() -> None:
    lines = itertools.chain([_line("MODIFIED", raw_pod())], [_line("ERROR", {"code": 410})])
    events = iter_events(lines, POD)

    assert next(events).type == "MODIFIED"
    with pytest.raises(GoneError):
        next(events)

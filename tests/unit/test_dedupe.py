"""SPEC §7, the in-memory layer: TTL from the record, LRU eviction, bounded size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.dedupe import DEFAULT_CAPACITY, DEFAULT_TTL, RecentFailures
from zombiewatch.testing.strategies import job_names

T0 = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)
TTL = timedelta(hours=1)


def by_recency(dedupe: RecentFailures) -> tuple[str, ...]:
    """The held job names, least recently used first: the order eviction follows.

    Only the tests look at it (the product asks ``seen``), so it reads the entries here.
    """
    return tuple(dedupe._entries)


def test_defaults_are_one_hour_and_1024_entries() -> None:
    # Act
    dedupe = RecentFailures()
    for n in range(DEFAULT_CAPACITY + 1):
        dedupe.record(f"job-{n}", now=T0)
    # Assert
    assert dedupe.ttl == DEFAULT_TTL == timedelta(seconds=3600)
    assert len(dedupe) == DEFAULT_CAPACITY == 1024
    assert "job-0" not in dedupe


def test_an_unknown_job_is_not_seen() -> None:
    assert not RecentFailures().seen("job-a", now=T0)


def test_a_recorded_job_is_seen_until_just_before_the_ttl() -> None:
    # Arrange
    dedupe = RecentFailures(ttl=TTL)
    dedupe.record("job-a", now=T0)
    # Act
    inside = dedupe.seen("job-a", now=T0 + TTL - timedelta(microseconds=1))
    # Assert
    assert inside


def test_a_recorded_job_is_no_longer_seen_once_the_ttl_has_passed() -> None:
    # Arrange
    dedupe = RecentFailures(ttl=TTL)
    dedupe.record("job-a", now=T0)
    # Act
    at_ttl = dedupe.seen("job-a", now=T0 + TTL)
    # Assert
    assert not at_ttl
    assert len(dedupe) == 0


def test_a_hit_does_not_extend_the_ttl() -> None:
    # Arrange
    dedupe = RecentFailures(ttl=TTL)
    dedupe.record("job-a", now=T0)
    assert dedupe.seen("job-a", now=T0 + TTL / 2)
    # Act
    later = dedupe.seen("job-a", now=T0 + TTL)
    # Assert
    assert not later


def test_a_hit_refreshes_recency_so_the_least_recently_used_entry_is_evicted() -> None:
    # Arrange
    dedupe = RecentFailures(ttl=TTL, capacity=2)
    dedupe.record("job-a", now=T0)
    dedupe.record("job-b", now=T0)
    assert dedupe.seen("job-a", now=T0)
    # Act
    dedupe.record("job-c", now=T0)
    # Assert
    assert by_recency(dedupe) == ("job-a", "job-c")
    assert not dedupe.seen("job-b", now=T0)


def test_room_is_made_from_expired_entries_before_live_ones() -> None:
    # Arrange
    dedupe = RecentFailures(ttl=TTL, capacity=2)
    dedupe.record("job-live", now=T0 + TTL)
    dedupe.record("job-old", now=T0)
    # Act
    dedupe.record("job-new", now=T0 + TTL + timedelta(seconds=1))
    # Assert
    assert set(by_recency(dedupe)) == {"job-live", "job-new"}


def test_purge_drops_every_expired_entry() -> None:
    # Arrange
    dedupe = RecentFailures(ttl=TTL)
    dedupe.record("job-a", now=T0)
    dedupe.record("job-b", now=T0 + TTL)
    # Act
    dropped = dedupe.purge(now=T0 + TTL)
    # Assert
    assert dropped == 1
    assert by_recency(dedupe) == ("job-b",)


@pytest.mark.parametrize(
    ("ttl", "capacity"), [(timedelta(0), 1), (timedelta(seconds=-1), 1), (TTL, 0)]
)
def test_a_nonsensical_ttl_or_capacity_is_refused(ttl: timedelta, capacity: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        RecentFailures(ttl=ttl, capacity=capacity)


@given(name=job_names(), offset=st.integers(min_value=0, max_value=7200))
def test_dedupe_suppresses_inside_the_ttl_and_allows_after(name: str, offset: int) -> None:
    # Arrange
    dedupe = RecentFailures(ttl=TTL)
    dedupe.record(name, now=T0)
    # Act
    seen = dedupe.seen(name, now=T0 + timedelta(seconds=offset))
    # Assert
    assert seen is (timedelta(seconds=offset) < TTL)


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["record", "seen"]),
        st.sampled_from([f"job-{i}" for i in range(8)]),
        st.integers(min_value=0, max_value=600),
    ),
    max_size=60,
)


@given(operations=OPERATIONS, capacity=st.integers(min_value=1, max_value=5))
def test_dedupe_never_exceeds_capacity_and_matches_an_lru_model(
    operations: list[tuple[str, str, int]], capacity: int
) -> None:
    # Arrange
    ttl = timedelta(seconds=900)
    dedupe = RecentFailures(ttl=ttl, capacity=capacity)
    model: dict[str, datetime] = {}  # insertion order = recency, least recent first
    now = T0
    for operation, name, step in operations:
        now += timedelta(seconds=step)
        # Act
        if operation == "record":
            dedupe.record(name, now=now)
            model.pop(name, None)
            model[name] = now
            if len(model) > capacity:
                model = {k: at for k, at in model.items() if now - at < ttl}
            while len(model) > capacity:
                del model[next(iter(model))]
        elif operation == "seen":
            expected = name in model and now - model[name] < ttl
            if name in model and not expected:
                del model[name]
            elif expected:
                model[name] = model.pop(name)
            # Assert
            assert dedupe.seen(name, now=now) is expected
        # Assert
        assert len(dedupe) <= capacity
        assert by_recency(dedupe) == tuple(model)


def test_a_new_ttl_applies_to_the_entries_already_held() -> None:
    recent = RecentFailures(ttl=timedelta(seconds=60))
    t0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    recent.record("job-a", now=t0)

    recent.ttl = timedelta(seconds=600)

    assert recent.seen("job-a", now=t0 + timedelta(seconds=300))
    with pytest.raises(ValueError, match="positive"):
        recent.ttl = timedelta(0)

"""The task feed's usability: the one rule the judge, the sweeper and the confirmer ask."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from zombiewatch.domain.feed import usable


@dataclass(frozen=True)
class Status:
    up: bool
    caught_up: bool


@pytest.mark.parametrize(("feed", "expected"), [
    (Status(up=True, caught_up=True), True),
    (Status(up=True, caught_up=False), False),  # still reading: a missing task may come
    (Status(up=False, caught_up=True), False),  # down: its states go stale
    (None, False),  # not followed
])
def test_the_feed_is_usable_only_up_and_caught_up(feed: Status | None, expected: bool) -> None:
    assert usable(feed) is expected

"""When the task feed can be trusted (SPEC §6, §13): the one rule every reader of it asks.

The feed is usable while its topic is readable (``up``) and it has read every
partition to the end offset it found (``caught_up``). Before it caught up a
missing task may just not be read yet, and while it is down its states go
stale: then nothing is in flight through the feed, no baseline is taken and no
failure is confirmed or repaired (repairing blind would bump tasks twice).
"""

from __future__ import annotations

from typing import Protocol


class FeedStatus(Protocol):
    """Whether the feed's consumer reads its topic now (``KafkaTaskFeed`` is one)."""

    @property
    def up(self) -> bool: ...

    @property
    def caught_up(self) -> bool: ...


def usable(feed: FeedStatus | None) -> bool:
    """The feed (None: not followed) is up and caught up."""
    return feed is not None and feed.up and feed.caught_up

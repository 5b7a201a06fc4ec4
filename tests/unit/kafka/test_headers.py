"""The trigger-count-before record header: written on increments only, read back strictly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from zombiewatch.adapters.kafka.headers import (
    TRIGGER_COUNT_BEFORE,
    HeaderError,
    failure_headers,
    trigger_count_before,
)
from zombiewatch.domain.doctrine import zombie_failure
from zombiewatch.domain.reasons import ZombieReason

REPORT = zombie_failure(task_id="t-1", job_name="claude-t-1-20260602090000",
                        reason=ZombieReason.POD_EVICTED,
                        at=datetime(2026, 6, 2, 9, 0, tzinfo=UTC))
UPDATE, INCREMENT = REPORT.commands


@pytest.mark.parametrize("count", [0, 1, 41, -1, 2**63 - 1])
def test_a_known_count_rides_on_the_increment_and_reads_back(count: int) -> None:
    report = replace(REPORT, trigger_count_before=count)

    headers = failure_headers(report, INCREMENT)

    assert headers == ((TRIGGER_COUNT_BEFORE, str(count).encode()),)
    assert trigger_count_before(headers) == count
    assert failure_headers(report, UPDATE) == ()


def test_an_unknown_count_writes_nothing_and_no_header_reads_as_unknown() -> None:
    assert failure_headers(REPORT, INCREMENT) == ()
    assert trigger_count_before([]) is None
    assert trigger_count_before([("traceparent", b"00-abc")]) is None


def test_a_count_too_large_to_read_back_is_not_written() -> None:
    assert failure_headers(replace(REPORT, trigger_count_before=10**19), INCREMENT) == ()


@pytest.mark.parametrize("value", [b"", b"two", b"+1", b" 1", b"1.0", b"1\n", b"\xff",
                                   b"1" * 20, None])
def test_a_malformed_value_is_an_error_never_a_guess(value: bytes | None) -> None:
    with pytest.raises(HeaderError):
        trigger_count_before([(TRIGGER_COUNT_BEFORE, value)])


def test_the_header_twice_agrees_or_is_an_error() -> None:
    assert trigger_count_before([(TRIGGER_COUNT_BEFORE, b"3"), (TRIGGER_COUNT_BEFORE, b"3")]) == 3
    with pytest.raises(HeaderError):
        trigger_count_before([(TRIGGER_COUNT_BEFORE, b"3"), (TRIGGER_COUNT_BEFORE, b"4")])

"""The controller's consumer rules (domain.consumer): expiry, envelope checks, data decoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zombiewatch.domain.commands import BodySection
from zombiewatch.domain.consumer import (
    Json,
    Outcome,
    decode_increment,
    decode_update,
    envelope_outcome,
    is_expired,
)

NOW = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "expired"),
    [(timedelta(minutes=5), False), (timedelta(minutes=5, microseconds=1), True),
     (timedelta(hours=-87600), False), (timedelta(0), False)],
)  # fmt: skip
def test_a_record_expires_when_its_time_plus_five_minutes_is_before_now(
    age: timedelta, expired: bool
) -> None:
    assert is_expired(NOW - age, now=NOW) is expired


@pytest.mark.parametrize(
    ("request_id", "operation", "initiator", "outcome"),
    [
        ("r", "update-frontmatter", "executor", None),
        ("r", "increment-frontmatter", " ", None),
        ("", "update-frontmatter", "executor", Outcome.DROPPED_INVALID),
        ("r", "update-frontmatter", "", Outcome.DROPPED_INVALID),
        ("r", "Update-Frontmatter", "x", Outcome.DROPPED_INVALID),
        ("r", "update-frontmatter-v2", "x", Outcome.DROPPED_INVALID),
        ("r", "", "x", Outcome.DROPPED_INVALID),
        ("r", "delete-frontmatter", "x", Outcome.IGNORED_UNSUPPORTED_OPERATION),
    ],
)
def test_the_envelope_checks(
    request_id: str, operation: str, initiator: str, outcome: Outcome | None
) -> None:
    assert envelope_outcome(request_id=request_id, operation=operation,
                            initiator=initiator) is outcome


def test_update_fields_match_case_insensitively_and_null_means_absent() -> None:
    request = decode_update({"TASKIDENTIFIER": "t", "Updates": {"a": 1.0}, "body": None})
    assert request is not None
    assert (request.task_identifier, request.updates, request.body) == ("t", {"a": 1.0}, None)


def test_an_empty_body_object_is_an_empty_heading_and_section() -> None:
    request = decode_update({"taskIdentifier": "t", "body": {}})
    assert request is not None
    assert request.body == BodySection(heading="", section="")


@pytest.mark.parametrize(
    "data",
    [{"updates": []}, {"body": "x"}, {"taskIdentifier": 5.0}, {"body": {"section": True}}, "x"],
)
def test_wrongly_typed_update_data_is_skipped(data: Json) -> None:
    assert decode_update(data) is None


@pytest.mark.parametrize(
    ("delta", "expected"),
    [(1.0, 1), (2.0, 2), (-3.0, -3), (None, 0), (9007199254740992.0, 2**53), (1.5, None),
     (True, None), ("1", None), (1e21, None), (9.3e18, None)],
)  # fmt: skip
def test_the_delta_must_be_a_whole_float64_within_int64(delta: Json, expected: int | None) -> None:
    request = decode_increment({"taskIdentifier": "t", "field": "trigger_count", "delta": delta})
    assert (None if request is None else request.delta) == expected


def test_null_data_is_the_zero_command() -> None:
    assert decode_increment(None) is not None
    update = decode_update(None)
    assert update is not None
    assert (update.task_identifier, update.updates, update.body) == ("", None, None)

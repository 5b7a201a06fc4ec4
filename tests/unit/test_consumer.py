"""The controller's consumer rules (domain.consumer): expiry, envelope checks, data decoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zombiewatch.domain.commands import BodySection
from zombiewatch.domain.consumer import (
    EXPIRY,
    V0_3_EXPIRY,
    Json,
    Outcome,
    decode_increment,
    decode_update,
    envelope_outcome,
    is_expired,
    is_for_vault,
)
from zombiewatch.domain.controller_profile import CURRENT, V0_3, controller_profile

NOW = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)


@pytest.mark.parametrize("expiry", [EXPIRY, V0_3_EXPIRY], ids=["60min", "5min"])
@pytest.mark.parametrize(
    ("past", "expired"),
    [(timedelta(0), False), (timedelta(microseconds=1), True),
     (-timedelta(hours=87600), False), (None, False)],
)  # fmt: skip
def test_a_record_expires_when_its_time_plus_the_expiry_is_before_now(
    expiry: timedelta, past: timedelta | None, expired: bool
) -> None:
    age = timedelta(0) if past is None else expiry + past
    assert is_expired(NOW - age, now=NOW, expiry=expiry) is expired


def test_the_expiry_is_todays_sixty_minutes_unless_told_otherwise() -> None:
    assert timedelta(minutes=60) == EXPIRY
    assert is_expired(NOW - timedelta(minutes=59), now=NOW) is False
    assert is_expired(NOW - timedelta(minutes=60, microseconds=1), now=NOW) is True


def test_the_profiles_differ_where_the_controllers_do() -> None:
    assert (CURRENT.expiry, V0_3.expiry) == (timedelta(minutes=60), timedelta(minutes=5))
    assert (CURRENT.routes_by_vault, CURRENT.cap_opt_in, CURRENT.unique_ids) == (True,) * 3
    assert (V0_3.routes_by_vault, V0_3.cap_opt_in, V0_3.unique_ids) == (False,) * 3
    assert controller_profile("v0.3") is V0_3
    assert controller_profile("current") is CURRENT


def test_an_unknown_profile_is_a_one_line_error_naming_the_known_ones() -> None:
    known = r"^unknown controller profile 'v0.7' \(known: current, v0.3\)$"
    with pytest.raises(ValueError, match=known):
        controller_profile("v0.7")


@pytest.mark.parametrize(
    ("target_vault", "mine"),
    [("", True), ("personal", True), ("openclaw", False), ("Personal", False),
     (" personal", False), ("personal ", False)],
)  # fmt: skip
def test_a_command_is_this_vaults_when_it_names_none_or_exactly_this_one(
    target_vault: str, mine: bool
) -> None:
    assert is_for_vault(target_vault, "personal") is mine


@pytest.mark.parametrize(
    ("value", "decoded"), [("a", "a"), (None, ""), ("", ""), (1.0, None), (True, None), ([], None)]
)
def test_target_vault_must_be_a_string_in_todays_commands(value: Json, decoded: str | None) -> None:
    update = decode_update({"taskIdentifier": "t", "targetVault": value, "updates": {"a": 1.0}})
    increment = decode_increment({"taskIdentifier": "t", "TargetVault": value, "delta": 1.0})
    assert (None if update is None else update.target_vault) == decoded
    assert (None if increment is None else increment.target_vault) == decoded


def test_the_v0_3_command_types_ignore_target_vault_whatever_its_type() -> None:
    update = decode_update({"taskIdentifier": "t", "targetVault": 1.0}, routed=False)
    increment = decode_increment({"taskIdentifier": "t", "targetVault": "a"}, routed=False)
    assert update is not None
    assert update.target_vault == ""
    assert increment is not None
    assert increment.target_vault == ""


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

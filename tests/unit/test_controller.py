"""The reference controller beyond the vectors: never raises, whole vaults, vaults and profiles,
the YAML round trip."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.adapters.kafka.codec import Envelope, encode
from zombiewatch.domain.commands import Command
from zombiewatch.domain.consumer import Outcome
from zombiewatch.domain.doctrine import increment_trigger_count, spawn_notification, zombie_failure
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.taskfile import TaskFile, Value
from zombiewatch.testing._taskfile_text import read_task_text, write_task_text
from zombiewatch.testing._yamlv3 import dump_frontmatter, go_float, load_frontmatter, sorted_keys
from zombiewatch.testing.controller import ReferenceController, apply_record
from zombiewatch.testing.strategies import record_values, task_file_texts, task_files

NOW = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)
TASK = "3f2a9c1d-7b4e-4c1a-9d2e-0123456789ab"
JOB = "claude-3f2a9c1d-20260602094600"
FILE = (
    f"---\ntask_identifier: {TASK}\nassignee: claude\nphase: in_progress\n"
    "trigger_count: 0\nmax_triggers: 2\n---\n# Task\n"
)


def record(command: Command, *, at: datetime = NOW, initiator: str = "executor") -> bytes:
    from uuid import UUID  # noqa: PLC0415

    return encode(Envelope(request_id=UUID(int=1), request_time=at, command=command,
                           initiator=initiator))


def raw(data: dict[str, Any], *, operation: str = "update-frontmatter", **envelope: Any) -> bytes:
    return json.dumps({"requestID": "r1", "requestTime": "2026-06-02T09:46:00Z",
                       "initiator": "executor", "operation": operation, "data": data,
                       **envelope}).encode()


def inc(delta: object) -> bytes:
    data = {"taskIdentifier": TASK, "field": "n", "delta": delta}
    return raw(data, operation="increment-frontmatter")


@pytest.mark.parametrize("profile", ["current", "v0.3"])
@given(text=task_file_texts(), value=record_values())
def test_apply_record_never_raises(profile: str, text: str, value: bytes) -> None:
    applied = apply_record(text, value, now=NOW, profile=profile)
    assert applied.outcome in set(Outcome)
    if applied.outcome is not Outcome.HANDLED:
        assert applied.text == text


@given(text=st.text(st.characters(exclude_categories=())), value=st.binary())
def test_apply_record_never_raises_on_any_text_and_bytes(text: str, value: bytes) -> None:
    assert apply_record(text, value, now=NOW).outcome in set(Outcome)


def test_a_dispatch_then_failures_clear_the_assignee_at_the_cap() -> None:
    # Arrange
    vault = ReferenceController(files={"tasks/a.md": FILE})
    failure = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_EVICTED, at=NOW)
    stream = [
        record(increment_trigger_count(TASK)),
        record(spawn_notification(task_id=TASK, job_name=JOB, started_at=NOW)),
        *(record(c) for c in failure.commands),
    ]
    # Act
    outcomes = [d.outcome for d in vault.apply_all(stream, now=NOW)]
    # Assert
    assert outcomes == [Outcome.HANDLED] * 4
    task = vault.task(TASK)
    assert task is not None
    assert task.frontmatter["trigger_count"] == 2
    assert task.frontmatter["assignee"] == ""
    assert task.frontmatter["job_started_at"] == "2026-06-02T09:46:00Z"
    assert task.frontmatter["spawn_notification"] is True
    assert "previous_assignee" not in task.frontmatter
    assert task.body.count("## Failure") == 1


def test_the_v0_3_lookup_reads_only_task_files_and_takes_the_first_by_path() -> None:
    other = FILE.replace("assignee: claude", "assignee: codex")
    vault = ReferenceController(
        files={"notes/x.md": FILE, "tasks/b.md": other, "tasks/a.md": FILE, "tasks/c.txt": FILE},
        profile="v0.3",
    )
    dispatch = vault.apply(record(increment_trigger_count(TASK)), now=NOW)
    assert dispatch.path == "tasks/a.md"
    assert vault.files["tasks/b.md"] == other


def test_todays_lookup_reads_only_task_files_and_fails_on_two_with_one_id() -> None:
    other = FILE.replace("assignee: claude", "assignee: codex")
    files = {"notes/x.md": FILE, "tasks/b.md": other, "tasks/a.md": FILE, "tasks/c.txt": FILE}
    vault = ReferenceController(files=dict(files))
    dispatch = vault.apply(record(increment_trigger_count(TASK)), now=NOW)
    assert dispatch.outcome is Outcome.ERROR
    assert dispatch.error == f"duplicate task_identifier {TASK} in tasks/a.md and tasks/b.md"
    assert vault.files == files
    del files["tasks/b.md"]
    single = ReferenceController(files=files)
    assert single.apply(record(increment_trigger_count(TASK)), now=NOW).path == "tasks/a.md"


def test_unreadable_files_are_invisible_to_the_lookup() -> None:
    vault = ReferenceController(files={"tasks/a.md": "\n" + FILE, "tasks/b.md": FILE.replace(
        "phase: in_progress", "phase: [")})
    assert vault.apply(record(increment_trigger_count(TASK)), now=NOW).outcome is (
        Outcome.HANDLED_TASK_NOT_FOUND)


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        (raw({"taskIdentifier": TASK, "updates": {"a": 1}}), Outcome.HANDLED),
        (raw({"taskIdentifier": TASK, "updates": {"a": 1}}, requestTime="2026-06-02T08:45:59Z"),
         Outcome.DROPPED_EXPIRED),
        (raw({"taskIdentifier": TASK, "updates": {"a": 1}}, requestTime="2026-06-02T08:46:00Z"),
         Outcome.HANDLED),
        (raw({"taskIdentifier": TASK, "updates": {"a": 1}}, requestTime="2036-06-02T09:41:00Z"),
         Outcome.HANDLED),
        (raw({"taskIdentifier": TASK, "updates": {"a": 1}}, requestTime=None),
         Outcome.DROPPED_EXPIRED),
        (raw({"taskIdentifier": TASK, "updates": {"a": 1}}, requestTime=5),
         Outcome.DROPPED_UNMARSHAL),
        (raw({"taskIdentifier": TASK, "updates": {"a": 1}}, initiator=" "), Outcome.HANDLED),
        (raw({"TASKIDENTIFIER": TASK, "updates": {"a": 1}}), Outcome.HANDLED),
        (raw({"taskIdentifier": TASK, "updates": {"a": 1}}, operation="rename-task"),
         Outcome.IGNORED_UNSUPPORTED_OPERATION),
        (raw({"taskIdentifier": TASK, "updates": {"a": 1}}, operation="update_frontmatter"),
         Outcome.DROPPED_INVALID),
        (inc(1e0),
         Outcome.HANDLED),
        (inc(True),
         Outcome.SKIPPED),
        (inc(1e21),
         Outcome.SKIPPED),
        (raw({"taskIdentifier": TASK, "body": "x"}), Outcome.SKIPPED),
        (raw({"taskIdentifier": TASK, "body": {"heading": 1}}), Outcome.SKIPPED),
        (raw({"taskIdentifier": TASK}), Outcome.HANDLED_NOOP),
        (b"null", Outcome.DROPPED_EXPIRED),
        (b"[]", Outcome.DROPPED_UNMARSHAL),
        (b'{"requestID": NaN}', Outcome.DROPPED_UNMARSHAL),
        (b'{"requestID": 1e999}', Outcome.DROPPED_UNMARSHAL),
    ],
)  # fmt: skip
def test_the_consumer_rules(value: bytes, outcome: Outcome) -> None:
    assert apply_record(FILE, value, now=NOW).outcome is outcome


def test_a_redelivered_failure_counts_twice() -> None:
    failure = zombie_failure(task_id=TASK, job_name=JOB, reason=ZombieReason.POD_EVICTED, at=NOW)
    vault = ReferenceController(files={"tasks/a.md": FILE})
    values = [record(c) for c in failure.commands]
    vault.apply_all(values * 2, now=NOW)
    task = vault.task(TASK)
    assert task is not None
    assert task.frontmatter["trigger_count"] == 2
    assert task.body.count("## Failure") == 1


# --- the YAML round trip --------------------------------------------------------------------


def _same(a: Value, b: Value) -> bool:
    """Equal values of equal kinds (1 is not 1.0 nor True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _as_read(value: Value) -> Value:
    """What writing then reading does by design: floats in %g form may come back as ints."""
    if isinstance(value, float) and math.isfinite(value):
        text = go_float(value)
        if "." not in text and "e" not in text:
            return int(text)
    if isinstance(value, list):
        return [_as_read(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_read(item) for key, item in value.items()}
    return value


@given(task=task_files())
def test_written_frontmatter_reads_back_to_the_same_values_and_kinds(task: TaskFile) -> None:
    text = dump_frontmatter(task.frontmatter)
    assert _same(load_frontmatter(text), _as_read(task.frontmatter)), text


@given(task=task_files())
def test_a_written_task_file_reads_back_as_its_frontmatter_without_the_last_line_break(
    task: TaskFile,
) -> None:
    """The controller's split ends the frontmatter before the line break of the closing
    ``---``, so a literal block at the very end (a last value ``"0\n"``, written ``|``)
    reads back without its final line break - in the real controller as here. Every other
    value reads back as written (the test above)."""
    text = write_task_text(task)
    back = read_task_text(text)
    dumped = dump_frontmatter(task.frontmatter)
    assert _same(back.frontmatter, load_frontmatter(dumped.removesuffix("\n"))), text
    assert back.body == task.body


def test_a_last_value_ending_in_one_line_break_loses_it_on_the_way_back() -> None:
    task = TaskFile(frontmatter={"a": "x\n", "k": "0\n"}, body="")

    back = read_task_text(write_task_text(task))

    assert back.frontmatter == {"a": "x\n", "k": "0"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("010", 8), ("0o17", 15), ("0x1F", 31), ("0b11", 3), ("+5", 5), ("1_000", 1000),
        ("08", 8.0), ("1e3", 1000.0), ("2.50", 2.5), (".5", 0.5), ("9223372036854775808", 2**63),
        ("yes", "yes"), ("on", "on"), ("y", "y"), ("True", True), ("FALSE", False), ("~", None),
        ("", None), ("1:30", "1:30"), ("NaN", "NaN"), ("1e400", "1e400"), ("'010'", "010"),
        ("2026-7-5", datetime(2026, 7, 5, tzinfo=UTC)),
        ("2026-07-15 14:05:30", datetime(2026, 7, 15, 14, 5, 30, tzinfo=UTC)),
        ("2026-07-15T14:05:30.25+02:00",
         datetime(2026, 7, 15, 12, 5, 30, 250000, tzinfo=UTC)),
        ("2026-02-30", "2026-02-30"), ('"2026-06-30"', "2026-06-30"),
    ],
)  # fmt: skip
def test_scalars_read_as_yaml_v3_reads_them(text: str, expected: Value) -> None:
    value = load_frontmatter(f"k: {text}")["k"]
    assert _same(value, expected) or (
        isinstance(value, datetime) and value == expected and type(expected) is datetime)


@pytest.mark.parametrize(
    ("number", "text"),
    [(3.0, "3"), (1e6, "1e+06"), (123456.0, "123456"), (1.5, "1.5"), (1e-7, "1e-07"),
     (0.0001, "0.0001"), (2**53 + 1.0, "9.007199254740992e+15"), (-0.0, "-0")],
)  # fmt: skip
def test_floats_are_written_in_gos_shortest_g_form(number: float, text: str) -> None:
    assert go_float(number) == text


def test_keys_are_written_in_yaml_v3s_order() -> None:
    keys = ["item10", "Zeta", "ab", "a_b", "item2", "v1_x", "v1x", "_private", "alpha", "item9"]
    assert sorted_keys(dict.fromkeys(keys)) == [
        "_private", "Zeta", "a_b", "ab", "alpha", "item2", "item9", "item10", "v1x", "v1_x"]


def test_an_empty_frontmatter_is_written_as_an_empty_map() -> None:
    assert dump_frontmatter({}) == "{}\n"
    assert load_frontmatter("{}") == {}


@pytest.mark.parametrize("text", ["a: 1\na: 2", "[1, 2]", "x", "a: [", "a: *nope",
                                  "a: &x [*x]", "? [1]\n: v"])
def test_what_yaml_v3_refuses_is_refused(text: str) -> None:
    from zombiewatch.testing._yamlv3 import YamlError  # noqa: PLC0415

    with pytest.raises(YamlError):
        load_frontmatter(text)


def test_merge_keys_never_override_keys_written_in_the_map() -> None:
    assert load_frontmatter("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 9")["m"] == {"x": 9, "y": 2}


@pytest.mark.parametrize(("profile", "minutes"), [("current", 60), ("v0.3", 5)])
def test_the_expiry_is_the_profiles(profile: str, minutes: int) -> None:
    late = record(increment_trigger_count(TASK), at=NOW - timedelta(minutes=minutes,
                                                                      microseconds=1))
    on_time = record(increment_trigger_count(TASK), at=NOW - timedelta(minutes=minutes))
    assert apply_record(FILE, late, now=NOW, profile=profile).outcome is Outcome.DROPPED_EXPIRED
    assert apply_record(FILE, on_time, now=NOW, profile=profile).outcome is Outcome.HANDLED


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown controller profile 'v9'"):
        apply_record(FILE, b"{}", now=NOW, profile="v9")


# --- today's controller: vaults and the cap -------------------------------------------------


def routed(target_vault: Any, *, operation: str = "increment-frontmatter",
           task: str = TASK) -> bytes:
    data: dict[str, Any] = {"taskIdentifier": task, "targetVault": target_vault}
    if operation == "increment-frontmatter":
        data.update(field="trigger_count", delta=1)
    else:
        data.update(updates={"current_job": ""})
    return raw(data, operation=operation)


@pytest.mark.parametrize("operation", ["update-frontmatter", "increment-frontmatter"])
def test_a_command_for_another_vault_is_skipped_and_writes_nothing(operation: str) -> None:
    applied = apply_record(FILE, routed("openclaw", operation=operation), now=NOW)
    assert applied.outcome is Outcome.SKIPPED
    assert applied.detail is not None
    assert applied.detail.startswith("vault_mismatch:")
    assert applied.text == FILE


@pytest.mark.parametrize("target_vault", ["personal", "", None])
def test_a_command_for_this_vault_or_none_is_applied_and_stamps_it(target_vault: Any) -> None:
    applied = apply_record(FILE, routed(target_vault), now=NOW)
    assert applied.outcome is Outcome.HANDLED
    assert applied.frontmatter is not None
    assert applied.frontmatter["target_vault"] == "personal"
    assert applied.frontmatter["trigger_count"] == 1


def test_the_vault_is_the_controllers_own_name() -> None:
    mine = apply_record(FILE, routed("openclaw"), now=NOW, vault="openclaw")
    assert mine.outcome is Outcome.HANDLED
    assert mine.frontmatter is not None
    assert mine.frontmatter["target_vault"] == "openclaw"
    assert apply_record(FILE, routed("personal"), now=NOW, vault="openclaw").outcome is (
        Outcome.SKIPPED)


def test_the_vault_check_comes_before_the_no_op_and_the_lookup() -> None:
    noop = raw({"taskIdentifier": TASK, "targetVault": "openclaw"})
    unknown = routed("openclaw", task="no-such-task")
    assert apply_record(FILE, noop, now=NOW).outcome is Outcome.SKIPPED
    assert apply_record(FILE, unknown, now=NOW).outcome is Outcome.SKIPPED
    assert apply_record(FILE, routed("personal", task="no-such-task"), now=NOW).outcome is (
        Outcome.HANDLED_TASK_NOT_FOUND)


def test_the_v0_3_controller_neither_routes_nor_stamps() -> None:
    applied = apply_record(FILE, routed("openclaw"), now=NOW, profile="v0.3")
    assert applied.outcome is Outcome.HANDLED
    assert applied.frontmatter is not None
    assert "target_vault" not in applied.frontmatter


@pytest.mark.parametrize(("profile", "cleared"), [("current", False), ("v0.3", True)])
def test_without_max_triggers_only_v0_3_caps_at_3(profile: str, cleared: bool) -> None:
    uncapped = FILE.replace("max_triggers: 2\n", "").replace("trigger_count: 0", "trigger_count: 2")
    applied = apply_record(uncapped, record(increment_trigger_count(TASK)), now=NOW,
                           profile=profile)
    assert applied.frontmatter is not None
    assert applied.frontmatter["trigger_count"] == 3
    assert (applied.frontmatter["assignee"] == "") is cleared


def test_a_stale_index_entry_still_resolves_and_a_miss_walks() -> None:
    other = FILE.replace(TASK, "another-task")
    vault = ReferenceController(files={"tasks/a.md": FILE, "tasks/b.md": other},
                                index={TASK: "tasks/b.md", "gone": "tasks/gone.md"})
    assert vault.apply(record(increment_trigger_count(TASK)), now=NOW).path == "tasks/b.md"
    assert vault.apply(record(increment_trigger_count("another-task")), now=NOW).path == (
        "tasks/b.md")
    assert vault.apply(record(increment_trigger_count("gone")), now=NOW).outcome is (
        Outcome.HANDLED_TASK_NOT_FOUND)
    assert vault.files["tasks/a.md"] == FILE

"""The codec writes exactly the bytes Go's encoding/json writes, and round-trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.adapters.kafka.codec import (
    CodecError,
    Envelope,
    decode,
    encode,
    format_request_time,
    parse_request_time,
)
from zombiewatch.domain.commands import (
    BodySection,
    Command,
    IncrementFrontmatter,
    UpdateFrontmatter,
)
from zombiewatch.domain.doctrine import success_clear, zombie_failure
from zombiewatch.domain.reasons import ZombieReason

TASK_ID = "4aa57614-8835-4992-87e9-ca483ddbeae6"


def _golden(text: str) -> bytes:
    return text.encode("utf-8")


# --- goldens -------------------------------------------------------------------


def test_zombie_increment_matches_the_go_controllers_bytes() -> None:
    envelope = Envelope(
        request_id=UUID("5d2c1a9e-3b47-4c1f-8e62-7a90d4b3c215"),
        request_time=datetime(2026, 6, 2, 9, 15, 30, 371204, tzinfo=UTC),
        command=IncrementFrontmatter(task_identifier=TASK_ID, field="trigger_count", delta=1),
    )

    encoded = encode(envelope)

    assert encoded == _golden(
        '{"requestID":"5d2c1a9e-3b47-4c1f-8e62-7a90d4b3c215",'
        '"requestTime":"2026-06-02T09:15:30.371204Z","initiator":"executor",'
        '"operation":"increment-frontmatter","id":"",'
        '"data":{"delta":1,"field":"trigger_count",'
        '"taskIdentifier":"4aa57614-8835-4992-87e9-ca483ddbeae6"},"header":{}}'
    )


def test_zombie_update_with_failure_section_matches_the_go_controllers_bytes() -> None:
    section = (
        "## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n"
        "- **Job:** claude-agent-4aa57614-20260602091530\n- **Reason:** deadline_exceeded\n"
    )
    envelope = Envelope(
        request_id=UUID("9f3e7b21-c8d4-4a56-b0e1-3d7f2a6c9e48"),
        request_time=datetime(2026, 6, 2, 9, 46, 0, 100000, tzinfo=UTC),
        command=UpdateFrontmatter(
            task_identifier=TASK_ID,
            updates={"current_job": ""},
            body=BodySection(heading="## Failure", section=section),
        ),
    )

    encoded = encode(envelope)

    assert encoded == _golden(
        r'{"requestID":"9f3e7b21-c8d4-4a56-b0e1-3d7f2a6c9e48",'
        r'"requestTime":"2026-06-02T09:46:00.1Z","initiator":"executor",'
        r'"operation":"update-frontmatter","id":"",'
        r'"data":{"body":{"heading":"## Failure","section":"## Failure\n\n'
        r"- **Timestamp:** 2026-06-02T09:46:00Z\n"
        r"- **Job:** claude-agent-4aa57614-20260602091530\n"
        r'- **Reason:** deadline_exceeded\n"},'
        r'"taskIdentifier":"4aa57614-8835-4992-87e9-ca483ddbeae6",'
        r'"updates":{"current_job":""}},"header":{}}'
    )


def test_type_mismatch_update_escapes_html_and_quotes_and_keeps_utf8_raw() -> None:
    section = (
        "## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n- **Assignee:** claude\n"
        "- **Reason:** type_mismatch\n"
        '- **Detail:** task_type "review<fast>" not accepted by claude & co: Größe\n'
    )
    envelope = Envelope(
        request_id=UUID("0c7d1f3e-2b6a-4e59-9a81-5f4c3d2e1b0a"),
        request_time=datetime(2026, 6, 2, 9, 46, 0, tzinfo=UTC),
        command=UpdateFrontmatter(
            task_identifier=TASK_ID,
            updates={"previous_assignee": "claude", "current_job": "", "assignee": ""},
            body=BodySection(heading="## Failure", section=section),
        ),
    )

    encoded = encode(envelope)

    # Whole seconds: Go's RFC3339Nano drops the fraction entirely.
    assert encoded == _golden(
        r'{"requestID":"0c7d1f3e-2b6a-4e59-9a81-5f4c3d2e1b0a",'
        r'"requestTime":"2026-06-02T09:46:00Z","initiator":"executor",'
        r'"operation":"update-frontmatter","id":"",'
        r'"data":{"body":{"heading":"## Failure","section":"## Failure\n\n'
        r"- **Timestamp:** 2026-06-02T09:46:00Z\n- **Assignee:** claude\n"
        r"- **Reason:** type_mismatch\n"
        r"- **Detail:** task_type \"review\u003cfast\u003e\" not accepted by claude \u0026 co:"
        " Größe"
        r'\n"},'
        r'"taskIdentifier":"4aa57614-8835-4992-87e9-ca483ddbeae6",'
        r'"updates":{"assignee":"","current_job":"","previous_assignee":"claude"}},"header":{}}'
    )


def test_spawn_notification_writes_a_json_true_and_sorted_updates() -> None:
    envelope = Envelope(
        request_id=UUID("3b9e2c4d-5f60-4a71-8b92-c3d4e5f60718"),
        request_time=datetime(2026, 6, 2, 9, 15, 30, 500000, tzinfo=UTC),
        command=UpdateFrontmatter(
            task_identifier=TASK_ID,
            updates={
                "spawn_notification": True,
                "current_job": "claude-agent-4aa57614-20260602091530",
                "job_started_at": "2026-06-02T09:15:30Z",
            },
        ),
    )

    encoded = encode(envelope)

    assert encoded == _golden(
        '{"requestID":"3b9e2c4d-5f60-4a71-8b92-c3d4e5f60718",'
        '"requestTime":"2026-06-02T09:15:30.5Z","initiator":"executor",'
        '"operation":"update-frontmatter","id":"",'
        '"data":{"taskIdentifier":"4aa57614-8835-4992-87e9-ca483ddbeae6",'
        '"updates":{"current_job":"claude-agent-4aa57614-20260602091530",'
        '"job_started_at":"2026-06-02T09:15:30Z","spawn_notification":true}},"header":{}}'
    )


# --- today's executor: targetVault (lib v0.86) ----------------------------------------
# The shapes of docs/WIRE.md: ``data`` keys sorted, ``targetVault`` (the task's own vault)
# between ``body`` and ``taskIdentifier`` of an update and after ``field`` of an increment,
# left out when the task names no vault.

JOB = "claude-4aa57614-20260602091530"
OOM_SECTION = (
    r"## Failure\n\n- **Timestamp:** 2026-06-02T09:46:00Z\n"
    r"- **Job:** claude-4aa57614-20260602091530\n"
    r"- **Reason:** pod_oom_killed (OOMKilled/137)\n"
)


def _envelope(command: Command) -> Envelope:
    return Envelope(request_id=UUID("9f3e7b21-c8d4-4a56-b0e1-3d7f2a6c9e48"),
                    request_time=datetime(2026, 6, 2, 9, 46, tzinfo=UTC), command=command)


def _failure(target_vault: str | None) -> tuple[Command, ...]:
    return zombie_failure(task_id=TASK_ID, job_name=JOB, reason=ZombieReason.POD_OOM_KILLED,
                          at=datetime(2026, 6, 2, 9, 46, tzinfo=UTC), evidence="OOMKilled/137",
                          target_vault=target_vault).commands


def _data_bytes(command: Command) -> str:
    raw = encode(_envelope(command)).decode("utf-8")
    return raw[raw.index(',"data":') + len(',"data":'): -len(',"header":{}}')]


def test_a_failure_update_names_the_tasks_vault_between_body_and_task_identifier() -> None:
    update, _ = _failure("personal")

    assert encode(_envelope(update)) == _golden(
        '{"requestID":"9f3e7b21-c8d4-4a56-b0e1-3d7f2a6c9e48",'
        '"requestTime":"2026-06-02T09:46:00Z","initiator":"executor",'
        '"operation":"update-frontmatter","id":"",'
        '"data":{"body":{"heading":"## Failure","section":"' + OOM_SECTION + '"},'
        '"targetVault":"personal",'
        '"taskIdentifier":"4aa57614-8835-4992-87e9-ca483ddbeae6",'
        '"updates":{"current_job":""}},"header":{}}'
    )


def test_a_failure_increment_names_the_tasks_vault_after_field() -> None:
    _, increment = _failure("personal")

    assert _data_bytes(increment) == (
        '{"delta":1,"field":"trigger_count","targetVault":"personal",'
        '"taskIdentifier":"4aa57614-8835-4992-87e9-ca483ddbeae6"}'
    )


@pytest.mark.parametrize("vault", [None, ""])
def test_without_a_vault_the_key_is_left_out_of_both_commands(vault: str | None) -> None:
    update, increment = _failure(vault)

    assert [json.loads(_data_bytes(c)).keys() for c in (update, increment)] == [
        {"body", "taskIdentifier", "updates"}, {"delta", "field", "taskIdentifier"}]
    assert (update.target_vault, increment.target_vault) == (None, None)


def test_the_success_clear_is_an_update_of_current_job_alone() -> None:
    clear = success_clear(task_id=TASK_ID, job_name=JOB, target_vault="work")

    assert encode(_envelope(clear)) == _golden(
        '{"requestID":"9f3e7b21-c8d4-4a56-b0e1-3d7f2a6c9e48",'
        '"requestTime":"2026-06-02T09:46:00Z","initiator":"executor",'
        '"operation":"update-frontmatter","id":"",'
        '"data":{"targetVault":"work",'
        '"taskIdentifier":"4aa57614-8835-4992-87e9-ca483ddbeae6",'
        '"updates":{"current_job":""}},"header":{}}'
    )


@pytest.mark.parametrize("command", [*_failure("personal"), *_failure(None),
                                     success_clear(task_id=TASK_ID, job_name=JOB),
                                     success_clear(task_id=TASK_ID, job_name=JOB,
                                                   target_vault="work")])
def test_target_vault_survives_the_round_trip(command: Command) -> None:
    assert decode(encode(_envelope(command))).command == command


def test_an_empty_target_vault_on_the_topic_decodes_as_none() -> None:
    raw = encode(_envelope(_failure("personal")[1])).replace(b'"personal"', b'""')

    assert decode(raw).command.target_vault is None


def test_a_target_vault_that_is_not_a_string_is_a_codec_error() -> None:
    raw = encode(_envelope(_failure("personal")[1])).replace(b'"personal"', b"7")

    with pytest.raises(CodecError, match="targetVault"):
        decode(raw)


# --- string escaping, character by character ---------------------------------------


def _encoded_value(text: str) -> str:
    envelope = Envelope(
        request_id=UUID(int=0),
        request_time=datetime(2026, 1, 1, tzinfo=UTC),
        command=UpdateFrontmatter(task_identifier="t", updates={"k": text}),
    )
    raw = encode(envelope).decode("utf-8")
    start = raw.index('"updates":{"k":') + len('"updates":{"k":')
    return raw[start : raw.index("}}", start)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ('"', r'"\""'),
        ("\\", r'"\\"'),
        ("/", '"/"'),
        ("\n\r\t", r'"\n\r\t"'),
        # Go >= 1.22 writes \b and \f in short form (earlier: \u0008, \u000c).
        ("\b\f", r'"\b\f"'),
        ("\x00\x01\x1f\x0b", r'"\u0000\u0001\u001f\u000b"'),
        ("\x7f", '"\x7f"'),
        ("<>&", r'"\u003c\u003e\u0026"'),
        ("\u2028\u2029", r'"\u2028\u2029"'),
        ("Größe € 日本 😀", '"Größe € 日本 😀"'),
        ("\ud800", r'"\ufffd"'),
        ("a\udfffb", r'"a\ufffdb"'),
    ],
)
def test_strings_are_escaped_as_go_encoding_json_does(text: str, expected: str) -> None:
    assert _encoded_value(text) == expected


def test_update_keys_are_sorted_by_code_point_like_go_sorts_map_keys() -> None:
    envelope = Envelope(
        request_id=UUID(int=0),
        request_time=datetime(2026, 1, 1, tzinfo=UTC),
        command=UpdateFrontmatter(task_identifier="t", updates={"b": 1, "B": 2, "ä": 3, "a": 4}),
    )

    raw = encode(envelope).decode("utf-8")

    assert '"updates":{"B":2,"a":4,"b":1,"ä":3}' in raw


def test_false_and_negative_ints_are_plain_json() -> None:
    assert _encoded_value_of(False) == "false"
    assert _encoded_value_of(-3) == "-3"


def _encoded_value_of(value: bool | int) -> str:
    envelope = Envelope(
        request_id=UUID(int=0),
        request_time=datetime(2026, 1, 1, tzinfo=UTC),
        command=UpdateFrontmatter(task_identifier="t", updates={"k": value}),
    )
    raw = encode(envelope).decode("utf-8")
    return raw.split('"updates":{"k":')[1].split("}")[0]


# --- request time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 6, 2, 9, 15, 30, 371204, tzinfo=UTC), "2026-06-02T09:15:30.371204Z"),
        (datetime(2026, 6, 2, 9, 15, 30, 370000, tzinfo=UTC), "2026-06-02T09:15:30.37Z"),
        (datetime(2026, 6, 2, 9, 15, 30, 1, tzinfo=UTC), "2026-06-02T09:15:30.000001Z"),
        (datetime(2026, 6, 2, 9, 15, 30, tzinfo=UTC), "2026-06-02T09:15:30Z"),
        (
            datetime(2026, 6, 2, 11, 15, 30, tzinfo=timezone(timedelta(hours=2))),
            "2026-06-02T09:15:30Z",
        ),
        (datetime(33, 1, 2, 3, 4, 5, tzinfo=UTC), "0033-01-02T03:04:05Z"),
    ],
)
def test_request_time_is_go_rfc3339nano_in_utc(moment: datetime, expected: str) -> None:
    assert format_request_time(moment) == expected


def test_naive_request_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_request_time(datetime(2026, 6, 2))


def test_parse_request_time_accepts_nanoseconds_and_offsets() -> None:
    assert parse_request_time("2026-06-02T09:15:30.123456789Z") == datetime(
        2026, 6, 2, 9, 15, 30, 123456, tzinfo=UTC
    )
    assert parse_request_time("2026-06-02T11:15:30+02:00") == datetime(
        2026, 6, 2, 9, 15, 30, tzinfo=UTC
    )


# --- decode errors -----------------------------------------------------------------

_GOOD = json.loads(
    encode(
        Envelope(
            request_id=UUID(int=1),
            request_time=datetime(2026, 1, 1, tzinfo=UTC),
            command=IncrementFrontmatter(task_identifier="t", field="trigger_count", delta=1),
        )
    )
)


def _with(**changes: object) -> bytes:
    return json.dumps({**_GOOD, **changes}).encode()


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"requestID":"x"}',
        _with(requestID="not-a-uuid"),
        _with(requestID=7),
        _with(requestTime="yesterday"),
        _with(requestTime="2026-02-30T00:00:00Z"),
        _with(operation="delete-task"),
        _with(data=[]),
        _with(data={"taskIdentifier": "t", "field": "trigger_count", "delta": True}),
        _with(data={"taskIdentifier": "t", "field": "trigger_count", "delta": 1.5}),
        _with(data={"field": "trigger_count", "delta": 1}),
        _with(
            operation="update-frontmatter",
            data={"taskIdentifier": "t", "updates": {"k": None}},
        ),
        _with(
            operation="update-frontmatter",
            data={"taskIdentifier": "t", "updates": {}, "body": {"heading": "h"}},
        ),
        _with(operation="update-frontmatter", data={"taskIdentifier": "t", "updates": []}),
    ],
)
def test_malformed_records_raise_codec_error(value: bytes) -> None:
    with pytest.raises(CodecError):
        decode(value)


def test_envelope_fields_out_of_order_are_rejected() -> None:
    reordered = {key: _GOOD[key] for key in reversed(list(_GOOD))}

    with pytest.raises(CodecError, match="envelope fields"):
        decode(json.dumps(reordered).encode())


# --- round trip --------------------------------------------------------------------

_text_without_surrogates = st.text(st.characters(exclude_categories=["Cs"]))
_frontmatter_values = st.one_of(st.booleans(), st.integers(), _text_without_surrogates)


def commands(text: st.SearchStrategy[str]) -> st.SearchStrategy[Command]:
    """Arbitrary commands whose strings are drawn from ``text``."""
    bodies = st.none() | st.builds(BodySection, heading=text, section=text)
    updates = st.dictionaries(text, st.one_of(st.booleans(), st.integers(), text), max_size=6)
    # An empty vault is never a command's: the doctrine makes it None (sent to every vault).
    vaults = st.none() | text.filter(bool)
    return st.one_of(
        st.builds(UpdateFrontmatter, task_identifier=text, updates=updates, body=bodies,
                  target_vault=vaults),
        st.builds(IncrementFrontmatter, task_identifier=text, field=text, delta=st.integers(),
                  target_vault=vaults),
    )


def envelopes(text: st.SearchStrategy[str]) -> st.SearchStrategy[Envelope]:
    return st.builds(
        Envelope,
        request_id=st.uuids(),
        request_time=st.datetimes(min_value=datetime(1, 1, 1), timezones=st.just(UTC)),
        initiator=text,
        command=commands(text),
    )


@given(envelopes(_text_without_surrogates))
def test_decode_inverts_encode(envelope: Envelope) -> None:
    assert decode(encode(envelope)) == envelope


def _sorted_recursively(value: object) -> object:
    if isinstance(value, dict):
        return {key: _sorted_recursively(value[key]) for key in sorted(value)}
    return value


def _data_of(command: Command) -> dict[str, object]:
    match command:
        case UpdateFrontmatter():
            data: dict[str, object] = {
                "taskIdentifier": command.task_identifier,
                "updates": dict(command.updates),
            }
            if command.body is not None:
                data["body"] = {"heading": command.body.heading, "section": command.body.section}
        case IncrementFrontmatter():
            data = {
                "taskIdentifier": command.task_identifier,
                "field": command.field,
                "delta": command.delta,
            }
    if command.target_vault:
        data["targetVault"] = command.target_vault
    return data


@given(envelopes(_text_without_surrogates))
def test_encoding_equals_stdlib_json_plus_gos_html_escaping(envelope: Envelope) -> None:
    # An independent oracle: Python's json writes control characters, quotes and
    # backslashes as Go >= 1.22 does; Go additionally escapes <, >, &, U+2028/9,
    # which only ever occur inside strings.
    oracle = json.dumps(
        {
            "requestID": str(envelope.request_id),
            "requestTime": format_request_time(envelope.request_time),
            "initiator": envelope.initiator,
            "operation": envelope.command.operation.value,
            "id": "",
            "data": _sorted_recursively(_data_of(envelope.command)),
            "header": {},
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        oracle = oracle.replace(char, escape)

    assert encode(envelope) == oracle.encode("utf-8")


@given(envelopes(st.text()))
def test_hostile_text_with_lone_surrogates_encodes_and_decodes_with_replacement_chars(
    envelope: Envelope,
) -> None:
    encoded = encode(envelope)

    decoded = decode(encoded)

    assert encode(decoded) == encoded

"""Raw API JSON -> views: every field read, every malformed case skipped, never raising."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.adapters.kubernetes.decoding import (
    CONFIG,
    JOB,
    POD,
    MalformedResponseError,
    decode_list_page,
    decode_status,
    decode_watch_line,
)
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.domain.views import (
    AgentConfigView,
    ContainerView,
    JobView,
    PodPhase,
    PodView,
)
from zombiewatch.testing.raw_api import (
    DELETE,
    TASK,
    api_shaped_json,
    json_values,
    raw_config,
    raw_job,
    raw_pod,
)


def enc(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


def pod_of(obj: dict[str, Any]) -> PodView:
    result = POD.decode_item(enc(obj)).result
    assert isinstance(result, PodView), result
    return result


def job_of(obj: dict[str, Any]) -> JobView:
    result = JOB.decode_item(enc(obj)).result
    assert isinstance(result, JobView), result
    return result


# ---------------------------------------------------------------- pods


def test_a_well_formed_pod_becomes_a_pod_view_with_every_field() -> None:
    pod = pod_of(
        raw_pod(
            status__reason="Evicted",
            status__message="The node was low on resource: memory.",
            status__phase="Failed",
            spec__nodeName="worker-1",
            spec__initContainers=[{"name": "init", "image": "fetch:2"}],
            spec__containers=[
                {"name": "agent", "image": "agent:1",
                 "resources": {"limits": {"memory": "4Gi", "cpu": "2"}}},
                {"name": "pull", "image": "registry.example/x:9"},
            ],
            status__initContainerStatuses=[
                {"name": "init", "state": {"terminated": {"exitCode": 0, "message": "ok"}}}
            ],
            status__containerStatuses=[
                {"name": "agent",
                 "state": {"terminated": {"exitCode": 137, "message": "out\nof  memory"}}},
                {"name": "side", "state": {"running": {"startedAt": "2026-06-02T09:46:00Z"}}},
                {"name": "pull", "state": {"waiting": {"reason": "ImagePullBackOff",
                                                       "message": "Back-off pulling"}}},
                {"name": "nostate"},
                {"name": "loop", "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                       "message": "back-off 10s pod=x"}},
                 "lastState": {"terminated": {"exitCode": 3}}},
            ],
        )
    )

    assert pod == PodView(
        namespace="agents",
        name="agent-1234abcd-20260602094600-x7k2p",
        uid="9b1c0f6e-1",
        task_id="1234abcd-task",
        job_name="agent-1234abcd",
        phase=PodPhase.FAILED,
        status_reason="Evicted",
        created_at=datetime(2026, 6, 2, 9, 46, tzinfo=UTC),
        scheduled=True,
        init_containers=(ContainerView(name="init", terminated_exit_code=0, image="fetch:2"),),
        containers=(
            ContainerView(name="agent", terminated_exit_code=137, image="agent:1",
                          memory_limit="4Gi", terminated_message="out of memory"),
            ContainerView(name="side", running=True),
            ContainerView(name="pull", waiting_reason="ImagePullBackOff",
                          image="registry.example/x:9", waiting_message="Back-off pulling"),
            ContainerView(name="nostate"),
            ContainerView(name="loop", waiting_reason="CrashLoopBackOff", last_exit_code=3),
        ),
        node_name="worker-1",
        status_message="The node was low on resource: memory.",
    )


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([{"type": "PodScheduled", "status": "True"}], True),
        ([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}], False),
        ([{"type": "PodScheduled", "status": "Unknown"}], None),
        ([{"type": "Ready", "status": "False"}], None),
        ([], None),
        (None, None),
    ],
)
def test_the_pod_scheduled_condition_is_true_false_or_none(
    conditions: object, expected: bool | None
) -> None:
    assert pod_of(raw_pod(status__conditions=conditions)).scheduled is expected


@pytest.mark.parametrize("phase", [p.value for p in PodPhase])
def test_every_known_phase_is_kept(phase: str) -> None:
    assert pod_of(raw_pod(status__phase=phase)).phase == PodPhase(phase)


def test_fractional_and_offset_timestamps_are_parsed_as_utc() -> None:
    pod = pod_of(raw_pod(metadata__creationTimestamp="2026-06-02T11:46:00.5+02:00"))
    assert pod.created_at == datetime(2026, 6, 2, 9, 46, 0, 500000, tzinfo=UTC)


def test_the_job_owner_is_found_among_several_owner_references() -> None:
    refs = [{"kind": "ReplicaSet", "name": "rs"}, {"kind": "Job", "name": "the-job"}]
    assert pod_of(raw_pod(metadata__ownerReferences=refs)).job_name == "the-job"


@pytest.mark.parametrize(
    ("overrides", "reason_part"),
    [
        ({"metadata": DELETE}, "no metadata"),
        ({"metadata__name": DELETE}, "metadata.name"),
        ({"metadata__name": "x" * 300}, "metadata.name"),
        ({"metadata__namespace": DELETE}, "metadata.namespace"),
        ({"metadata__uid": ""}, "metadata.uid"),
        ({"metadata__creationTimestamp": DELETE}, "creationTimestamp"),
        ({"metadata__creationTimestamp": "yesterday"}, "RFC3339"),
        ({"metadata__creationTimestamp": "2026-06-02T09:46:00"}, "time zone"),
        ({"metadata__creationTimestamp": 1717321560}, "malformed"),
        ({"metadata__labels": DELETE}, TASK),
        ({"metadata__labels": {TASK: ""}}, TASK),
        ({"metadata__labels": {TASK: 7}}, "malformed"),
        ({"metadata__ownerReferences": DELETE}, "ownerReference"),
        ({"metadata__ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}]}, "ownerReference"),
        ({"metadata__ownerReferences": {"kind": "Job"}}, "malformed"),
        ({"status": DELETE}, "status.phase"),
        ({"status__phase": "Exploded"}, "unknown phase"),
        ({"status__phase": "running"}, "unknown phase"),
        ({"status__phase": 3}, "malformed"),
        ({"status__containerStatuses": [{"state": {}}]}, "without a name"),
        ({"status__initContainerStatuses": [{"name": ""}]}, "without a name"),
        (
            {
                "status__containerStatuses": [
                    {"name": "a", "state": {"terminated": {"exitCode": "1"}}}
                ]
            },
            "malformed",
        ),
        ({"status__conditions": "PodScheduled"}, "malformed"),
    ],
)
def test_malformed_pods_are_skipped_with_a_reason(
    overrides: dict[str, Any], reason_part: str
) -> None:
    result = POD.decode_item(enc(raw_pod(**overrides))).result

    assert isinstance(result, Skipped)
    assert result.kind == "Pod"
    assert reason_part in result.reason


def test_a_skipped_pod_is_still_named_when_its_name_is_readable() -> None:
    result = POD.decode_item(enc(raw_pod(status__phase=42))).result

    assert isinstance(result, Skipped)
    assert (result.namespace, result.name) == ("agents", "agent-1234abcd-20260602094600-x7k2p")


def test_a_huge_unknown_phase_is_clipped_in_the_reason() -> None:
    result = POD.decode_item(enc(raw_pod(status__phase="x" * 100_000))).result

    assert isinstance(result, Skipped)
    assert len(result.reason) < 300


def test_odd_unicode_survives_translation() -> None:
    pod = pod_of(raw_pod(status__reason="Évicted \u202e\U0001f9df\x00"))
    assert pod.status_reason == "Évicted \u202e\U0001f9df\x00"


def test_a_python_object_from_yaml_translates_like_its_json() -> None:
    obj = raw_pod()
    obj["metadata"]["creationTimestamp"] = datetime(2026, 6, 2, 9, 46, tzinfo=UTC)

    assert POD.from_object(obj) == pod_of(raw_pod())


# ---------------------------------------------------------------- jobs


def test_a_well_formed_job_becomes_a_job_view_with_every_field() -> None:
    job = job_of(
        raw_job(
            metadata__annotations={
                "agent.benjamin-borbe.de/zombie-reason": "deadline_exceeded",
                "agent.benjamin-borbe.de/zombie-reported-at": "2026-06-02T10:16:00Z",
            },
            status__conditions=[
                {"type": "Complete", "status": "False"},
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"},
            ],
        )
    )

    assert job == JobView(
        namespace="agents",
        name="agent-1234abcd",
        uid="j1",
        task_id="1234abcd-task",
        assignee="claude",
        created_at=datetime(2026, 6, 2, 9, 46, tzinfo=UTC),
        started_at=datetime(2026, 6, 2, 9, 46, 1, tzinfo=UTC),
        failed_reason="DeadlineExceeded",
        complete=False,
        reported_reason="deadline_exceeded",
        reported_at="2026-06-02T10:16:00Z",
        active_deadline_seconds=1800,
    )


@pytest.mark.parametrize(
    ("conditions", "failed_reason", "complete"),
    [
        (None, None, False),
        ([{"type": "Failed", "status": "True"}], "", False),
        ([{"type": "Failed", "status": "False", "reason": "X"}], None, False),
        ([{"type": "Complete", "status": "True"}], None, True),
        ([{"type": "Suspended", "status": "True"}], None, False),
    ],
)
def test_job_conditions_count_only_when_true(
    conditions: object, failed_reason: str | None, complete: bool
) -> None:
    job = job_of(raw_job(status__conditions=conditions))
    assert (job.failed_reason, job.complete) == (failed_reason, complete)


def test_a_fresh_job_has_no_start_time_deadline_or_assignee() -> None:
    job = job_of(raw_job(status=DELETE, spec=DELETE, metadata__labels={TASK: "t"}))
    assert (job.started_at, job.assignee) == (None, "")
    assert not job.reported


@pytest.mark.parametrize(
    ("overrides", "reason_part"),
    [
        ({"metadata__labels": {"app": "x"}}, TASK),
        ({"metadata__creationTimestamp": "2026-13-45T00:00:00Z"}, "RFC3339"),
        ({"status__startTime": "soon"}, "RFC3339"),
        ({"status__startTime": "2026-06-02T09:46:01"}, "time zone"),
        ({"status__conditions": "Failed"}, "malformed"),
        ({"metadata__annotations": {"agent.benjamin-borbe.de/zombie-reason": None}}, "malformed"),
    ],
)
def test_malformed_jobs_are_skipped_with_a_reason(
    overrides: dict[str, Any], reason_part: str
) -> None:
    result = JOB.decode_item(enc(raw_job(**overrides))).result

    assert isinstance(result, Skipped)
    assert result.kind == "Job"
    assert reason_part in result.reason


# ---------------------------------------------------------------- configs


def test_a_config_becomes_an_agent_config_view_with_every_field() -> None:
    assert CONFIG.decode_item(enc(raw_config())).result == AgentConfigView(
        namespace="agents",
        name="claude",
        assignee="claude",
        zombie_sweeper_interval_seconds=60,
        zombie_job_timeout_seconds=1800,
        image="agent:1",
        task_types=("code", "review"),
        env=(("A", "1"),),
    )


def test_config_knobs_below_the_floors_pass_through_for_the_domain_to_judge() -> None:
    result = CONFIG.decode_item(
        enc(raw_config(spec__zombieSweeperIntervalSeconds=1, spec__zombieJobTimeoutSeconds=-5))
    ).result
    assert isinstance(result, AgentConfigView)
    assert (result.zombie_sweeper_interval_seconds, result.zombie_job_timeout_seconds) == (1, -5)


def test_a_legacy_env_map_is_accepted_too() -> None:
    result = CONFIG.decode_item(enc(raw_config(spec__env={"B": "2", "A": "1"}))).result
    assert isinstance(result, AgentConfigView)
    assert result.env == (("B", "2"), ("A", "1"))


def test_a_minimal_config_has_defaults() -> None:
    result = CONFIG.decode_item(
        enc({"metadata": {"name": "c", "namespace": "n"}, "spec": {"assignee": "a"}})
    ).result
    assert result == AgentConfigView(namespace="n", name="c", assignee="a")


@pytest.mark.parametrize(
    ("overrides", "reason_part"),
    [
        ({"spec": DELETE}, "spec.assignee"),
        ({"spec__assignee": ""}, "spec.assignee"),
        ({"metadata__name": DELETE}, "metadata.name"),
        ({"spec__zombieJobTimeoutSeconds": "1800"}, "malformed"),
        ({"spec__taskTypes": "code"}, "malformed"),
        ({"spec__env": [{"value": "no name"}]}, "malformed"),
    ],
)
def test_malformed_configs_are_skipped_with_a_reason(
    overrides: dict[str, Any], reason_part: str
) -> None:
    result = CONFIG.decode_item(enc(raw_config(**overrides))).result

    assert isinstance(result, Skipped)
    assert reason_part in result.reason


# ---------------------------------------------------------------- decoding


def test_decode_item_carries_key_and_resource_version() -> None:
    item = POD.decode_item(enc(raw_pod()))
    assert item.key == "agent-1234abcd-20260602094600-x7k2p"
    assert item.resource_version == "101"
    assert isinstance(item.result, PodView)


def test_decode_item_of_a_refused_object_keeps_key_and_resource_version() -> None:
    item = POD.decode_item(enc(raw_pod(status__phase=1)))
    assert item.key == "agent-1234abcd-20260602094600-x7k2p"
    assert item.resource_version == "101"
    assert isinstance(item.result, Skipped)


def test_a_list_page_keeps_items_raw_and_reads_continue_and_resource_version() -> None:
    body = enc(
        {
            "kind": "PodList",
            "metadata": {"resourceVersion": "555", "continue": "tok"},
            "items": [raw_pod(), {"garbage": True}],
        }
    )
    page = decode_list_page(body)

    assert (page.resource_version, page.continue_token, len(page.items)) == ("555", "tok", 2)
    assert isinstance(POD.decode_item(page.items[0]).result, PodView)
    assert isinstance(POD.decode_item(page.items[1]).result, Skipped)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502</html>",
        b'{"metadata": {}}',
        b'{"items": 3, "metadata": {"resourceVersion": "1"}}',
    ],
)
def test_a_broken_list_page_is_a_malformed_response(body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        decode_list_page(body)


def test_watch_lines_and_error_statuses_decode() -> None:
    line = decode_watch_line(
        enc(
            {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "code": 410,
                    "reason": "Expired",
                    "message": "too old",
                },
            }
        )
    )
    assert line.type == "ERROR"
    status = decode_status(line.raw)
    assert (status.code, status.reason, status.message) == (410, "Expired", "too old")


@pytest.mark.parametrize(
    "line", [b"{", b'{"type": "EXPLODED", "object": {}}', b'{"object": {}}', b"[]"]
)
def test_a_broken_watch_line_is_a_malformed_response(line: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        decode_watch_line(line)


# ---------------------------------------------------------------- never raises


@given(json_values())
def test_the_translators_never_raise_on_arbitrary_json(obj: object) -> None:
    data = enc(obj)
    for codec in (POD, JOB, CONFIG):
        codec.decode_item(data)
        codec.from_object(obj)


@given(api_shaped_json())
def test_the_translators_never_raise_on_api_shaped_json(obj: object) -> None:
    data = enc(obj)
    for codec in (POD, JOB, CONFIG):
        codec.decode_item(data)
        codec.from_object(obj)
        codec.decode_item(enc({"metadata": obj, "status": obj, "spec": obj}))


@given(st.binary())
def test_the_decoders_never_raise_on_arbitrary_bytes(data: bytes) -> None:
    for codec in (POD, JOB, CONFIG):
        assert codec.decode_item(data).result is not None
    decode_status(msgspec.Raw(data))


@given(st.binary())
def test_page_and_line_decoders_fail_only_with_malformed_response(data: bytes) -> None:
    for decode in (decode_list_page, decode_watch_line):
        with contextlib.suppress(MalformedResponseError):
            decode(data)


def test_a_watch_event_is_decoded_and_translated_in_one_pass() -> None:
    event = POD.decode_event(enc({"type": "MODIFIED", "object": raw_pod()}))
    assert event.type == "MODIFIED"
    assert event.resource_version == "101"
    assert event.item is not None
    assert isinstance(event.item.result, PodView)


def test_a_watch_event_with_a_malformed_object_carries_a_skipped_item() -> None:
    event = POD.decode_event(enc({"type": "ADDED", "object": raw_pod(status__phase=[1])}))
    assert event.item is not None
    assert isinstance(event.item.result, Skipped)
    assert event.resource_version == "101"


def test_bookmarks_and_errors_are_told_apart() -> None:
    bookmark = POD.decode_event(
        enc({"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "77"}}})
    )
    error = POD.decode_event(
        enc({"type": "ERROR", "object": {"kind": "Status", "status": "Failure", "code": 410}})
    )
    assert (bookmark.type, bookmark.item, bookmark.resource_version) == ("BOOKMARK", None, "77")
    assert error.error is not None
    assert error.error.code == 410


@given(
    st.binary()
    | json_values().map(enc)
    | api_shaped_json().map(lambda o: enc({"type": "ADDED", "object": o}))
)
def test_decode_event_fails_only_with_malformed_response(line: bytes) -> None:
    for codec in (POD, JOB, CONFIG):
        with contextlib.suppress(MalformedResponseError):
            codec.decode_event(line)

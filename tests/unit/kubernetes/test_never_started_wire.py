"""What the never-started rows read off the wire: a pod's PodReadyToStartContainers, its
running init container's start and its deletion; a Job's suspend and pod counts; and the
Events list the evidence comes from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from zombiewatch.adapters.kubernetes.decoding import JOB, POD
from zombiewatch.adapters.kubernetes.event_lookup import decode_events, events_path
from zombiewatch.domain.event_evidence import EventView
from zombiewatch.domain.views import JobView, PodView
from zombiewatch.testing.raw_api import raw_job, raw_pod


def pod_of(obj: dict[str, Any]) -> PodView:
    result = POD.decode_item(msgspec.json.encode(obj)).result
    assert isinstance(result, PodView), result
    return result


def job_of(obj: dict[str, Any]) -> JobView:
    result = JOB.decode_item(msgspec.json.encode(obj)).result
    assert isinstance(result, JobView), result
    return result


@pytest.mark.parametrize(("status", "expected"), [
    ("False", False), ("True", True), ("Unknown", None), (None, None)])
def test_pod_ready_to_start_containers_is_read(status: str | None, expected: bool | None) -> None:
    conditions = [{"type": "PodScheduled", "status": "True"}]
    if status is not None:
        conditions.append({"type": "PodReadyToStartContainers", "status": status})

    pod = pod_of(raw_pod(status__conditions=conditions))

    assert (pod.scheduled, pod.ready_to_start) == (True, expected)


def test_the_newest_running_init_container_start_is_read() -> None:
    statuses = [
        {"name": "sidecar", "state": {"running": {"startedAt": "2026-06-02T09:46:05Z"}}},
        {"name": "setup", "state": {"running": {"startedAt": "2026-06-02T09:47:00Z"}}},
        {"name": "done", "state": {"terminated": {"exitCode": 0}}},
    ]

    pod = pod_of(raw_pod(status__initContainerStatuses=statuses))

    assert pod.init_running_since == datetime(2026, 6, 2, 9, 47, tzinfo=UTC)
    assert [(c.name, c.running) for c in pod.init_containers] == [
        ("sidecar", True), ("setup", True), ("done", False)]
    assert pod_of(raw_pod()).init_running_since is None


def test_a_pod_being_deleted_is_terminating() -> None:
    assert pod_of(raw_pod(metadata__deletionTimestamp="2026-06-02T09:50:00Z")).terminating
    assert not pod_of(raw_pod()).terminating


def test_a_job_status_without_counts_counts_no_pod_and_suspend_is_read() -> None:
    assert job_of(raw_job()).pods_counted == 0
    assert job_of(raw_job(status=None)).pods_counted == 0
    assert job_of(raw_job(status__active=1, status__succeeded=1)).pods_counted == 2
    assert job_of(raw_job(spec__suspend=True)).suspended
    assert not job_of(raw_job()).suspended


def test_the_events_are_listed_by_the_object_uid() -> None:
    assert events_path("agents", "9b1c-1") == (
        "/api/v1/namespaces/agents/events?fieldSelector=involvedObject.uid%3D9b1c-1&limit=100")


def test_an_event_list_decodes_with_its_newest_time() -> None:
    body = msgspec.json.encode({"kind": "EventList", "items": [
        {"type": "Warning", "reason": "FailedMount", "message": "m1",
         "lastTimestamp": "2026-12-07T22:00:00Z", "firstTimestamp": "2026-12-07T21:00:00Z"},
        {"type": "Warning", "reason": "FailedCreatePodSandBox", "message": "m2",
         "eventTime": "2026-12-07T22:00:01.123456Z",
         "series": {"lastObservedTime": "2026-12-07T22:05:00.000000Z", "count": 3}},
        {"type": "Normal"},
    ]})

    assert decode_events(body) == [
        EventView(type="Warning", reason="FailedMount", message="m1",
                  at=datetime(2026, 12, 7, 22, 0, tzinfo=UTC)),
        EventView(type="Warning", reason="FailedCreatePodSandBox", message="m2",
                  at=datetime(2026, 12, 7, 22, 5, tzinfo=UTC)),
        EventView(type="Normal", reason="", message="", at=None),
    ]


def test_a_malformed_event_list_raises_for_the_adapter_to_turn_into_a_failure() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_events(b'{"items": [{"type": 3}]}')

"""Translation of the conditions Kubernetes v1.37 writes, read from the corpus objects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zombiewatch.adapters.kubernetes.decoding import JOB, POD
from zombiewatch.domain.views import ZOMBIE_REAPED_AT_ANNOTATION, JobView, PodView

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"


def load(name: str) -> Any:
    return json.loads((CORPUS / name).read_text())


def job(obj: Any) -> JobView:
    view = JOB.from_object(obj)
    assert isinstance(view, JobView), view
    return view


def pod(obj: Any) -> PodView:
    view = POD.from_object(obj)
    assert isinstance(view, PodView), view
    return view


def test_success_criteria_met_is_complete_before_complete_is_written() -> None:
    assert job(load("exit0-job-success-criteria-met.json")).complete is True
    assert job(load("exit0-job-complete.json")).complete is True
    assert job(load("image-job-active.json")).complete is False


def test_failure_target_is_a_failure_with_its_reason_and_time() -> None:
    early = job(load("exit1-job-failure-target.json"))
    final = job(load("exit1-job-failed.json"))

    assert (early.failed_reason, early.failure_target) == ("BackoffLimitExceeded", True)
    assert early.failed_at == datetime(2026, 12, 1, 9, 16, 32, tzinfo=UTC)
    assert (final.failed_reason, final.failure_target) == ("BackoffLimitExceeded", False)
    assert final.failed_at == datetime(2026, 12, 1, 9, 16, 33, tzinfo=UTC)


def test_disruption_target_is_kept_with_its_reason() -> None:
    assert pod(load("drain-pod-disrupted-running.json")).disruption_reason == (
        "EvictionByEvictionAPI")
    assert pod(load("delete-pod-failed.json")).disruption_reason is None


def test_a_disruption_target_that_is_not_true_does_not_count() -> None:
    obj = load("drain-pod-disrupted-running.json")
    for condition in obj["status"]["conditions"]:
        if condition["type"] == "DisruptionTarget":
            condition["status"] = "False"

    assert pod(obj).disruption_reason is None


def test_the_reaped_annotation_is_read() -> None:
    obj = load("image-job-active.json")
    obj["metadata"]["annotations"] = {ZOMBIE_REAPED_AT_ANNOTATION: "2026-12-01T09:20:00Z"}

    assert job(obj).reaped_at == "2026-12-01T09:20:00Z"

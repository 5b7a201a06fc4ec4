"""Laying a zombie to rest against the real API server, with deploy/'s Role (SPEC §14).

The bare API server runs no Job controller, so this proves the part that is
zombiewatch's: after the failure is committed and annotated, a Job whose pod may
still start gets ``activeDeadlineSeconds: 1`` and ``zombie-reaped-at`` (the Role's
``patch`` on jobs is enough), a Job whose pod already failed is left alone, and the
Job's own later failure (as the Job controller then writes it) publishes nothing more.
What the Job controller does with the deadline is proven on the real node.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from harness import kubelet
from harness.waiting import wait_until
from tests.integration.worlds.daemon_stage import (
    Stage,
    leading_as_the_service_account,
)
from zombiewatch.domain.views import ZOMBIE_REAPED_AT_ANNOTATION

pytestmark = pytest.mark.integration


def _job(stage: Stage, name: str) -> Any:
    return stage.batch.read_namespaced_job(name, stage.namespace)


def _reaped(stage: Stage, name: str) -> bool:
    return ZOMBIE_REAPED_AT_ANNOTATION in (_job(stage, name).metadata.annotations or {})


def _crashed_job(stage: Stage) -> str:
    task_id = str(uuid.uuid4())
    name = f"claude-{task_id[:8]}-{uuid.uuid4().hex[:6]}"
    job = kubelet.create_agent_job(stage.batch, stage.namespace, task_id=task_id, name=name,
                                   active_deadline_seconds=1800)
    pod = kubelet.create_agent_pod(stage.core, stage.namespace, job=job, task_id=task_id)
    kubelet.set_terminated(stage.core, stage.namespace, pod, 1)
    return name


async def test_a_reported_job_whose_pod_may_start_is_reaped_and_one_whose_pod_failed_is_not(
    stage: Stage,
) -> None:
    # Arrange: the daemon runs with deploy/'s ServiceAccount, Role and RoleBinding
    async with leading_as_the_service_account(stage) as runtime:
        # Act
        stuck = stage.failing_job("ErrImagePull")
        crashed = _crashed_job(stage)
        await stage.reader.wait_for_failures(2)
        await wait_until(lambda: _reaped(stage, stuck), what="the reap patch")
        # The Job controller would now fail the reaped Job at its new deadline:
        kubelet.set_job_started(stage.batch, stage.namespace, stuck)
        kubelet.patch_job_status(stage.batch, stage.namespace, stuck, {"conditions": [{
            "type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline",
            "lastProbeTime": kubelet.now(), "lastTransitionTime": kubelet.now()}]})
        await runtime.sweep_now()
        await stage.reader.quiet(2.0)
        errors = runtime.metrics.registry.get_sample_value("zombiewatch_reap_errors_total",
                                                           {"kind": "forbidden"})
        reaped_count = runtime.metrics.registry.get_sample_value(
            "zombiewatch_jobs_reaped_total")
    # Assert
    assert stage.reader.reasons_by_job() == {stuck: ["image_pull_backoff (ErrImagePull)"],
                                              crashed: ["pod_crash_no_stdout (Error/1)"]}
    assert _job(stage, stuck).spec.active_deadline_seconds == 1
    assert not _reaped(stage, crashed)
    assert _job(stage, crashed).spec.active_deadline_seconds == 1800
    assert (errors, reaped_count) == (None, 1)

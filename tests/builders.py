"""Small builders of domain views for example-based tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.gate import GateInputs, decide
from zombiewatch.domain.views import ContainerView, JobView, PodPhase, PodView
from zombiewatch.testing.fakes import T0

V = TypeVar("V")


def job_view(
    name: str = "claude-4aa57614-20260602090000",
    *,
    task_id: str = "4aa57614-8835-4992-87e9-ca483ddbeae6",
    assignee: str = "claude",
    created_at: datetime = T0,
    started_at: datetime | None = T0,
    failed_reason: str | None = None,
    complete: bool = False,
    reported_reason: str | None = None,
    namespace: str = "agents",
) -> JobView:
    return JobView(
        namespace=namespace, name=name, uid=f"uid-{name}", task_id=task_id, assignee=assignee,
        created_at=created_at, started_at=started_at,
        failed_reason=failed_reason, complete=complete, reported_reason=reported_reason,
    )


def pod_view(
    job: JobView,
    *,
    name: str | None = None,
    phase: PodPhase = PodPhase.PENDING,
    waiting: str | None = None,
    init_waiting: str | None = None,
    exit_code: int | None = None,
    terminated_reason: str | None = None,
    running: bool = False,
    status_reason: str | None = None,
    scheduled: bool | None = True,
    created_at: datetime | None = None,
) -> PodView:
    containers = (ContainerView(name="agent", waiting_reason=waiting,
                                terminated_exit_code=exit_code,
                                terminated_reason=terminated_reason, running=running),)
    init = (ContainerView(name="init", waiting_reason=init_waiting),) if init_waiting else ()
    return PodView(
        namespace=job.namespace, name=name or f"{job.name}-abcde", uid=f"uid-pod-{job.name}",
        task_id=job.task_id, job_name=job.name, phase=phase, status_reason=status_reason,
        created_at=created_at or job.created_at, scheduled=scheduled,
        init_containers=init, containers=containers,
    )


def sweep_verdict(inputs: GateInputs) -> Verdict | None:
    """What a sweep decides (inputs from ``triage.sweep_inputs``): the gate's verdict, None
    for a hold or nothing wrong."""
    decision = decide(inputs)
    return decision if isinstance(decision, Verdict) else None


def judged(outcome: V) -> V:
    """A verdict as the SPEC tables name it (reason, rule, evidence), its detail and cause
    cleared: those quote the cluster's messages and are asserted on their own
    (tests/unit/test_detail.py). Anything else is returned as it is."""
    if isinstance(outcome, Verdict):
        return replace(outcome, detail="", cause=None)
    return outcome

"""``zombiewatch explain FILE``: classify one Pod or Job for operator triage.

Reads what ``kubectl get -o json`` (or ``-o yaml``) prints, a single object or
a ``List``, translates it with the same code the informers use and applies
the same SPEC §5 tables, so the answer is the daemon's answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import yaml

from zombiewatch.adapters.kubernetes.decoding import JOB, POD
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.domain.classification import GRACE, Verdict, classify_job, classify_pod
from zombiewatch.domain.views import JobView, PodView


class ExplainError(ValueError):
    """The input cannot be read or is not a Pod or Job we can classify."""


@dataclass(frozen=True, slots=True)
class Explanation:
    kind: str
    name: str
    verdict: Verdict | None

    def as_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "name": self.name,
            "reason": self.verdict.reason.value if self.verdict else None,
            "rule": self.verdict.rule.value if self.verdict else None,
        }


def load_objects(text: str, *, source: str) -> list[Mapping[str, object]]:
    """JSON or YAML text -> the objects in it (a ``List`` is unpacked)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ExplainError(f"{source}: neither JSON nor YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ExplainError(f"{source}: expected a Kubernetes object, got {type(document).__name__}")
    if document.get("kind") == "List" or (
        "items" in document and isinstance(document["items"], list) and "kind" not in document
    ):
        items = document.get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ExplainError(f"{source}: a List whose items are not objects")
        return list(items)
    return [document]


def explain_object(
    obj: Mapping[str, object], *, now: datetime, grace: timedelta = GRACE
) -> Explanation:
    """Classify one object, or raise ExplainError saying why it cannot be."""
    kind = obj.get("kind")
    if kind == "Pod":
        pod = POD.from_object(dict(obj))
        if isinstance(pod, Skipped):
            raise ExplainError(f"cannot classify Pod {pod.namespace}/{pod.name}: {pod.reason}")
        return _explain_pod(pod, now=now, grace=grace)
    if kind == "Job":
        job = JOB.from_object(dict(obj))
        if isinstance(job, Skipped):
            raise ExplainError(f"cannot classify Job {job.namespace}/{job.name}: {job.reason}")
        return _explain_job(job)
    raise ExplainError(f"expected kind Pod or Job, got {kind!r}")


def _explain_pod(pod: PodView, *, now: datetime, grace: timedelta) -> Explanation:
    return Explanation("Pod", pod.name, classify_pod(pod, now=now, grace=grace))


def _explain_job(job: JobView) -> Explanation:
    outcome = classify_job(job)
    return Explanation("Job", job.name, outcome if isinstance(outcome, Verdict) else None)


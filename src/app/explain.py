"""``zombiewatch explain FILE``: classify Pods and Jobs for operator triage.

Reads what ``kubectl get -o json`` (or ``-o yaml``) prints — a single object, a
``List``, or the stream ``kubectl get -w [--output-watch-events]`` prints —
translates it with the same code the informers use and applies the same
SPEC §5 tables, so the answer is the daemon's answer:

- a watch event ``{"type": "DELETED", "object": ...}`` is judged as the last
  state of a deleted pod (a drained pod is decided there);
- a failed Job given together with its pods is settled with them, as the
  daemon does (a drained pod's ``pod_evicted`` beats the Job's
  ``BackoffLimitExceeded``; no verdict while a pod is still terminating);
- a started Job whose status counts no pod, given without any pod of it, is judged by
  the never-started Job row (``no_pod_past_grace``), as the daemon does.

Each answer names the reason, the rule, the Reason line's evidence, the
``Detail:`` line a failure would carry and its shared cause (``kind:subject``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import yaml

from zombiewatch.adapters.kubernetes.decoding import JOB, POD
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.domain.classification import (
    GRACE,
    Verdict,
    classify_job,
    classify_pod,
    classify_podless_job,
    settle_job_failure,
)
from zombiewatch.domain.never_started import INIT_BOUND
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
            "evidence": (self.verdict.evidence or None) if self.verdict else None,
            "detail": (self.verdict.detail or None) if self.verdict else None,
            "cause": self.verdict.cause.key if self.verdict and self.verdict.cause else None,
        }


def _json_documents(text: str) -> list[Any] | None:
    """One JSON document or several in a row (``kubectl get -w -o json``); None if not JSON."""
    decoder = json.JSONDecoder()
    documents: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return documents or None
        try:
            document, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return None
        documents.append(document)


def load_objects(text: str, *, source: str) -> list[Mapping[str, Any]]:
    """JSON or YAML text -> the objects in it (a ``List`` is unpacked, a stream split)."""
    documents = _json_documents(text)
    if documents is None:
        try:
            documents = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            raise ExplainError(f"{source}: neither JSON nor YAML: {exc}") from exc
    if not documents:
        raise ExplainError(f"{source}: expected a Kubernetes object, got nothing")
    objects: list[Mapping[str, Any]] = []
    for document in documents:
        objects.extend(_objects_of(document, source=source))
    return objects


def _objects_of(document: object, *, source: str) -> list[Mapping[str, Any]]:
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


def _watch_event(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """Unwrap ``{"type": ..., "object": ...}`` (``--output-watch-events``): (object, deleted)."""
    inner = obj.get("object")
    if "kind" not in obj and isinstance(inner, dict) and isinstance(obj.get("type"), str):
        return inner, obj["type"] == "DELETED"
    return obj, False


def _view(obj: Mapping[str, Any]) -> PodView | JobView:
    kind = obj.get("kind")
    if kind == "Pod":
        pod = POD.from_object(dict(obj))
        if isinstance(pod, Skipped):
            raise ExplainError(f"cannot classify Pod {pod.namespace}/{pod.name}: {pod.reason}")
        return pod
    if kind == "Job":
        job = JOB.from_object(dict(obj))
        if isinstance(job, Skipped):
            raise ExplainError(f"cannot classify Job {job.namespace}/{job.name}: {job.reason}")
        return job
    raise ExplainError(f"expected kind Pod or Job, got {kind!r}")


def explain_objects(
    objects: list[Mapping[str, Any]], *, now: datetime, grace: timedelta = GRACE,
    init_bound: timedelta = INIT_BOUND,
) -> list[Explanation]:
    """Classify each object, a failed Job together with the pods of it given alongside.

    Of a pod seen several times (a watch stream) the last state is its Job's pod.
    """
    views = [(_view(obj), deleted) for obj, deleted in map(_watch_event, objects)]
    current: dict[tuple[str, str], PodView] = {}
    gone: dict[tuple[str, str], PodView] = {}
    for view, deleted in views:
        if isinstance(view, PodView):
            key = (view.namespace, view.name)
            (gone if deleted else current)[key] = view
            (current if deleted else gone).pop(key, None)
    answers: list[Explanation] = []
    for view, deleted in views:
        if isinstance(view, PodView):
            answers.append(Explanation("Pod", view.name, classify_pod(
                view, now=now, grace=grace, deleted=deleted, init_bound=init_bound)))
            continue

        def owned(pods: dict[tuple[str, str], PodView], job: JobView = view) -> list[PodView]:
            return [p for p in pods.values()
                    if p.job_name == job.name and p.namespace == job.namespace]

        outcome = classify_job(view)
        verdict = outcome if isinstance(outcome, Verdict) else None
        if verdict is not None:
            verdict = settle_job_failure(view, verdict, owned(current), now=now, grace=grace,
                                         deleted=owned(gone), init_bound=init_bound)
        elif outcome is None:
            verdict = classify_podless_job(view, [*owned(current), *owned(gone)], now=now,
                                           grace=grace)
        answers.append(Explanation("Job", view.name, verdict))
    return answers


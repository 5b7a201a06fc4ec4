"""The evidence, Detail and cause of every verdict, and the one function that makes a Detail safe.

Rows are read from the corpus objects a real v1.37 node wrote (tests/data/node_corpus,
tests/data/corpus) where one shows the case, else from hand-built views.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import job_view, pod_view
from zombiewatch.adapters.kubernetes.decoding import JOB, POD
from zombiewatch.domain.causes import Cause, CauseKind
from zombiewatch.domain.classification import Rule, Verdict, classify_job, classify_pod
from zombiewatch.domain.detail import (
    DETAIL_MAX_CHARS,
    ELLIPSIS,
    missing_object,
    safe_detail,
    scheduling_subject,
)
from zombiewatch.domain.gate import DeadlineInputs, GateInputs, decide
from zombiewatch.domain.views import ContainerView, JobView, PodPhase, PodView

DATA = Path(__file__).resolve().parents[1] / "data"
LATE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def corpus_item(path: str, kind: str) -> dict[str, Any]:
    loaded = json.loads((DATA / path).read_text())
    items = loaded.get("items", [loaded])
    return next(item for item in items if item.get("kind") == kind)


def corpus_pod(path: str) -> PodView:
    view = POD.from_object(corpus_item(path, "Pod"))
    assert isinstance(view, PodView), view
    return view


def corpus_job(path: str) -> JobView:
    view = JOB.from_object(corpus_item(path, "Job"))
    assert isinstance(view, JobView), view
    return view


def replace_pod(pod: PodView, **changes: Any) -> PodView:
    return replace(pod, **changes)


def pod_verdict(pod: PodView) -> Verdict:
    verdict = classify_pod(pod, now=LATE)
    assert verdict is not None
    return verdict


# --- every row, from what the real node wrote -------------------------------------------------


def test_an_image_pull_names_the_image_and_the_kubelets_error_and_the_image_is_the_cause() -> None:
    verdict = pod_verdict(corpus_pod("node_corpus/missing_image.json"))

    assert verdict.evidence == "ErrImagePull"
    assert verdict.detail.startswith('image "localhost/does-not-exist:1": failed to pull and '
                                     'unpack image "localhost/does-not-exist:1"')
    assert verdict.cause == Cause(CauseKind.IMAGE, "localhost/does-not-exist:1")


def test_an_init_container_that_cannot_pull_names_its_own_image() -> None:
    verdict = pod_verdict(corpus_pod("node_corpus/init_container_cannot_pull.json"))

    assert verdict.cause == Cause(CauseKind.IMAGE, "localhost/does-not-exist:1")
    assert verdict.detail.startswith('image "localhost/does-not-exist:1": ')


def test_a_missing_secret_is_named_and_is_the_cause() -> None:
    verdict = pod_verdict(corpus_pod("node_corpus/env_from_missing_secret.json"))

    assert (verdict.rule, verdict.evidence) == (
        Rule.CONTAINER_CONFIG_ERROR_PAST_GRACE, "CreateContainerConfigError")
    assert verdict.detail == 'container "agent": secret "does-not-exist" not found'
    assert verdict.cause == Cause(CauseKind.OBJECT, "secret/does-not-exist")


def test_an_oom_kill_names_the_container_its_limit_and_the_node_and_has_no_cause() -> None:
    verdict = pod_verdict(corpus_pod("node_corpus/oom_main_process.json"))

    assert verdict.evidence == "OOMKilled/137"
    assert verdict.detail == ('container "agent" killed out of memory at its memory limit 8Mi '
                              'on node "zw-node"')
    assert verdict.cause is None


def test_a_crash_names_the_container_its_exit_code_and_the_node() -> None:
    verdict = pod_verdict(corpus_pod("node_corpus/exit_1_before_output.json"))

    assert verdict.evidence == "Error/1"
    assert verdict.detail == 'container "agent" exited with code 1 on node "zw-node"'
    assert verdict.cause is None


def test_a_drain_names_the_disruption_and_its_node_which_is_the_cause() -> None:
    verdict = pod_verdict(corpus_pod("node_corpus/eviction_api.json"))

    assert verdict.rule is Rule.DISRUPTED
    assert verdict.detail == 'EvictionByEvictionAPI on node "zw-node": Eviction API: evicting'
    assert verdict.cause == Cause(CauseKind.NODE, "zw-node")


def test_a_preemption_has_no_node_wide_cause() -> None:
    pod = corpus_pod("corpus/node-preemption-published.json")

    verdict = pod_verdict(pod)

    assert verdict.detail.startswith('PreemptionByScheduler on node "zw-node": ')
    assert verdict.cause is None


def test_an_unschedulable_pod_quotes_the_scheduler_and_its_constraint_is_the_cause() -> None:
    verdict = pod_verdict(corpus_pod("node_corpus/node_selector_matches_nothing.json"))

    assert verdict.detail.startswith("0/1 nodes are available: 1 node(s) didn't match Pod's "
                                     "node affinity/selector.")
    assert verdict.cause == Cause(CauseKind.SCHEDULING, (
        "nodes are available: node(s) didn't match Pod's node affinity/selector. preemption: "
        "nodes are available: Preemption is not helpful for scheduling."))


def test_a_job_past_its_deadline_quotes_the_job_controller() -> None:
    outcome = classify_job(corpus_job("node_corpus/active_deadline_exceeded.json"))

    assert isinstance(outcome, Verdict)
    assert outcome.detail == "DeadlineExceeded: Job was active longer than specified deadline"
    assert outcome.cause is None


# --- rows no corpus object shows --------------------------------------------------------------


def test_an_eviction_quotes_the_kubelet_and_names_the_node() -> None:
    pod = pod_view(job_view("agent-x"), phase=PodPhase.FAILED, status_reason="Evicted")
    pod = replace_pod(pod, node_name="worker-2",
                      status_message="The node was low on resource: memory.")

    verdict = pod_verdict(pod)

    assert verdict.detail == 'evicted from node "worker-2": The node was low on resource: memory.'
    assert verdict.cause == Cause(CauseKind.NODE, "worker-2")


def test_a_crash_loop_names_the_last_exit_code() -> None:
    container = ContainerView(name="agent", waiting_reason="CrashLoopBackOff", last_exit_code=3)
    pod = replace_pod(pod_view(job_view("agent-x"), phase=PodPhase.RUNNING),
                      containers=(container,), node_name="n1")

    verdict = pod_verdict(pod)

    assert (verdict.evidence, verdict.detail) == (
        "CrashLoopBackOff", 'container "agent" restarting after exit code 3 on node "n1"')


def test_a_missing_key_of_a_configmap_names_the_configmap() -> None:
    container = ContainerView(name="agent", waiting_reason="CreateContainerConfigError",
                              waiting_message="couldn't find key mode in ConfigMap agents/tune")
    pod = replace_pod(pod_view(job_view("agent-x")), containers=(container,))

    assert pod_verdict(pod).cause == Cause(CauseKind.OBJECT, "configmap/tune")


def test_a_config_error_naming_no_object_has_no_cause() -> None:
    container = ContainerView(name="agent", waiting_reason="CreateContainerError",
                              waiting_message="failed to reserve container name")
    pod = replace_pod(pod_view(job_view("agent-x")), containers=(container,))

    verdict = pod_verdict(pod)

    assert verdict.detail == 'container "agent": failed to reserve container name'
    assert verdict.cause is None


def test_the_sweepers_verdicts_say_what_it_saw_and_the_deadline() -> None:
    job = job_view("agent-x")
    deadline = DeadlineInputs(deadline=timedelta(minutes=30),
                              heartbeat_window=timedelta(minutes=5), last_heartbeat=None)
    now = job.created_at + timedelta(minutes=40)
    pending = pod_view(job, phase=PodPhase.PENDING, name="agent-x-abcde")

    no_pod = decide(GateInputs(job_name=job.name, job=job, now=now, deadline=deadline))
    stuck = decide(GateInputs(job_name=job.name, job=job, pods=(pending,), now=now,
                              deadline=deadline))

    assert isinstance(no_pod, Verdict)
    assert isinstance(stuck, Verdict)
    start = job.started_at or job.created_at
    since = int((now - start).total_seconds())
    assert no_pod.detail == f"no pod of the Job {since} s after its start (deadline 1800 s)"
    assert stuck.detail == (f'pod "agent-x-abcde" Pending, no recent heartbeat, {since} s after '
                            "its start (deadline 1800 s)")


# --- the adapter keeps messages safe and only where the state carries them ------------------


def test_a_healthy_pod_keeps_no_message() -> None:
    pod = corpus_pod("node_corpus/healthy_job.json")

    assert (pod.status_message, pod.unschedulable_message, pod.disruption_message) == (
        None, None, None)
    assert all(c.waiting_message is None and c.terminated_message is None
               for c in pod.all_containers)


def test_the_adapter_keeps_a_hostile_message_as_a_safe_detail() -> None:
    item = corpus_item("node_corpus/missing_image.json", "Pod")
    status = item["status"]["containerStatuses"][0]
    status["state"]["waiting"]["message"] = "pull\nhttps://bob:hunter2@reg.io/x " + "y" * 5000

    pod = POD.from_object(item)

    assert isinstance(pod, PodView)
    message = pod.containers[0].waiting_message
    assert message is not None
    assert message.startswith("pull https://***@reg.io/x yyy")
    assert len(message) == DETAIL_MAX_CHARS


# --- safe_detail -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("secret \"db\" not found", "secret \"db\" not found"),
    ("a\nb\r\n\tc  d ", "a b c d"),
    ("x\u202eevil\u202c y", "x evil y"),
    ("pull https://user:pass@registry.example/x failed",
     "pull https://***@registry.example/x failed"),
    ("password=hunter2 and token: abc;", "password=*** and token: ***;"),
    ("GITHUB_TOKEN=ghp_123 DB_PASSWORD='a b'", "GITHUB_TOKEN=*** DB_PASSWORD=***"),
    ("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer ***"),
    ("header bearer abc.def-ghi", "header bearer ***"),
    ("client_secret=s3cr3t&api_key=k", "client_secret=***&api_key=***"),
    ("", ""),
], ids=["kept", "one line", "bidi override", "userinfo", "key/values", "env-like", "authorization",
        "bearer", "query string", "empty"])
def test_safe_detail(text: str, expected: str) -> None:
    assert safe_detail(text) == expected


def test_a_long_text_is_cut_between_whole_characters_with_an_ellipsis() -> None:
    text = "a" * (DETAIL_MAX_CHARS - 2) + "e\u0301\u0301" + "z" * 10

    cut = safe_detail(text)

    assert len(cut) <= DETAIL_MAX_CHARS
    assert cut.endswith("a" + ELLIPSIS)


def test_a_secret_cut_at_the_bound_is_never_half_shown() -> None:
    text = "x " * ((DETAIL_MAX_CHARS - 10) // 2) + "token=abcdefghijklmnopqrstuvwxyz"

    assert "abc" not in safe_detail(text)


@given(st.text())
def test_safe_detail_is_one_bounded_line_and_idempotent(text: str) -> None:
    safe = safe_detail(text)

    assert len(safe) <= DETAIL_MAX_CHARS
    assert safe == safe.strip()
    assert "  " not in safe
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029\x85"
                   for ch in safe)
    assert safe_detail(safe) == safe


@given(st.text(), st.sampled_from(["password", "token", "secret", "api_key", "DB_PASSWORD"]),
       st.sampled_from(["=", ": ", " = "]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=4, max_size=40),
       st.text())
def test_a_secret_value_never_survives(
    before: str, key: str, sep: str, value: str, after: str
) -> None:
    safe = safe_detail(f"{before} {key}{sep}{value} {after}")

    assert f"{key}{sep.strip()}{value}" not in safe.replace(" ", "")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=3, max_size=20),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=3, max_size=20))
def test_url_credentials_never_survive(user: str, password: str) -> None:
    safe = safe_detail(f"fetch https://{user}:{password}@registry.example/v2/x")

    assert f"{user}:{password}" not in safe


# --- the cause subjects ------------------------------------------------------------------------


def test_the_same_constraint_on_more_nodes_is_the_same_scheduling_cause() -> None:
    one = ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
           "1 Preemption is not helpful for scheduling.")
    three = ("0/3 nodes are available: 1 node(s) had untolerated taint {gpu: }, 2 Insufficient "
             "cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for "
             "scheduling.")
    three_other_counts = ("0/3 nodes are available: 2 node(s) had untolerated taint {gpu: }, "
                          "1 Insufficient cpu. preemption: 0/3 nodes are available: 3 "
                          "Preemption is not helpful for scheduling.")

    assert scheduling_subject(three) == scheduling_subject(three_other_counts)
    assert scheduling_subject(one) != scheduling_subject(three)
    assert "0/" not in scheduling_subject(three)


@pytest.mark.parametrize(("message", "expected"), [
    ('secret "db" not found', "secret/db"),
    ('configmap "x" not found', "configmap/x"),
    ("couldn't find key k in Secret ns/db", "secret/db"),
    ("couldn't find key k in ConfigMap ns/x", "configmap/x"),
    ("failed to reserve container name", None),
])
def test_missing_object(message: str, expected: str | None) -> None:
    assert missing_object(message) == expected

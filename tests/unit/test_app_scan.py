"""``zombiewatch scan``: the decision and the formatting over a snapshot, and the CLI's
exit statuses. (Under a get/list-only Role against a real API server:
tests/integration/test_scan.py.)"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.unit.kubernetes.test_translation_today import job as job_of
from tests.unit.kubernetes.test_translation_today import load
from tests.unit.kubernetes.test_translation_today import pod as pod_of
from zombiewatch.adapters.kubernetes.errors import ForbiddenError
from zombiewatch.adapters.kubernetes.listing import NamespaceSnapshot
from zombiewatch.adapters.kubernetes.translation import Skipped
from zombiewatch.app import scan
from zombiewatch.app.cli import main
from zombiewatch.domain.classification import Verdict
from zombiewatch.domain.triage import NotYet
from zombiewatch.domain.views import AgentConfigView

NOW = datetime(2026, 12, 1, 9, 23, 0, tzinfo=UTC)


def snapshot(**changes: Any) -> NamespaceSnapshot:
    """A namespace in a mix of states, from the corpus objects."""
    image = job_of(load("image-job-active.json"))
    drained = job_of(load("drain-job-failure-target.json"))
    done = job_of(load("exit0-job-complete.json"))
    base = NamespaceSnapshot(
        jobs=(image, drained, done),
        pods=(pod_of(load("image-pull-backoff.json")),
              pod_of(load("drain-pod-disrupted-running.json"))),
        configs=(), skipped=(), configs_missing=False)
    return replace(base, **changes)


def test_each_in_flight_job_gets_its_verdict_or_why_not_and_completed_ones_are_counted() -> None:
    # Act
    report = scan.scan(snapshot(), namespace="agents", now=NOW)
    # Assert
    assert report.completed == 1
    oldest_first = [job_of(load(f)).name
                    for f in ("image-job-active.json", "drain-job-failure-target.json")]
    assert [row.job_name for row in report.rows] == oldest_first
    image, drained = (row.outcome for row in report.rows)
    assert isinstance(image, Verdict)
    assert image.rule.value == "waiting_image_pull"
    assert isinstance(drained, NotYet)
    assert drained.describe() == (
        "job failed, waiting for its pod to end (BackoffLimitExceeded), decided in at most 51 s")
    assert report.exit_code == scan.EXIT_ZOMBIES


def test_a_zombie_already_reported_does_not_set_the_exit_status() -> None:
    # Arrange
    image = replace(job_of(load("image-job-active.json")), reported_reason="image_pull_backoff",
                    reported_at="2026-12-01T09:17:31Z", reaped_at="2026-12-01T09:17:32Z")
    # Act
    report = scan.scan(snapshot(jobs=(image,)), namespace="agents", now=NOW)
    # Assert
    assert report.rows[0].zombie
    assert report.exit_code == scan.EXIT_NO_ZOMBIES
    table = scan.render_table(report)
    assert "image_pull_backoff at 2026-12-01T09:17:31Z" in table
    assert "2026-12-01T09:17:32Z" in table


def test_the_table_has_one_line_per_job_and_a_summary() -> None:
    # Act
    bad = Skipped(kind="Pod", namespace="agents", name="x", reason="bad")
    table = scan.render_table(scan.scan(snapshot(skipped=(bad,), configs_missing=True),
                                        namespace="agents", now=NOW))
    # Assert
    lines = table.splitlines()
    assert lines[0].split() == ["JOB", "ASSIGNEE", "AGE", "PODS", "VERDICT", "RULE", "/", "WHY",
                                "NOT", "YET", "REPORTED", "REAPED"]
    assert "image_pull_backoff" in lines[1]
    assert "waiting_image_pull" in lines[1]
    assert "decided in at most 51 s" in lines[2]
    assert "namespace agents: 2 in flight, 1 zombies (1 not reported), 1 completed not shown" in (
        table)
    assert "1 malformed objects skipped" in table
    assert "no Config CRD installed" in table


def test_the_json_document_says_the_same_for_machines() -> None:
    # Act
    document = json.loads(scan.render_json(scan.scan(snapshot(), namespace="agents", now=NOW)))
    # Assert
    image, drained = document["jobs"]
    assert (image["zombie"], image["reason"], image["rule"], image["waiting"]) == (
        True, "image_pull_backoff", "waiting_image_pull", None)
    assert (drained["zombie"], drained["waiting"], drained["remaining_seconds"]) == (
        False, "pod_ending", 51)
    assert (document["zombies"], document["unreported_zombies"], document["completed"]) == (
        1, 1, 1)
    assert document["now"] == "2026-12-01T09:23:00Z"


def test_the_configured_deadline_of_the_assignee_is_used() -> None:
    # Arrange: a Job with nothing wrong yet, 7 min old; claude's deadline is 10 min
    young = job_of(load("image-job-active.json"))
    config = AgentConfigView(namespace="agents", name="claude", assignee="claude",
                             zombie_job_timeout_seconds=600)
    now = young.created_at + timedelta(minutes=7)
    # Act
    report = scan.scan(snapshot(jobs=(young,), pods=(), configs=(config,)), namespace="agents",
                       now=now)
    # Assert
    outcome = report.rows[0].outcome
    assert isinstance(outcome, NotYet)
    assert outcome.describe() == "not running yet, deadline in 3 min"


def test_scan_without_a_namespace_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NAMESPACE", raising=False)

    assert main(["scan"]) == scan.EXIT_USAGE
    assert "NAMESPACE is required" in capsys.readouterr().err


def test_scan_without_usable_credentials_says_so_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["scan", "--namespace", "agents", "--kubeconfig", str(tmp_path / "absent")])

    assert code == scan.EXIT_UNREADABLE
    assert "no usable cluster credentials" in capsys.readouterr().err


class ClosedClient:
    """Stands in for the ApiClient; records that scan closed it."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_namespace_it_may_not_read_is_named_and_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    client = ClosedClient()
    listed: list[str] = []

    def refuse(api_client: object, namespace: str) -> NamespaceSnapshot:
        listed.append(namespace)
        raise ForbiddenError(403, "Forbidden")

    monkeypatch.setattr(scan, "api_client_factory", lambda kubeconfig: lambda: client)
    monkeypatch.setattr(scan, "list_namespace", refuse)
    # Act
    code = main(["scan", "--namespace", "secret-ns"])
    # Assert
    err = capsys.readouterr().err
    assert code == scan.EXIT_UNREADABLE
    assert "cannot read namespace secret-ns: 403 Forbidden" in err
    assert "get and list on jobs, pods" in err
    assert listed == ["secret-ns"]
    assert client.closed


def test_scan_prints_json_and_its_exit_status_says_whether_zombies_exist(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.setattr(scan, "api_client_factory", lambda kubeconfig: ClosedClient)
    monkeypatch.setattr(scan, "list_namespace", lambda api_client, namespace: snapshot())
    # Act
    code = main(["scan", "--namespace", "agents", "-o", "json", "--now", "2026-12-01T09:23:00Z"])
    # Assert
    assert code == scan.EXIT_ZOMBIES
    assert json.loads(capsys.readouterr().out)["unreported_zombies"] == 1

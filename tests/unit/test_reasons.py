"""The reasons are an on-disk contract (SPEC §4)."""

from __future__ import annotations

from zombiewatch.domain.classification import Rule
from zombiewatch.domain.reasons import ZombieReason


def test_zombie_reason_values_are_exactly_the_contracted_set() -> None:
    # Arrange
    contracted = {
        "image_pull_backoff",
        "pod_evicted",
        "deadline_exceeded",
        "pod_not_scheduled",
        "pod_crash_no_stdout",
        "executor_watch_lost",
        "type_mismatch",
        "container_config_error",
        "pod_oom_killed",
    }
    # Act
    values = {reason.value for reason in ZombieReason}
    # Assert
    assert values == contracted


def test_a_zombie_reason_formats_as_its_value() -> None:
    assert f"{ZombieReason.POD_EVICTED}" == "pod_evicted"


def test_rule_values_are_the_names_the_cli_prints() -> None:
    # Act
    values = [rule.value for rule in Rule]
    # Assert
    assert values == [
        "waiting_image_pull",
        "waiting_crash_loop",
        "evicted",
        "disrupted",
        "failed_oom_killed",
        "failed_nonzero_exit",
        "unschedulable_past_grace",
        "container_config_error_past_grace",
        "job_failed_deadline",
        "job_failed_other",
        "job_failure_target_deadline",
        "job_failure_target_other",
        "deadline_no_pod",
        "deadline_pod_not_running",
        "not_ready_to_start_past_grace",
        "init_past_bound",
        "no_pod_past_grace",
    ]

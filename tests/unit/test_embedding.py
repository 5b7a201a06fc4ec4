"""The embedding API as a host sees it: ``from zombiewatch import ...``, plain exceptions."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import zombiewatch
from zombiewatch.app.errors import (
    NotStartedError,
    PublishFailedError,
    StartFailedError,
    ZombieWatchError,
)
from zombiewatch.app.library import ZombieWatch
from zombiewatch.app.settings import Settings
from zombiewatch.domain.commands import IncrementFrontmatter, UpdateFrontmatter
from zombiewatch.domain.ports import BrokerErrorKind, StartError
from zombiewatch.testing.containers import Fakes, faked_container, unit_settings
from zombiewatch.testing.fakes import FakeLeader

HEAVY = ("kubernetes", "aiokafka", "zombiewatch.app")


class RefusingLeader(FakeLeader):
    async def start(self) -> None:
        raise StartError("leader", "no RBAC for leases (fake)")


def _imported_after(statement: str) -> list[str]:
    """Which of the heavy modules a fresh interpreter holds after ``statement``."""
    probe = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.split()


@pytest.mark.parametrize("statement", [
    "import zombiewatch",
    "import zombiewatch.domain.ports, zombiewatch.domain.doctrine, zombiewatch.domain.manifest",
])
def test_importing_the_package_or_the_domain_loads_neither_the_app_nor_the_clients(
    statement: str,
) -> None:
    assert _imported_after(statement) == []


def test_the_host_imports_the_entry_point_and_its_errors_from_the_package() -> None:
    assert _imported_after("from zombiewatch import ZombieWatch") == list(HEAVY)
    assert zombiewatch.ZombieWatch is ZombieWatch
    assert zombiewatch.Settings is Settings
    assert zombiewatch.ZombieWatchError is ZombieWatchError
    assert zombiewatch.PublishFailedError is PublishFailedError
    assert set(zombiewatch.__all__) <= set(dir(zombiewatch))
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = zombiewatch.Nothing


def test_every_error_a_host_can_meet_at_run_time_is_a_zombiewatch_error() -> None:
    for error in (StartFailedError, NotStartedError, PublishFailedError):
        assert issubclass(error, ZombieWatchError)


def test_a_kubeconfig_that_cannot_be_read_is_a_start_failure_naming_the_cause() -> None:
    with pytest.raises(StartFailedError, match=r"^setup: CredentialsError: no usable cluster "
                       r"credentials: tried --kubeconfig /nonexistent \(missing\)") as refused:
        ZombieWatch(unit_settings(kubeconfig=Path("/nonexistent")))

    assert refused.value.component == "setup"
    assert refused.value.__cause__ is not None


async def test_a_part_that_cannot_start_is_a_start_failure_and_nothing_stays_started() -> None:
    fakes = Fakes(leader=RefusingLeader())
    watch = ZombieWatch(unit_settings(), container=faked_container(fakes))

    with pytest.raises(StartFailedError, match=r"^leader: no RBAC") as refused:
        await watch.start()

    assert refused.value.component == "leader"
    with pytest.raises(NotStartedError):
        await watch.increment_trigger_count("task-1")


async def test_the_helpers_refuse_before_start_and_after_stop() -> None:
    watch = ZombieWatch(unit_settings(), container=faked_container(Fakes()))

    with pytest.raises(NotStartedError):
        await watch.increment_trigger_count("task-1")
    async with watch:
        pass
    with pytest.raises(NotStartedError):
        await watch.increment_trigger_count("task-1")


async def test_a_committed_helper_returns_none_and_a_failed_one_raises_with_its_kind() -> None:
    fakes = Fakes()
    at = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    async with ZombieWatch(unit_settings(), container=faked_container(fakes)) as watch:
        await watch.increment_trigger_count("task-1")
        await watch.notify_spawned(task_id="task-1", job_name="claude-task-1", started_at=at)
        fakes.publisher.fail_next = 1
        fakes.publisher.failure_kind = BrokerErrorKind.FENCED
        with pytest.raises(PublishFailedError, match=r"^fenced: broker down") as refused:
            await watch.report_type_mismatch(task_id="task-2", job_name="claude-task-2",
                                             prior_assignee="claude", detail="no poems")

    assert [type(c) for c in fakes.publisher.commands] == [IncrementFrontmatter,
                                                           UpdateFrontmatter]
    assert refused.value.kind is BrokerErrorKind.FENCED
    assert len(fakes.publisher.attempts) == 1  # the escalation was tried, not committed
    assert fakes.publisher.published == []


async def test_the_dispatch_path_charges_today_s_budget_and_names_the_task_s_vault() -> None:
    fakes = Fakes()
    at = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    task = {"phase": "planning", "ref": "314c4b32aa", "trigger_count": 1,
            "target_vault": "work"}
    spent = {**task, "trigger_scope": "planning:314c4b32", "trigger_count": 3}
    async with ZombieWatch(unit_settings(), container=faked_container(fakes)) as watch:
        assert await watch.charge_trigger_budget("task-1", task)
        await watch.notify_spawned(task_id="task-1", job_name="claude-task-1", started_at=at,
                                   target_vault="work")
        assert not await watch.charge_trigger_budget("task-2", spent)  # no spawn, no write

    scope, notification = fakes.publisher.commands
    assert scope == UpdateFrontmatter(
        task_identifier="task-1", target_vault="work",
        updates={"trigger_scope": "planning:314c4b32", "trigger_count": 2})
    assert isinstance(notification, UpdateFrontmatter)
    assert notification.target_vault == "work"
    assert notification.updates["current_job"] == "claude-task-1"

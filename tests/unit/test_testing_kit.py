"""The test kit as a host team meets it: its public surface, its document, its example,
its message without the ``testing`` extra, and DispatchMachine's world and hooks."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

import zombiewatch.testing
from zombiewatch.domain.doctrine import spawn_notification
from zombiewatch.testing.stateful import (
    DispatchMachine,
    DispatchWorld,
    EmbeddedZombieWatch,
    LibraryDispatch,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "TESTING-KIT.md"
EXAMPLE = ROOT / "examples" / "testing_kit.py"
KIT = ROOT / "src" / "testing"
QUICK = settings(max_examples=15, stateful_step_count=15, deadline=None, database=None,
                 derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def public_modules() -> list[ModuleType]:
    return [importlib.import_module(f"zombiewatch.testing.{name}")
            for name in zombiewatch.testing.__all__]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)


# --- the surface and its document --------------------------------------------------------------


def test_the_package_lists_its_public_modules_and_no_private_one() -> None:
    on_disk = {path.stem for path in KIT.glob("*.py") if path.stem != "__init__"}
    public = set(zombiewatch.testing.__all__)

    assert public == {name for name in on_disk if not name.startswith("_")}
    assert {name for name in on_disk if name.startswith("_")} == {
        "_envelope", "_taskfile_text", "_yamlv3"}


def test_every_public_module_declares_names_it_defines() -> None:
    for module in public_modules():
        names = module.__all__
        assert names, module.__name__
        assert [n for n in names if not hasattr(module, n)] == [], module.__name__


def test_the_document_names_every_public_module_and_name() -> None:
    doc = DOC.read_text()
    missing = [
        f"{module.__name__}.{name}"
        for module in public_modules()
        for name in [module.__name__, *module.__all__]
        if f"`{name}" not in doc
    ]

    assert missing == []


def test_the_document_shows_the_example_file_whole() -> None:
    blocks = re.findall(r"^```python\n(.*?)^```$", DOC.read_text(), re.MULTILINE | re.DOTALL)

    assert len(blocks) == 1
    assert blocks[0] == EXAMPLE.read_text()


# --- without the testing extra -----------------------------------------------------------------


def test_without_hypothesis_every_kit_import_says_install_the_extra() -> None:
    code = (
        "import json, sys\n"
        "sys.modules['hypothesis'] = None  # as if the testing extra were not installed\n"
        "seen = {}\n"
        "for name in ['zombiewatch.testing', 'zombiewatch.testing.strategies',\n"
        "             'zombiewatch.testing.fakes', 'zombiewatch.testing.stateful']:\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError as error:\n"
        "        seen[name] = [type(error).__name__, str(error)]\n"
        "    else:\n"
        "        seen[name] = None\n"
        "import zombiewatch\n"
        "seen['zombiewatch'] = zombiewatch.__name__\n"
        "print(json.dumps(seen))\n"
    )
    result = run_python(code)

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen.pop("zombiewatch") == "zombiewatch"  # the library itself does not need it
    assert len(seen) == 4
    for name, failure in seen.items():
        assert failure is not None, f"{name} imported without Hypothesis"
        kind, message = failure
        assert kind == "ImportError", (name, kind)
        assert "install zombiewatch[testing]" in message, (name, message)


def test_importing_the_strategies_registers_nothing_until_asked() -> None:
    code = (
        "from hypothesis import find, settings, strategies as st\n"
        "from hypothesis.errors import NoSuchExample\n"
        "from zombiewatch.domain.views import PodView\n"
        "from zombiewatch.testing import strategies\n"
        "def foreign():\n"
        "    try:\n"
        "        find(st.from_type(PodView), lambda pod: pod.namespace != 'agents',\n"
        "             settings=settings(max_examples=50, database=None))\n"
        "    except NoSuchExample:\n"
        "        return False\n"
        "    return True\n"
        "print(foreign())\n"
        "strategies.register_strategies()\n"
        "print(foreign())\n"
    )
    result = run_python(code)

    assert result.returncode == 0, result.stderr
    # Hypothesis's own PodView strategy draws any namespace; the kit's only "agents".
    assert result.stdout.split() == ["True", "False"]


# --- DispatchMachine: its world and its hooks --------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"assignees": ()}, "non-empty assignees"),
        ({"assignees": ("builder", "")}, "non-empty assignees"),
        ({"task_ids": ()}, "at least one task id"),
        ({"start": datetime(2027, 1, 4, 8, 0)}, "timezone-aware"),
    ],
)
def test_a_bad_world_is_one_clear_error(changes: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=says) as raised:
        DispatchWorld(**changes)  # type: ignore[arg-type]
    assert "\n" not in str(raised.value)


TEAM = DispatchWorld(namespace="team-a", assignees=("builder", "reviewer"),
                     start=datetime.fromisoformat("2027-01-04T08:00:00+00:00"),
                     task_ids=("only-task",))


class TeamWorldMachine(DispatchMachine):
    """The machine in another world, with an invariant that every Job and pod lives in it."""

    world = TEAM

    @invariant()
    def everything_runs_in_the_team_namespace(self) -> None:
        for name in self.jobs:
            job = self.cache.job(name)
            assert job is not None
            assert job.namespace == "team-a", job
            assert all(pod.namespace == "team-a" for pod in self.cache.pods_of_job(name))
        assert set(self.models) == {"only-task"}


def test_the_world_reaches_the_machine() -> None:
    machine = TeamWorldMachine()
    try:
        machine.create_tasks(cap=None)

        assert machine.clock.now() == TEAM.start
        assert machine.container.settings().namespace == "team-a"
        assert machine.task("only-task").frontmatter["assignee"] == "builder"
    finally:
        machine.teardown()


def test_the_whole_loop_runs_in_the_hosts_world() -> None:
    run_state_machine_as_test(TeamWorldMachine, settings=QUICK)


class ForgetsTheIncrement(LibraryDispatch):
    """A broken host: it says it counts the trigger but only announces the Job."""

    def dispatch_records(
        self, zombiewatch: EmbeddedZombieWatch, *, task_id: str, assignee: str, job_name: str,
        at: datetime,
    ) -> Sequence[bytes]:
        return [zombiewatch.record(
            spawn_notification(task_id=task_id, job_name=job_name, started_at=at))]


class BrokenHostMachine(DispatchMachine):
    hooks = ForgetsTheIncrement()


def test_the_machine_finds_a_host_whose_hooks_break_the_doctrine() -> None:
    found_fast = settings(QUICK, phases=[Phase.generate])  # the failure, not its shrinking
    with pytest.raises(AssertionError, match=r"^\(\d+, TaskModel\("):  # trigger_count != model
        run_state_machine_as_test(BrokenHostMachine, settings=found_fast)


def test_the_kits_own_run_keeps_zombiewatchs_dispatch_and_world() -> None:
    """The defaults keep the kit's own run (test_doctrine_state_machine) meaning what it did."""
    assert isinstance(DispatchMachine.hooks, LibraryDispatch)
    assert DispatchMachine.hooks.scoped_budget  # today's executor: the scoped budget
    assert DispatchMachine.hooks.dispatch_increments == 0
    assert DispatchMachine.world == DispatchWorld()
    assert DispatchMachine.world.assignees[0] == "claude"

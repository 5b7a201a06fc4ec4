"""The trigger budget a dispatch charges before a spawn (today's executor, UPSTREAM §4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zombiewatch.domain.budget import BudgetSpent, trigger_budget, trigger_scope
from zombiewatch.domain.commands import IncrementFrontmatter, UpdateFrontmatter
from zombiewatch.domain.doctrine import DoctrineError, increment_trigger_count
from zombiewatch.domain.tasks import controller_int

TASK = "4aa57614-8835-4992-87e9-ca483ddbeae6"


def fm(**values: object) -> dict[str, object]:
    return {"phase": "planning", "trigger_count": 2, **values}


def scoped_update(scope: str, count: int, vault: str | None = None) -> UpdateFrontmatter:
    return UpdateFrontmatter(task_identifier=TASK,
                             updates={"trigger_scope": scope, "trigger_count": count},
                             target_vault=vault)


def test_the_scope_is_the_phase_and_the_first_8_characters_of_the_ref() -> None:
    assert trigger_scope(fm(ref="314c4b32deadbeef")) == "planning:314c4b32"
    assert trigger_scope(fm()) == "planning:"
    assert trigger_scope({"ref": 7}) == ":"


def test_the_same_scope_is_an_increment_naming_the_task_s_vault() -> None:
    assert trigger_budget(TASK, fm(trigger_scope="planning:", target_vault="work")) == (
        increment_trigger_count(TASK, target_vault="work"))


def test_no_scope_yet_adopts_it_and_keeps_counting() -> None:
    assert trigger_budget(TASK, fm(ref="314c4b32deadbeef")) == scoped_update(
        "planning:314c4b32", 3)


def test_a_changed_scope_is_a_fresh_budget_even_past_the_cap() -> None:
    task = fm(trigger_scope="planning:aaaaaaaa", ref="bbbbbbbbcc", trigger_count=9,
              max_triggers=3, target_vault="personal")
    assert trigger_budget(TASK, task) == scoped_update("planning:bbbbbbbb", 1, "personal")


@pytest.mark.parametrize(("extra", "spent"), [
    ({"max_triggers": 3}, True),                 # opted in
    ({"max_triggers": None}, True),              # present: the default 3
    ({"ref": "314c4b32"}, True),                 # repo-backed: capped by default
    ({}, False),                                 # recurring task: never capped
    ({"max_triggers": 4}, False),                # below its own cap
])
def test_the_cap_engages_with_max_triggers_or_a_ref(extra: dict[str, object],
                                                    spent: bool) -> None:
    task = fm(trigger_count=3, **extra)
    task["trigger_scope"] = trigger_scope(task)
    budget = trigger_budget(TASK, task)
    assert isinstance(budget, BudgetSpent) is spent, budget
    if not spent:
        assert isinstance(budget, IncrementFrontmatter)


def test_a_missing_scope_is_not_a_changed_one_so_a_spent_task_stays_spent() -> None:
    assert trigger_budget(TASK, fm(trigger_count=3, max_triggers=3)) == BudgetSpent(
        scope="planning:", trigger_count=3, max_triggers=3)


def test_an_invalid_task_id_is_refused() -> None:
    with pytest.raises(DoctrineError):
        trigger_budget("", fm())
    with pytest.raises(DoctrineError):
        trigger_budget("", fm(trigger_scope="planning:"))


values = st.one_of(st.none(), st.integers(-2, 6), st.floats(-1, 6, allow_nan=False),
                   st.text(max_size=3), st.booleans())
frontmatters = st.fixed_dictionaries(
    {"phase": st.sampled_from(["planning", "execution", "ai_review"])},
    optional={"ref": st.one_of(st.text("abcdef0123", max_size=12), st.integers()),
              "trigger_scope": st.one_of(st.sampled_from(["planning:", "execution:abc",
                                                          "planning:314c4b32"]), values),
              "trigger_count": values, "max_triggers": values,
              "target_vault": st.sampled_from(["personal", "work", "", 3])})


@given(frontmatters)
def test_one_spawn_is_at_most_one_write_and_never_lowers_the_count_in_its_scope(
    task: dict[str, object],
) -> None:
    budget = trigger_budget(TASK, task)
    scope = trigger_scope(task)
    stored = task.get("trigger_scope")
    if isinstance(budget, BudgetSpent):
        assert stored in (None, scope) or not isinstance(stored, str)
        assert budget.trigger_count >= budget.max_triggers
        assert "max_triggers" in task or isinstance(task.get("ref"), str)
        return
    vault = task.get("target_vault")
    assert budget.target_vault == (vault if isinstance(vault, str) and vault else None)
    if isinstance(budget, IncrementFrontmatter):
        assert stored == scope
        assert (budget.field, budget.delta) == ("trigger_count", 1)
        return
    assert budget.body is None
    assert budget.updates["trigger_scope"] == scope
    count = budget.updates["trigger_count"]
    assert isinstance(count, int)
    if isinstance(stored, str) and stored != scope:
        assert count == 1
    else:  # adopted: the count so far, plus this spawn
        assert count == controller_int(task.get("trigger_count"), default=0) + 1

"""docs/COMPARISON.md stays true about zombiewatch.

The other systems' columns are read from their documentation; the zombiewatch column is a
claim about this code: every reason and flag it names must exist, and every default it
quotes must be the one the code uses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zombiewatch.app.settings import build_parser
from zombiewatch.domain.classification import GRACE
from zombiewatch.domain.detail import DETAIL_MAX_CHARS
from zombiewatch.domain.never_started import INIT_BOUND
from zombiewatch.domain.reasons import ZombieReason
from zombiewatch.domain.storm import (
    DEFAULT_GATHER,
    DEFAULT_HOLD,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
)

COMPARISON = Path(__file__).resolve().parents[2] / "docs" / "COMPARISON.md"
SNAKE = re.compile(r"^[a-z]+(?:_[a-z]+)+$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def zombiewatch_cells(text: str) -> list[str]:
    """The last cell of every body row of every table whose last column is zombiewatch."""
    cells: list[str] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("|") or index + 1 >= len(lines):
            continue
        if not lines[index + 1].startswith("|---") or _cells(line)[-1] != "zombiewatch":
            continue
        for body in lines[index + 2:]:
            if not body.startswith("|"):
                break
            cells.append(_cells(body)[-1])
    return cells


def test_three_tables_end_with_the_zombiewatch_column() -> None:
    text = COMPARISON.read_text(encoding="utf-8")
    headers = [line for line in text.splitlines()
               if line.startswith("|") and _cells(line)[-1] == "zombiewatch"]

    assert len(headers) == 3
    assert len(zombiewatch_cells(text)) >= 15


def test_every_reason_the_zombiewatch_column_names_exists() -> None:
    names = [token for cell in zombiewatch_cells(COMPARISON.read_text(encoding="utf-8"))
             for token in re.findall(r"`([^`]+)`", cell) if SNAKE.match(token)]
    reasons = {reason.value for reason in ZombieReason}
    unknown = [name for name in names
               if name not in reasons and not name.startswith("zombiewatch_")]

    assert names, "the column names no reason"
    assert unknown == []


def test_every_flag_the_page_names_is_a_flag_of_zombiewatch_run() -> None:
    flags = set(re.findall(r"`(--[a-z0-9-]+)`", COMPARISON.read_text(encoding="utf-8")))
    known = {option for action in build_parser({})._actions for option in action.option_strings}

    assert flags
    assert flags - known == set()


@pytest.mark.parametrize("claim", [
    f"`--grace-seconds` ({GRACE.total_seconds():g} s)",
    f"`--storm-gather-seconds` ({DEFAULT_GATHER.total_seconds():g} s)",
    f"`--init-bound-seconds`, {INIT_BOUND.total_seconds():g} s",
    f"within {DEFAULT_WINDOW.total_seconds() / 60:g} minutes: "
    f"{DEFAULT_THRESHOLD} make one incident",
    f"or {DEFAULT_HOLD.total_seconds() / 60:g} minutes pass",
    f"at most {DETAIL_MAX_CHARS} characters",
    f"published {DEFAULT_GATHER.total_seconds():g} s later",
])
def test_the_defaults_the_page_quotes_are_the_code_s(claim: str) -> None:
    text = " ".join(COMPARISON.read_text(encoding="utf-8").split())

    assert claim in text

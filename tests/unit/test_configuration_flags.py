"""docs/CONFIGURATION.md's configuration table and ``zombiewatch run``'s parser cannot drift apart.

The table is the reference users read; the parser is what runs. Each row names
flags, environment variables and defaults, and every one of those is checked
against ``build_parser``: the same set of flags, each flag fed by the variable
its row names, the same defaults, and ``--help`` naming the same variables.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zombiewatch.app.settings import build_parser, parse_settings

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "CONFIGURATION.md"
TABLE_HEADING = "## Flags and environment variables"
REQUIRED_ARGS = ("--namespace", "ns", "--kafka-brokers", "broker:9092")


@dataclass(frozen=True)
class Row:
    """One row of the configuration table: its flags, variables and the default cell."""

    flags: tuple[str, ...]
    variables: tuple[str, ...]
    default: str

    def __str__(self) -> str:
        return " / ".join(self.flags or self.variables)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def table_rows(text: str) -> list[Row]:
    """The rows of the first table after the configuration heading."""
    after = text.split(f"\n{TABLE_HEADING}\n", 1)[1]
    lines = iter(after.splitlines())
    table: list[str] = []
    for line in lines:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    header, _separator, *body = table
    assert _cells(header)[:3] == ["Flag", "Environment", "Default"], header
    rows = []
    for line in body:
        flag_cell, variable_cell, default_cell, *_ = _cells(line)
        rows.append(Row(
            flags=tuple(re.findall(r"`(--[a-z0-9-]+)`", flag_cell)),
            variables=tuple(re.findall(r"`([A-Z][A-Z0-9_]*)`", variable_cell)),
            default=default_cell,
        ))
    return rows


ROWS = table_rows(CONFIGURATION.read_text("utf-8"))
FLAG_ROWS = [row for row in ROWS if row.flags]
VARIABLE_ONLY_ROWS = [row for row in ROWS if not row.flags]


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Long flag -> its action. argparse has no public way to list them: ``_actions``
    is the standard library's attribute, the one private name this test reads."""
    return {flag: action for action in parser._actions
            for flag in action.option_strings if flag.startswith("--") and flag != "--help"}


def _dests(row: Row, parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The row's distinct parser actions, in the order of its flags (--x/--no-x are one)."""
    actions = _actions(parser)
    seen: list[argparse.Action] = []
    for flag in row.flags:
        action = actions[flag]
        if action not in seen:
            seen.append(action)
    return seen


def _paired(row: Row, parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.Action, str]]:
    actions = _dests(row, parser)
    assert len(actions) == len(row.variables), (
        f"configuration row {row}: {len(actions)} settings but {len(row.variables)} variables")
    yield from zip(actions, row.variables, strict=True)


def _sentinel(action: argparse.Action) -> tuple[str, object]:
    """An environment value for ``action`` and the default it must produce (the variable's
    text: it is converted and checked after parsing, as a flag's is)."""
    if isinstance(action, argparse.BooleanOptionalAction):
        return ("false", "false") if action.default is True else ("true", "true")
    if action.type is float:
        return "17.5", 17.5
    if action.choices is not None:
        choice = next(str(c) for c in action.choices if c != action.default)
        return choice, choice
    return "readme-check-value", "readme-check-value"


def test_the_table_lists_every_run_flag_and_no_other() -> None:
    in_table = {flag for row in ROWS for flag in row.flags}
    in_parser = set(_actions(build_parser({})))
    assert in_table == in_parser, (
        f"missing from docs/CONFIGURATION.md: {sorted(in_parser - in_table)}; "
        f"not a flag of zombiewatch run: {sorted(in_table - in_parser)}")


@pytest.mark.parametrize("row", FLAG_ROWS, ids=str)
def test_each_flag_defaults_from_the_variable_its_row_names(row: Row) -> None:
    for action, variable in _paired(row, build_parser({})):
        text, expected = _sentinel(action)
        assert build_parser({variable: text}).get_default(action.dest) == expected, (
            f"{variable}={text} does not set {action.option_strings[0]}")


def _expected_default(cell: str, parser_default: object) -> object:
    word = cell.strip("` ")
    if word in ("", "required", "in-cluster") or "<" in word:
        return None  # no literal default: required, or derived after parsing
    if word in ("on", "off"):
        return word == "on"
    if word == "hostname":
        return socket.gethostname()
    if isinstance(parser_default, float):
        return float(word)
    return word


@pytest.mark.parametrize("row", FLAG_ROWS, ids=str)
def test_each_default_in_the_table_is_the_parser_default(row: Row) -> None:
    parser = build_parser({})
    pairs = list(_paired(row, parser))
    # "15, 10, 2" gives one default per setting; an empty cell means "none" for all.
    cells = row.default.split(",") if row.default else [""] * len(pairs)
    assert len(cells) == len(pairs), f"configuration row {row}: default cell {row.default!r}"
    for (action, _variable), cell in zip(pairs, cells, strict=True):
        default = parser.get_default(action.dest)
        assert default == _expected_default(cell, default), (
            f"{action.option_strings[0]}: the docs say {cell.strip()!r}, parser has {default!r}")


@pytest.mark.parametrize("row", FLAG_ROWS, ids=str)
def test_run_help_names_the_variable_of_each_flag(row: Row) -> None:
    for action, variable in _paired(row, build_parser({})):
        assert f"env {variable}" in (action.help or ""), (
            f"{action.option_strings[0]}: --help does not name {variable}")


def _values(obj: object) -> Iterator[object]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for item in dataclasses.fields(obj):
            yield from _values(getattr(obj, item.name))
    else:
        yield obj


@pytest.mark.parametrize("row", VARIABLE_ONLY_ROWS, ids=str)
def test_a_variable_without_a_flag_reaches_the_settings(row: Row) -> None:
    helps = " ".join(action.help or "" for action in _actions(build_parser({})).values())
    for variable in row.variables:
        settings = parse_settings(REQUIRED_ARGS, {variable: "readme-check-secret"})
        assert "readme-check-secret" in list(_values(settings)), f"{variable} is not read"
        assert f"env {variable}" in helps, f"--help does not name {variable}"


def test_the_table_was_read() -> None:
    """Guards the parser above: an empty table would make every other test vacuous."""
    assert len(FLAG_ROWS) >= 15
    assert VARIABLE_ONLY_ROWS

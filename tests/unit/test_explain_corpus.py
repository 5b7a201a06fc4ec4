"""``zombiewatch explain`` over the corpus of API objects as a v1.37 cluster writes them.

Each file in ``tests/data/corpus/`` (and ``tests/data/node_corpus/``, recorded on the
real node) is judged at each moment its ``cases.yaml`` entry names, through the CLI
exactly as an operator runs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from zombiewatch.app.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
CORPORA = [path for path in (DATA / "corpus", DATA / "node_corpus") if path.is_dir()]


def cases(corpus: Path) -> dict[str, list[dict[str, Any]]]:
    loaded: dict[str, list[dict[str, Any]]] = yaml.safe_load((corpus / "cases.yaml").read_text())
    return loaded


def checks() -> list[Any]:
    out = []
    for corpus in CORPORA:
        for file_name, entries in sorted(cases(corpus).items()):
            for entry in entries:
                out.append(pytest.param(corpus / file_name, entry["now"], entry["expect"],
                                        id=f"{corpus.name}/{file_name}@{entry['now']}"))
    return out


def test_the_hand_written_corpus_is_there() -> None:
    assert DATA / "corpus" in CORPORA
    assert len(cases(DATA / "corpus")) >= 20


@pytest.mark.parametrize("corpus", CORPORA, ids=lambda p: p.name)
def test_every_corpus_file_has_its_cases_and_every_case_its_file(corpus: Path) -> None:
    files = {p.name for p in corpus.glob("*.json")} | {p.name for p in corpus.glob("*.yaml")}
    files.discard("cases.yaml")

    assert files == set(cases(corpus))
    assert all(entries for entries in cases(corpus).values())


@pytest.mark.parametrize(("path", "now", "expected"), checks())
def test_explain_judges_the_corpus_file_as_expected(
    path: Path, now: str, expected: list[list[str | None]], capsys: pytest.CaptureFixture[str]
) -> None:
    # Act
    code = main(["explain", str(path), "--now", now])
    out, err = capsys.readouterr()
    # Assert
    assert (code, err) == (0, "")
    answers = [json.loads(line) for line in out.splitlines()]
    assert [[a["kind"], a["reason"], a["rule"], *([a["evidence"]] if a["evidence"] else [])]
            for a in answers] == expected

"""docs/SPEC.md states contract values; these tests keep them equal to the code's.

The spec is what a reader of the repository trusts for the on-disk and on-wire
contract, so the values it spells out are read from it and compared with the
code that produces them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from zombiewatch.domain.doctrine import failure_section
from zombiewatch.domain.ledger import PROJECT_NAMESPACE_UUID
from zombiewatch.domain.reasons import ZombieReason

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "SPEC.md").read_text("utf-8")


def _section(number: int) -> str:
    return SPEC.split(f"\n## {number}. ", 1)[1].split("\n## ", 1)[0]


def test_the_failure_section_in_the_spec_is_the_one_the_doctrine_writes() -> None:
    # Arrange
    shown = re.search(r"\n    (## Failure\\n.*)\n", _section(2))
    assert shown is not None
    job, reason = "claude-3f2a9c1d-20260602094600", ZombieReason.POD_EVICTED
    # Act
    expected = failure_section(at=datetime(2026, 6, 2, 9, 46, tzinfo=UTC), job_name=job,
                               reason=reason)
    # Assert
    text = shown.group(1).replace("\\n", "\n")
    assert text.replace("<job name>", job).replace("<reason>", reason.value) == expected


def test_the_spec_lists_exactly_the_reasons_of_the_code() -> None:
    listed = set(re.findall(r"`([a-z_]+)`", _section(4)))
    assert listed == {reason.value for reason in ZombieReason}


def test_the_request_id_namespace_in_the_spec_is_the_codes() -> None:
    assert f"`{PROJECT_NAMESPACE_UUID}`" in _section(3)

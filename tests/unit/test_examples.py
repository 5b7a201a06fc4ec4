"""The examples under examples/ that are tests run with the suite."""

from __future__ import annotations

from examples.host_state_machine import TestHostDispatch
from examples.testing_kit import (
    TestTeamDispatch,
    test_the_controller_counts_our_trigger,
    test_the_controller_takes_any_record,
)

__all__ = [
    "TestHostDispatch",
    "TestTeamDispatch",
    "test_the_controller_counts_our_trigger",
    "test_the_controller_takes_any_record",
]

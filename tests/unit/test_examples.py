"""The examples under examples/ that are tests run with the suite."""

from __future__ import annotations

from examples.host_state_machine import TestHostDispatch

__all__ = ["TestHostDispatch"]

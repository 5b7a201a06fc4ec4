"""Whole sequences: our real services (wired by the Container with recording fakes) against
the reference controller, with the doctrine's invariants (see zombiewatch.testing.stateful).

The machine dispatches the way zombiewatch's own library does (the kit's defaults):
``trigger_count += 1``, then the spawn notification, then the Job.
"""

from __future__ import annotations

from zombiewatch.testing.stateful import DispatchMachine

TestDoctrineStateMachine = DispatchMachine.TestCase

"""zombiewatch's test kit, for the project's own tests and for the agent system's.

Installed with the ``testing`` extra (``pip install 'zombiewatch[testing]'``,
which adds Hypothesis); the daemon and the library never import it. Without
the extra, importing it raises an :class:`ImportError` that says so.

The public surface is these six modules (each with its own ``__all__``; a
name is importable from its module only) and docs/TESTING-KIT.md describes it:

- :mod:`~zombiewatch.testing.controller`: a reference controller that does to a
  task file what the agent-task-controller does (``apply_record``,
  ``ReferenceController``): today's controller by default, the v0.3 one with
  ``profile="v0.3"``, each checked against its conformance vectors;
- :mod:`~zombiewatch.testing.stateful`: ``DispatchMachine``, a Hypothesis state
  machine that drives a host's dispatch path (its ``DispatchHooks``) against
  zombiewatch's real services, the doctrine and the reference controller, in
  the host's ``DispatchWorld`` (namespace, assignees, clock start);
- :mod:`~zombiewatch.testing.strategies`: Hypothesis strategies (pods and Jobs in
  every state, Configs, task files and their texts, record values), and
  ``register_strategies`` for ``st.from_type``;
- :mod:`~zombiewatch.testing.raw_api`: raw Kubernetes API JSON builders and strategies;
- :mod:`~zombiewatch.testing.fakes`: recording fakes of the ports (publisher,
  annotator, leader, history, scheduler) and the one test clock;
- :mod:`~zombiewatch.testing.containers`: ``faked_container``, the production
  Container with its I/O providers overridden by those fakes (tests, benchmarks).

The underscore modules (``_yamlv3``, ``_taskfile_text``, ``_envelope``: how the
controller reads and writes a task file's text and decodes a record) are the
reference controller's internals, not for host code.
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401  (the kit's one optional dependency, checked first)
except ImportError as missing:
    raise ImportError(
        "zombiewatch.testing needs Hypothesis, which is not installed: "
        "install zombiewatch[testing] (pip install 'zombiewatch[testing]')",
        name="hypothesis",
    ) from missing

from zombiewatch.testing import containers, controller, fakes, raw_api, stateful, strategies

__all__ = ["containers", "controller", "fakes", "raw_api", "stateful", "strategies"]

"""zombiewatch's test kit, for the project's own tests and for the agent system's.

Installed with the ``testing`` extra (``pip install 'zombiewatch[testing]'``,
which adds Hypothesis); the daemon and the library never import it.

- :mod:`~zombiewatch.testing.controller`: a reference controller that does to a
  task file what the agent-task-controller does (``apply_record``,
  ``ReferenceController``): today's controller by default, the v0.3 one with
  ``profile="v0.3"``, each checked against its conformance vectors;
- :mod:`~zombiewatch.testing.stateful`: ``DispatchMachine``, a Hypothesis state
  machine a host subclasses to drive its own dispatch path against zombiewatch's
  real services, the doctrine and the reference controller;
- :mod:`~zombiewatch.testing.strategies`: Hypothesis strategies (pods and Jobs in
  every state, Configs, task files and their texts, record values);
- :mod:`~zombiewatch.testing.raw_api`: raw Kubernetes API JSON builders and strategies;
- :mod:`~zombiewatch.testing.fakes`: recording fakes of the ports (publisher,
  annotator, leader, history, scheduler) and the one test clock;
- :mod:`~zombiewatch.testing.containers`: ``faked_container``, the production
  Container with its I/O providers overridden by those fakes (tests, benchmarks);
- :mod:`~zombiewatch.testing.yamlv3`, :mod:`~zombiewatch.testing.taskfile_text`,
  :mod:`~zombiewatch.testing.envelope`: how the controller reads and writes a task
  file's text and decodes a record (the edges of the reference controller).
"""

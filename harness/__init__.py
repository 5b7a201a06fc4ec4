"""The real-services harness: the bare kube-apiserver, the real node and Kafka, for the
tests, the demo and the benchmarks alike (it never imports the tests or the scripts, and
the services it starts come from ``zwservices``, which never imports it).

``fixtures`` and ``node_fixtures`` hold the pytest fixtures (imported by
``tests/integration/conftest.py`` only), ``services`` starts/reuses the stack, ``kubelet``
plays the kubelet (and the Job controller) by patching status subresources, ``delivery``
wires zombiewatch's publisher and reporter to the real broker for the Kafka tests (with
producers that fail at a chosen point), ``waiting`` is the one wait-until helper, and
``demo`` is ``make demo``.
"""

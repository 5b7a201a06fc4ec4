"""The real-services harness: the bare kube-apiserver, the real node and Kafka, for the
tests, the demo and the benchmarks alike (it never imports the tests).

``fixtures`` is the pytest plugin, ``services`` starts/reuses the stack, ``kubelet`` plays the
kubelet (and the Job controller) by patching status subresources, ``delivery`` wires
zombiewatch's publisher and reporter to the real broker for the Kafka tests (with producers
that fail at a chosen point).
"""

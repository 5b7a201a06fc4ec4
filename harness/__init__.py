"""The real-services harness: the bare kube-apiserver, the real node and Kafka, for the
tests, the demo and the benchmarks alike (it never imports the tests).

``fixtures`` is the pytest plugin, ``services`` starts/reuses the stack, ``kubelet`` plays the
kubelet (and the Job controller) by patching status subresources.
"""

"""Pytest harness for zombiewatch's integration tests: real kube-apiserver and Kafka.

``fixtures`` is the pytest plugin, ``services`` starts/reuses the stack, ``kubelet`` plays the
kubelet (and the Job controller) by patching status subresources.
"""

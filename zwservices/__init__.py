"""Real kube-apiserver + etcd and Apache Kafka for zombiewatch's tests, demo and benchmarks.

The command (``python -m scripts.services``) and the test harness (``harness``) both use
this package, so a stack started by one can be driven by the other. It depends on neither
(an import-linter layers contract): run from the repository root, where it imports as
``zwservices`` without any path editing.
"""

"""Real kube-apiserver + etcd and Apache Kafka for zombiewatch's tests, demo and benchmarks.

The CLI (``scripts/services/services.py``) and the pytest plugin (``harness``) both use
this package, so a stack started by one can be driven by the other.
"""

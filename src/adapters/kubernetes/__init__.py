"""Kubernetes adapters: translation, informers, leader election, annotation.

Importing this package defers the kubernetes library's package ``__init__``s
(:mod:`~zombiewatch.adapters.kubernetes.lazy`), so the adapters load only the modules of
the library they use.
"""

from zombiewatch.adapters.kubernetes.lazy import DEFERRED, defer_package_init

for _package in DEFERRED:
    defer_package_init(_package)

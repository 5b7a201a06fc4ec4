"""Kubernetes adapters: translation, informers, leader election, annotation."""

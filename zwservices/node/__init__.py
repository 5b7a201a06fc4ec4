"""A real single-node Kubernetes v1.37 in private network and mount namespaces.

See docs/SERVICES.md ("The real node").
"""

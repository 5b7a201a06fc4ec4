"""zombiewatch: detect Kubernetes Jobs that died without reporting and publish failure commands."""

__version__ = "0.1.0"

"""Adapters: translate between the outside world and the domain, and do the I/O."""

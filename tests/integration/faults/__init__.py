"""Fault injection: the real daemon against failing services (docs/RELIABILITY.md)."""

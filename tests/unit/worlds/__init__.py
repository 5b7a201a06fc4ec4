"""Worlds several unit test modules share (a test module never imports another)."""

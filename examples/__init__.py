"""Runnable examples of embedding zombiewatch."""

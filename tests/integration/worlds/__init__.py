"""Stages and scenes several integration test modules share (a test module never imports
another); their fixtures reach the tests through ``tests/integration/conftest.py``."""

"""Shared test configuration.

Hypothesis profiles:

- ``ci`` (loaded when the ``CI`` environment variable is set): derandomized,
  so a CI run explores the same examples every time and a red build is
  reproducible from the log alone; no example database is written (CI clones
  afresh, a database would be thrown away); no deadline, because shared CI
  runners have noisy timings.
- ``dev`` (the default): random exploration with the local example database,
  so failures found once are replayed first on the next run.

Select one explicitly with ``pytest --hypothesis-profile=<name>``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

#!/usr/bin/env python3
"""Real kube-apiserver + etcd and Apache Kafka for zombiewatch: prepare | up | down | status.

A thin CLI over the importable ``scripts.services.zwservices`` package (also used by the
pytest plugin in ``harness``). See docs/SERVICES.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.services.zwservices.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Real kube-apiserver + etcd and Apache Kafka for zombiewatch: prepare | up | down | status.

``python -m scripts.services <command>`` from the repository root: a thin command over the
importable ``zwservices`` package (also used by the test harness). See docs/SERVICES.md.
"""

from __future__ import annotations

import sys

from zwservices.cli import main

if __name__ == "__main__":
    sys.exit(main())

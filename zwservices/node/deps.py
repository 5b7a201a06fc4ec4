"""Debian packages the node needs, installed only when missing (``/etc/apt`` is never touched).

``apt.ensure`` does the installing (it waits for another apt's locks instead of failing).
"""

from __future__ import annotations

from zwservices import apt

PACKAGES = ("containerd", "runc", "containernetworking-plugins", "busybox-static", "gcc",
            "openssl", "iproute2", "util-linux")


def ensure() -> list[str]:
    """Install what dpkg does not list; ``apt-get update`` runs only if something is missing."""
    return apt.ensure(PACKAGES)

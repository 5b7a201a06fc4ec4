"""zombiewatch: detect Kubernetes Jobs that died without reporting and publish failure commands.

What a host needs is importable from here: ``from zombiewatch import ZombieWatch, Settings``
(the embedding API and its settings) and the errors it raises
(:class:`ZombieWatchError` and its subclasses). They are loaded on first use
(PEP 562), so ``import zombiewatch.domain`` alone does not import the app, the
Kubernetes client or aiokafka.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from zombiewatch.app.errors import (
        NotStartedError,
        PublishFailedError,
        StartFailedError,
        ZombieWatchError,
    )
    from zombiewatch.app.library import ZombieWatch
    from zombiewatch.app.settings import Settings

_LAZY = {
    "ZombieWatch": "zombiewatch.app.library",
    "Settings": "zombiewatch.app.settings",
    "ZombieWatchError": "zombiewatch.app.errors",
    "StartFailedError": "zombiewatch.app.errors",
    "NotStartedError": "zombiewatch.app.errors",
    "PublishFailedError": "zombiewatch.app.errors",
}

__all__ = [
    "NotStartedError",
    "PublishFailedError",
    "Settings",
    "StartFailedError",
    "ZombieWatch",
    "ZombieWatchError",
    "__version__",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zombiewatch' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

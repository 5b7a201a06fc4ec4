"""Importing parts of the kubernetes client library without the package ``__init__``s that
import all of it.

Why: Python executes a package's ``__init__`` before any module inside it, and the
library's ``kubernetes/__init__.py`` imports every part of it (the dynamic client, watch,
stream with websocket-client, utils with its YAML creator and metrics, leader election,
the informer), as ``kubernetes/utils/__init__.py`` and ``kubernetes/config/__init__.py``
import all of theirs. The adapters use the client's ``ApiClient``, ``Configuration`` and
exceptions (whose REST layer needs ``kubernetes.utils.retry`` and ``.keepalive``) and the
two credential loaders of ``kubernetes.config``; the rest only costs start-up time and
memory (docs/PERFORMANCE.md, "Fixed cost").

:func:`defer_package_init` puts such a package into ``sys.modules`` as the very module object
the import system would make (from the package's own spec, so its ``__path__`` finds its
submodules), without executing it; the real ``__init__`` is executed into that object the
first time anyone reads an attribute it lacks (a module ``__getattr__``, PEP 562). So
``from kubernetes.client.configuration import Configuration`` loads that module and what it
imports, while ``import kubernetes; kubernetes.watch`` or ``from kubernetes import utils``
later in the same process (the tests, a host embedding the library) still sees the whole
package, its ``__init__`` run once, as before. A package already imported is left alone.

A submodule imported by its dotted name becomes an attribute of the package before the
``__init__`` runs; the library's ``__init__``s only import those same submodules, so nothing
they define differs.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from typing import Final

DEFERRED: Final = ("kubernetes", "kubernetes.config", "kubernetes.utils")
"""The library's packages whose ``__init__`` imports modules the adapters never use."""

_lock = threading.RLock()
"""Held while a deferred ``__init__`` runs: another thread reading an attribute waits for it
as it would for a module being imported (re-entrant: one ``__init__`` imports another)."""


def defer_package_init(name: str) -> types.ModuleType:
    """``sys.modules[name]``: the package, its ``__init__`` deferred unless already imported.

    A subpackage's parent must be importable (or deferred first: :data:`DEFERRED` is in
    that order). Raises ``ImportError`` when ``name`` is not a package.
    """
    with _lock:
        present = sys.modules.get(name)
        if present is not None:
            return present
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            raise ImportError(f"{name} is not an importable package")
        module = importlib.util.module_from_spec(spec)
        loader = spec.loader

        def __getattr__(attribute: str) -> object:  # noqa: N807 - PEP 562's name
            _run_init(module, __getattr__, loader)
            return getattr(module, attribute)

        vars(module)["__getattr__"] = __getattr__
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
        return module


def is_deferred(module: types.ModuleType) -> bool:
    """Whether ``module``'s ``__init__`` is still waiting to run."""
    hook = vars(module).get("__getattr__")
    return hook is not None and getattr(hook, "__qualname__", "").startswith(
        f"{defer_package_init.__name__}.")


def _run_init(module: types.ModuleType, hook: object,
              loader: importlib.abc.Loader) -> None:
    """Execute the package's real ``__init__`` into ``module`` (once; a failure removes the
    half-made package from ``sys.modules``, as a failed import does)."""
    with _lock:
        if vars(module).get("__getattr__") is not hook:
            return  # run already (by another thread, or by this one re-entering)
        del vars(module)["__getattr__"]
        try:
            loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module.__name__, None)
            raise

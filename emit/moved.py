"""Old module paths, kept working: `import emit.handlers` and the like give the module at its new
home (the same module object, not a copy), with a `DeprecationWarning` saying where that is.

Installed by `import emit`. Names imported from the package itself (`from emit import ...`)
never moved; these are for code that imported a module of emit directly.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

# The redesign of 2026-12 (docs/changes.md): old module -> where it lives now.
MOVED = {
    "emit.handlers": "emit.observers",
    "emit.checkpoints": "emit.subscribers.checkpoints",
    "emit.dead_letters": "emit.subscribers.dead_letters",
    "emit.policies": "emit.subscribers.policies",
    "emit.projections": "emit.subscribers.projections",
    "emit.runner_locks": "emit.subscribers.locks",
    "emit.sqlite_lock": "emit.sql.sqlite_lock",
    "emit.postgres": "emit.sql.postgres",
    "emit.failures": "emit.sql.errors",
}


class _MovedModules(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias())


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module at its new home. The import system stamps its own
    attributes on what `create_module` returns; `exec_module` gives the module its own back."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} is deprecated: it moved to {new}.", DeprecationWarning, stacklevel=2
        )
        module = importlib.import_module(new)
        self._own = {name: getattr(module, name) for name in ("__spec__", "__loader__")}
        return module

    def exec_module(self, module: ModuleType) -> None:
        for name, value in self._own.items():
            setattr(module, name, value)


def install() -> None:
    """Put the finder on `sys.meta_path`, once."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())

"""Every module path and name the redesign moved still imports, as the same object, and says
where it went (a DeprecationWarning), so code written against the old layout keeps running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emit.moved import MOVED

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter: here the new modules are imported already, and an old name
# must work the first time it is imported, before its new home.
SCRIPT = """
import importlib, sys, warnings
old, new = sys.argv[1], sys.argv[2]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    module = importlib.import_module(old)
assert module is importlib.import_module(new), (module, new)
assert module.__spec__.name == new and module.__name__ == new
assert sys.modules[old] is module
said = [str(w.message) for w in caught if w.category is DeprecationWarning]
assert any(old in text and new in text for text in said), said
"""


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()), ids=sorted(MOVED))
def test_an_old_module_path_imports_the_module_at_its_new_home(old: str, new: str) -> None:
    subprocess.run([sys.executable, "-c", SCRIPT, old, new], cwd=ROOT, check=True)


def test_old_names_imported_from_their_old_modules_still_work() -> None:
    script = """
import warnings
warnings.simplefilter("ignore", DeprecationWarning)
from emit.handlers import Handler, LoggingHandler
from emit.projections import Projection, Projections
from emit.subscribers import Subscribers, SubscriberStatus
from emit.failures import StorageErrorKind, classify
from emit.emit import CommandResult, Emit, check_aggregate_id, fingerprint
from emit.sql import events, streams, metadata, SqlEventStore
import emit
assert Handler is emit.Observer and LoggingHandler is emit.LoggingObserver
assert fingerprint is emit.fingerprint and StorageErrorKind is emit.StorageErrorKind
"""
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)


def test_an_unknown_module_of_emit_is_still_an_import_error() -> None:
    with pytest.raises(ModuleNotFoundError):
        __import__("emit.no_such_module")

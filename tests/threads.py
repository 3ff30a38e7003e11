"""Threads in tests: start them all, then wait for them all."""

from __future__ import annotations

import threading
from collections.abc import Sequence


def start_and_join(threads: Sequence[threading.Thread]) -> None:
    """Start every thread before joining any, so that they run at once; return when all ended."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

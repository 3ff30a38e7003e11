"""Where the rate limits count when `RATELIMIT_STORAGE_URI` is `memory://`: this process's memory,
as with limits' own `MemoryStorage`, without its timer threads.

limits' `MemoryStorage` forgets old counts from a `threading.Timer` that it starts again, 10 ms
later, whenever the last one has ended: under load a new thread for nearly every request, and
`Thread.start` waits until the new thread has been scheduled. In W4 (bench/http.py) that wait was
about a tenth of a request's time. Here the same forgetting runs inside a count at most once a
second. Nothing else changes: whether a request is within its limit never depended on the
forgetting (each check looks at the times it keeps), which only bounds the memory old clients use.
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import MemoryStorage

SCHEME = "emit-memory"  # registered by defining the class; `limits.init_app` maps memory:// here

FORGET_EVERY = 1.0  # seconds between two passes over the counts


class MemoryCounts(MemoryStorage):
    """`MemoryStorage` that forgets expired counts on the way, at most every `FORGET_EVERY`."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012  (limits declares it so)

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the one `MemoryStorage.__init__` starts; no other is
        self._forget_at = time.monotonic() + FORGET_EVERY

    # `MemoryStorage` calls this private method before every count; limits is pinned in
    # constraints.txt, and tests/web/test_limit_counts.py fails if a new version starts threads.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._forget_at:
            self._forget_at = now + FORGET_EVERY
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]

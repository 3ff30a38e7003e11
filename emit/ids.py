"""Random ids for events and commands: version 4 UUIDs, drawn from the OS in bulk.

`uuid.uuid4()` asks the kernel for 16 random bytes on every call. That system call, and the
release and re-acquisition of the GIL around it, cost more than the rest of building an event;
with many threads sending commands at once they made up a tenth of the time. Here each thread
takes its bytes from a buffer of its own, refilled from `os.urandom` every 256 ids: the same
randomness, one system call instead of 256. A forked child never reuses its parent's buffer.
"""

from __future__ import annotations

import os
import threading
from uuid import UUID

_BATCH = 256
_VERSION_4 = 0x4000 << 64  # the version nibble, in the 128-bit integer
_VARIANT = 0x8000000000000000  # the RFC 4122 variant bits
_KEEP = ~((0xF000 << 64) | (0xC000000000000000))


class _Buffer(threading.local):
    def __init__(self) -> None:
        self.numbers: list[int] = []


_buffer = _Buffer()


def new_id() -> UUID:
    """A new random (version 4) UUID."""
    numbers = _buffer.numbers
    if not numbers:
        raw = os.urandom(16 * _BATCH)
        numbers.extend(
            (int.from_bytes(raw[i : i + 16], "big") & _KEEP) | _VERSION_4 | _VARIANT
            for i in range(0, len(raw), 16)
        )
    return UUID(int=numbers.pop())


def _forget_buffers() -> None:
    global _buffer
    _buffer = _Buffer()


os.register_at_fork(after_in_child=_forget_buffers)

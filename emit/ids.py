"""Ids: the names callers give aggregates (and idempotency keys, and subscribers), checked in
one place; random ids for events, version 4 UUIDs drawn from the OS in bulk; and ids for
commands that grow with time (version 7 UUIDs), because they are indexed.

`uuid.uuid4()` asks the kernel for 16 random bytes on every call. That system call, and the
release and re-acquisition of the GIL around it, cost more than the rest of building an event;
with many threads sending commands at once they made up a tenth of the time. Here each thread
takes its bytes from a buffer of its own, refilled from `os.urandom` every 256 ids: the same
randomness, one system call instead of 256. A forked child never reuses its parent's buffer.
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from uuid import UUID

from emit.errors import InvalidAggregateId

# The longest aggregate id, idempotency key or subscriber name: the store's columns hold this many.
MAX_ID_LENGTH = 200


def check_aggregate_id(aggregate_id: object) -> str:
    """Return the id if it can name an aggregate, else raise `InvalidAggregateId`."""
    if not isinstance(aggregate_id, str):
        raise InvalidAggregateId(aggregate_id, "it must be a string")
    if not aggregate_id or aggregate_id.strip() != aggregate_id:
        raise InvalidAggregateId(aggregate_id, "it must be non-empty, without surrounding spaces")
    if len(aggregate_id) > MAX_ID_LENGTH:
        raise InvalidAggregateId(aggregate_id, f"it is longer than {MAX_ID_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in aggregate_id):
        raise InvalidAggregateId(aggregate_id, "it contains control or unprintable characters")
    return aggregate_id


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


_VERSION_7 = 0x7000 << 64


def new_command_id() -> UUID:
    """A new version 7 UUID: the time in milliseconds in its first 48 bits, then random bits.

    A command's id is its events' correlation id (unless the caller sets one), which the SQL
    store indexes (`emit_events_correlation`). Random ids would land on a random page of that
    index at every commit, one more page written per fsync; ids that grow with time land on
    its last page, as positions do. Unique as version 4 ids are: 74 random bits per
    millisecond.
    """
    random = new_id().int & ((1 << 76) - 1)  # the random bits below the timestamp
    stamp = time.time_ns() // 1_000_000
    return UUID(int=(stamp << 80) | (random & _KEEP) | _VERSION_7 | _VARIANT)


def _forget_buffers() -> None:
    global _buffer
    _buffer = _Buffer()


os.register_at_fork(after_in_child=_forget_buffers)

"""The pool of live aggregates: recently used state kept in memory, bounded in size.

The pool is a cache, never the truth: every append is checked against the store's version, so a
stale entry costs a retry, not a lost or duplicated event.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from emit.recorded import Aggregate

S = TypeVar("S")


@dataclass(eq=False, slots=True)
class LiveAggregate(Generic[S]):
    """A pool entry. `current` is swapped whole, so readers never see a version from one
    command with the state from another; `lock` serialises commands on this aggregate.
    `users` counts the commands that took the entry to work on it (changed under the pool's
    lock): the pool never lets go of an entry in use, and an eviction asked for meanwhile
    (`evict_reason`) happens when the last of them is done."""

    current: Aggregate[S]
    # A lock exists only while commands have the entry taken: made by the pool when the first
    # takes it, dropped when the last is done (nobody holds or waits on it then). An idle
    # entry, most of the pool, so costs no lock (88 bytes each in CPython 3.11).
    _lock: threading.Lock | None = field(default=None, init=False, repr=False)
    last_used: float = 0.0
    hits: int = 0
    users: int = 0
    evict_reason: str | None = None

    @property
    def id(self) -> str:
        return self.current.id

    @property
    def lock(self) -> threading.Lock:
        """The lock that serialises commands on this aggregate; only an entry taken from the
        pool for a command (`use=True`), until it is `done`, has one."""
        lock = self._lock
        if lock is None:
            raise RuntimeError(f"The live entry of {self.id!r} was not taken for a command.")
        return lock

    def _take(self, use: bool) -> None:
        """One more command works on the entry (if `use`); under the pool's lock."""
        if use:
            if not self.users:
                self._lock = threading.Lock()
            self.users += 1


EvictionCallback = Callable[[LiveAggregate[Any], str], None]


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """One live aggregate as the pool sees it: for an operator, not for deciding anything."""

    aggregate_id: str
    version: int
    hits: int  # times it was found in the pool
    last_used_at: datetime
    idle_seconds: float


class AggregatePool(Generic[S]):
    """At most `size` live aggregates; the least recently used one goes first.

    Both commands and reads count as use. With `idle_expiry` (seconds), an entry not used for
    that long is dropped too. An entry a command has taken (`get(..., use=True)`) is never
    evicted until the command is `done`: the pool may hold more than `size` entries while more
    commands than that run. `on_evict(entry, reason)` is called, outside the pool's lock, for
    every entry the pool lets go; reason is "capacity", "idle", "discarded" (after a failure)
    or whatever `discard` was given.
    """

    def __init__(
        self,
        size: int,
        *,
        idle_expiry: float | None = None,
        on_evict: EvictionCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1:
            raise ValueError(f"pool_size must be at least 1, not {size}.")
        if idle_expiry is not None and idle_expiry <= 0:
            raise ValueError(f"idle_expiry must be positive seconds, not {idle_expiry}.")
        self.size = size
        self.idle_expiry = idle_expiry
        self.on_evict = on_evict
        self._clock = clock
        self._entries: OrderedDict[str, LiveAggregate[S]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, aggregate_id: str, *, use: bool = False) -> LiveAggregate[S] | None:
        """The live entry, marked as just used; None on a miss. With `use`, the entry is also
        taken for a command, and stays in the pool until `done` is called with it."""
        now = self._clock()
        with self._lock:
            expired = self._expire_locked(now)
            entry = self._entries.get(aggregate_id)
            if entry is None:
                self.misses += 1
            else:
                self._entries.move_to_end(aggregate_id)
                entry.last_used = now
                entry.hits += 1
                entry._take(use)
                self.hits += 1
        self._notify(expired, "idle")
        return entry

    def add(self, entry: LiveAggregate[S], *, use: bool = False) -> LiveAggregate[S]:
        """Put a freshly loaded entry in the pool and return the entry to use: if another
        thread loaded the same aggregate meanwhile, the one already there wins. `use` as for
        `get`."""
        now = self._clock()
        with self._lock:
            expired = self._expire_locked(now)
            evicted: list[LiveAggregate[S]] = []
            existing = self._entries.get(entry.id)
            if existing is not None:
                self._entries.move_to_end(entry.id)
                existing.last_used = now
                entry = existing
            else:
                entry.last_used = now
                self._entries[entry.id] = entry
                while len(self._entries) > self.size:
                    victim = self._least_recent_idle(but=entry.id)
                    if victim is None:  # all busy: over size until their commands end
                        break
                    evicted.append(self._entries.pop(victim))
                self.evictions += len(evicted)
            entry._take(use)
        self._notify(expired, "idle")
        self._notify(evicted, "capacity")
        return entry

    def done(self, entry: LiveAggregate[S]) -> None:
        """A command is done with an entry it took with `use`; an eviction asked for while it
        worked happens now, if no other command is using the entry."""
        with self._lock:
            entry.users -= 1
            if not entry.users:
                entry._lock = None
            reason = entry.evict_reason
            evicted = reason is not None and not entry.users and self._pop_locked(entry)
        if evicted:
            self._notify([entry], reason or "")

    def discard(self, aggregate_id: str, reason: str = "discarded") -> bool:
        """Drop an entry now, even one in use (after a failure, by the command that failed);
        True if it was there."""
        with self._lock:
            entry = self._entries.pop(aggregate_id, None)
            if entry is not None:
                self.evictions += 1
        self._notify([entry] if entry is not None else [], reason)
        return entry is not None

    def evict(self, aggregate_id: str, reason: str = "requested") -> bool:
        """Let an entry go: now if no command is using it, else when the last one is done.
        Never waits. True if it was in the pool."""
        with self._lock:
            entry = self._entries.get(aggregate_id)
            if entry is None:
                return False
            if entry.users:
                entry.evict_reason = reason
                return True
            self._pop_locked(entry)
        self._notify([entry], reason)
        return True

    def _pop_locked(self, entry: LiveAggregate[S]) -> bool:
        if self._entries.get(entry.id) is not entry:
            return False
        del self._entries[entry.id]
        self.evictions += 1
        return True

    def holds(self, entry: LiveAggregate[S]) -> bool:
        """True while `entry` is the pool's entry for its aggregate."""
        with self._lock:
            return self._entries.get(entry.id) is entry

    def expire_idle(self) -> int:
        """Drop the entries idle for longer than `idle_expiry` now; the number dropped."""
        with self._lock:
            expired = self._expire_locked(self._clock())
        self._notify(expired, "idle")
        return len(expired)

    def entries(self) -> list[LiveAggregate[S]]:
        """The live entries, least recently used first."""
        with self._lock:
            return list(self._entries.values())

    def describe(self, limit: int | None = None) -> list[PoolEntry]:
        """What is in the pool, most recently used first (the first `limit`), with the
        wall-clock time of each one's last use."""
        with self._lock:
            recent = reversed(self._entries.values())
            entries = [(e.current, e.hits, e.last_used) for e in itertools.islice(recent, limit)]
            now = self._clock()
        wall = time.time()
        return [
            PoolEntry(
                aggregate.id,
                aggregate.version,
                hits,
                datetime.fromtimestamp(wall - (now - last_used), UTC),
                max(0.0, now - last_used),
            )
            for aggregate, hits, last_used in entries
        ]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, aggregate_id: object) -> bool:
        return aggregate_id in self._entries

    def _expire_locked(self, now: float) -> list[LiveAggregate[S]]:
        if self.idle_expiry is None:
            return []
        deadline = now - self.idle_expiry
        # Entries are kept in order of use, so the idle ones are all at the front.
        idle = []
        for aggregate_id, entry in self._entries.items():
            if entry.last_used > deadline:
                break
            if not entry.users:  # one taking a long command is not idle
                idle.append(aggregate_id)
        expired = [self._entries.pop(aggregate_id) for aggregate_id in idle]
        self.evictions += len(expired)
        return expired

    def _least_recent_idle(self, *, but: str) -> str | None:
        """The least recently used entry that no command uses (other than `but`)."""
        for aggregate_id, entry in self._entries.items():
            if aggregate_id != but and not entry.users:
                return aggregate_id
        return None

    def _notify(self, entries: list[LiveAggregate[S]], reason: str) -> None:
        if self.on_evict is not None:
            for entry in entries:
                self.on_evict(entry, reason)

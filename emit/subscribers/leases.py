"""Leases: which policies one runner may process now, and where it is with each.

A policy's lease is its checkpoint row's `owner` and `lease_expires` (checkpoints.py): a
runner processes a policy only while it holds the lease, and renews it well before it expires.
Beside each lease the runner holds a lock that ends with its process (emit/subscribers/locks.py),
so that a crashed runner's policies are taken over at once rather than after `ttl` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from emit.clock import now
from emit.sql import storage_errors
from emit.subscribers.checkpoints import Checkpoint, Checkpoints
from emit.subscribers.locks import RunnerLocks

log = logging.getLogger("emit.subscribers")


class Cursor:
    """Where a runner is with a policy whose lease it holds: its position, the failed attempts
    on the next event and when (`time.monotonic()`) to try it again (0: now)."""

    __slots__ = ("attempts", "position", "retry_at")

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.position = checkpoint.position
        self.attempts = checkpoint.attempts
        wait = 0.0
        if checkpoint.retry_at is not None:
            wait = max(0.0, (checkpoint.retry_at - now()).total_seconds())
        self.retry_at = time.monotonic() + wait if checkpoint.attempts else 0.0


class Leases:
    """The leases one runner (`owner`) holds, each for `ttl` seconds; thread safe (the run loop
    and the heartbeat share them). Methods raise `StorageError` when the database fails."""

    def __init__(self, checkpoints: Checkpoints, owner: str, ttl: float) -> None:
        self.owner = owner
        self.ttl = ttl
        self._checkpoints = checkpoints
        self._locks = RunnerLocks(checkpoints.engine)
        self._held: dict[str, Cursor] = {}
        self._guard = threading.Lock()

    @property
    def names(self) -> list[str]:
        """The policies whose leases this runner holds now."""
        with self._guard:
            return list(self._held)

    def held(self) -> list[tuple[str, Cursor]]:
        """The policies held now, with where the runner is with each."""
        with self._guard:
            return list(self._held.items())

    def acquire(self, names: Iterable[str]) -> None:
        """Renew the leases held, and try for those of `names` that are not."""
        self.renew()
        for name in names:
            # Holding the lock means no live runner works on the policy: the lease is ours to
            # take. Without it (a frozen holder still has it), the lease is taken once expired.
            locked = self._locks.try_lock(name)
            if name in self._held:
                continue
            checkpoint = self._checkpoints.acquire(
                name, self.owner, self.ttl, holder_alive=None if locked is None else not locked
            )
            if checkpoint is not None:
                with self._guard:
                    self._held[name] = Cursor(checkpoint)
                log.info("lease taken policy=%s owner=%s", name, self.owner)

    def renew(self) -> None:
        """Extend the leases held; drop those another runner took meanwhile."""
        names = self.names
        kept = self._checkpoints.renew(names, self.owner, self.ttl)
        for name in names:
            if name not in kept:
                self.lost(name)

    def lost(self, name: str) -> None:
        """Forget policy `name`: its lease is another runner's now."""
        with self._guard:
            dropped = self._held.pop(name, None)
        self._locks.unlock(name)
        if dropped is not None:
            log.warning("lease lost policy=%s owner=%s", name, self.owner)

    def release_all(self) -> None:
        """Give every lease up, so that another runner can start at once."""
        with self._guard:
            names = list(self._held)
            self._held.clear()
        # The locks first: a runner that gets one meanwhile takes the lease over at once, while
        # one that saw the lease free but the lock held waits for its next try.
        self._locks.close()
        with storage_errors("give the policies' leases up"):
            self._checkpoints.release(names, self.owner)

"""Delivering events to one policy: each wanted event is handled and the policy's checkpoint
moved past it in one transaction; a failure is retried after a backoff, then parked as a dead
letter. The runner (runner.py) decides when and which policy; this says how."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from emit.clock import now
from emit.recorded import RecordedEvent
from emit.sql import write_connection
from emit.store import StoredEvent, TransactionalStore
from emit.subscribers.checkpoints import Checkpoints, LeaseLost
from emit.subscribers.dead_letters import DeadLetters
from emit.subscribers.leases import Cursor, Leases
from emit.subscribers.policies import Policy, describe_error

log = logging.getLogger("emit.subscribers")


class Delivery:
    """Feeds the events of `store`'s log to the policies whose leases `leases` holds,
    `batch_size` at a time, until `stopping` is set. Counts what it did in `handled` (events
    handled or parked) and `failures` (failed attempts)."""

    def __init__(
        self,
        store: TransactionalStore,
        decode: Callable[[StoredEvent], RecordedEvent[Any]],
        checkpoints: Checkpoints,
        dead_letters: DeadLetters,
        leases: Leases,
        *,
        batch_size: int,
        stopping: threading.Event,
    ) -> None:
        self._store = store
        self._decode = decode
        self._checkpoints = checkpoints
        self._dead_letters = dead_letters
        self._leases = leases
        self.batch_size = batch_size
        self._stopping = stopping
        self.handled = 0
        self.failures = 0

    def step(self, policy: Policy[Any], cursor: Cursor) -> bool:
        """Feed the policy a batch of events; True if there may be more right away."""
        batch = self._store.read_all(after=cursor.position, limit=self.batch_size)
        passed_over = 0
        for stored in batch:
            if self._stopping.is_set():
                return False
            if not policy.wants(stored.type):
                passed_over = stored.position
                continue
            passed_over = 0
            if not self._deliver(policy, cursor, stored):
                return False
        if passed_over:
            self._move(policy, cursor, passed_over)
        return len(batch) == self.batch_size

    def _deliver(self, policy: Policy[Any], cursor: Cursor, stored: StoredEvent) -> bool:
        """Handle one event and move the checkpoint past it, in one transaction; False if it
        failed and waits for a retry (or the lease is gone)."""
        try:
            event = self._decode(stored)
            with write_connection(self._store.engine) as connection:
                policy.handle(connection, event)
                self._checkpoints.advance(
                    connection, policy.name, self._leases.owner, cursor.position, stored.position
                )
                connection.commit()
        except LeaseLost:
            self._leases.lost(policy.name)
            return False
        except Exception as error:
            return self._failed(policy, cursor, stored, error)
        self._moved(cursor, stored.position)
        log.debug("policy handled policy=%s position=%d", policy.name, stored.position)
        return True

    def _failed(
        self, policy: Policy[Any], cursor: Cursor, stored: StoredEvent, error: Exception
    ) -> bool:
        self.failures += 1
        attempts = cursor.attempts + 1
        text = describe_error(error)
        try:
            with write_connection(self._store.engine) as connection:
                if attempts >= policy.max_attempts:
                    self._dead_letters.park(
                        connection,
                        policy.name,
                        stored,
                        error=text,
                        traceback="".join(traceback.format_exception(error)),
                        attempts=attempts,
                    )
                    self._checkpoints.advance(
                        connection,
                        policy.name,
                        self._leases.owner,
                        cursor.position,
                        stored.position,
                    )
                else:
                    delay = policy.backoff.delay(attempts)
                    self._checkpoints.record_failure(
                        connection,
                        policy.name,
                        self._leases.owner,
                        cursor.position,
                        attempts=attempts,
                        error=text,
                        retry_at=now() + timedelta(seconds=delay),
                    )
                connection.commit()
        except LeaseLost:
            self._leases.lost(policy.name)
            return False
        if attempts >= policy.max_attempts:
            log.error(
                "policy parked a dead letter policy=%s position=%d attempts=%d error=%r",
                policy.name,
                stored.position,
                attempts,
                text,
            )
            self._moved(cursor, stored.position)
            return True
        log.warning(
            "policy failed policy=%s position=%d attempt=%d retry_in=%.3fs error=%r",
            policy.name,
            stored.position,
            attempts,
            delay,
            text,
        )
        cursor.attempts = attempts
        cursor.retry_at = time.monotonic() + delay
        return False

    def _move(self, policy: Policy[Any], cursor: Cursor, position: int) -> None:
        """Move past events the policy does not want."""
        try:
            with write_connection(self._store.engine) as connection:
                self._checkpoints.advance(
                    connection, policy.name, self._leases.owner, cursor.position, position
                )
                connection.commit()
        except LeaseLost:
            self._leases.lost(policy.name)
            return
        cursor.position = position

    def _moved(self, cursor: Cursor, position: int) -> None:
        cursor.position = position
        cursor.attempts = 0
        cursor.retry_at = 0.0
        self.handled += 1

"""Subscribers: the runner that feeds committed events to policies, and the operator's view.

`Subscribers(emit, policies)` runs each policy (emit/policies.py) over the global log from its
checkpoint (emit/checkpoints.py), in a background thread (`start`/`stop`) or in the caller's
thread (`catch_up`). It wakes as soon as its `Emit` appends an event one of its policies wants
and polls the database otherwise, to see what other processes append (and to move past events
no policy wants: waking, reading and writing a checkpoint for each of those would cost more than
the append itself).

Guarantees, each tested in tests/test_subscribers.py:

- **In order, at least once.** A policy sees every event in position order. Its checkpoint
  moves only after `handle` returned, in the transaction of the writes `handle` made through
  its connection: those writes happen exactly once, whatever crashes; effects outside the
  database happen at least once.
- **Retries, then dead letters.** A failing event is retried after `policy.backoff`, up to
  `policy.max_attempts` tries; then it is parked as a dead letter (policy, position, error,
  traceback, attempts, time) in the same transaction as the checkpoint's move past it, and the
  policy goes on with the next event. Other policies are not held up meanwhile.
- **One runner per policy.** A runner processes a policy only while it holds the policy's
  lease (a row in the database, on SQLite and PostgreSQL alike), renewed by a heartbeat thread.
  It also holds a lock per policy that the database or the kernel lets go of when its process
  dies (emit/runner_locks.py): another runner that gets that lock takes the lease over at once,
  within a poll, where the checkpoint is. A runner that is alive but stopped renewing (frozen)
  keeps its lock, and loses the lease after `lease_ttl` seconds; when it wakes it cannot commit:
  every checkpoint move is fenced by the lease's owner, so its effects roll back.

Why lease rows rather than PostgreSQL advisory locks: one mechanism for both databases, which
the operator can see (who holds what, until when), that works through connection poolers in
transaction mode, and whose fencing protects the effects even when a lease is lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emit.checkpoints import POLICY, PROJECTION, Checkpoint, Checkpoints, LeaseLost, now
from emit.dead_letters import DeadLetter, DeadLetters
from emit.emit import Emit
from emit.errors import (
    DeadLetterBusy,
    PolicyFailed,
    StorageError,
    StorageErrorKind,
    UnknownSubscriber,
)
from emit.handlers import Handler
from emit.policies import Policy, describe_error
from emit.recorded import RecordedEvent
from emit.runner_locks import RunnerLocks
from emit.sql import (
    SqlEventStore,
    classify,
    create_schema,
    is_driver_error,
    storage_errors,
    write_connection,
)
from emit.store import StoredEvent

log = logging.getLogger("emit.subscribers")


@dataclass(frozen=True, slots=True)
class SubscriberStatus:
    """A projection's or policy's state, as the database has it, for an operator.

    `state` is "up to date", "catching up", "retrying" (its next event failed; see `attempts`,
    `last_error`, `retry_at`) or "stopped" (no runner holds its lease) for a policy, and
    "up to date" or "behind" for a projection (behind: another process appended without it;
    the next append here fills the gap).
    """

    name: str
    kind: str
    position: int
    head: int
    lag: int
    state: str
    attempts: int
    last_error: str | None
    retry_at: datetime | None
    owner: str | None
    dead_letters: int
    updated_at: datetime


class _Cursor:
    """Where a runner is with a policy whose lease it holds."""

    __slots__ = ("attempts", "position", "retry_at")

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.position = checkpoint.position
        self.attempts = checkpoint.attempts
        wait = 0.0
        if checkpoint.retry_at is not None:
            wait = max(0.0, (checkpoint.retry_at - now()).total_seconds())
        self.retry_at = time.monotonic() + wait if checkpoint.attempts else 0.0


class _Waker(Handler):
    """Wakes the runner when its `Emit` appends an event that one of `policies` wants."""

    def __init__(self, wake: threading.Event, policies: Sequence[Policy[Any]]) -> None:
        self._wake = wake
        self._policies = policies

    def events_appended(self, events: Sequence[RecordedEvent[Any]]) -> None:
        if any(policy.wants(event.type) for event in events for policy in self._policies):
            self._wake.set()


class Subscribers:
    """Runs `policies` over `emit`'s store, and shows and repairs what they did.

    `batch_size` events are read at a time; `poll_interval` seconds is the longest the runner
    sleeps before looking for events appended by other processes; `lease_ttl` seconds is how
    long a policy stays locked to a runner that stopped renewing (crashed or frozen). `owner`
    names this runner in leases (default: host, process id and a random suffix).

    Needs a `SqlEventStore`: checkpoints and dead letters live next to the events. Making it
    does no I/O; `install`, `start` or `catch_up` create what the policies need.
    """

    def __init__(
        self,
        emit: Emit[Any, Any, Any],
        policies: Sequence[Policy[Any]],
        *,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        lease_ttl: float = 30.0,
        owner: str | None = None,
    ) -> None:
        if not isinstance(emit.store, SqlEventStore):
            raise TypeError(
                "Subscribers keep checkpoints and dead letters next to the events, so they "
                f"need a SqlEventStore, not {type(emit.store).__name__}."
            )
        if batch_size < 1 or poll_interval <= 0 or lease_ttl <= 0:
            raise ValueError("batch_size, poll_interval and lease_ttl must be positive.")
        names = [p.name for p in policies]
        taken = sorted({n for n in names if names.count(n) > 1 or n in emit.projections.names})
        if taken:
            raise ValueError(f"Policy names must be unique, projections' included: {taken}.")
        self.emit = emit
        self.store: SqlEventStore = emit.store
        self.policies = tuple(policies)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease_ttl = lease_ttl
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._checkpoints = Checkpoints(self.store.engine)
        self._dead_letters = DeadLetters(self.store.engine)
        self._locks = RunnerLocks(self.store.engine)
        self.handled = 0  # events handled or parked by this runner
        self.failures = 0  # failed attempts seen by this runner
        self._held: dict[str, _Cursor] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._waker = _Waker(self._wake, self.policies)
        self._threads: list[threading.Thread] = []
        self._next_acquire = 0.0
        self._installed = False

    def install(self) -> None:
        """Create the policies' tables and checkpoints where they are missing. Idempotent;
        `start` (in its thread) and `catch_up` do it first, so making `Subscribers` does no
        I/O. Raises `ValueError` if a policy's name is a projection's in the database,
        `StorageError`."""
        if self._installed:
            return
        create_schema(self.store.engine, tables=[t for p in self.policies for t in p.tables])
        with storage_errors("install the subscribers"):
            self._checkpoints.ensure_all(POLICY, self.names)
            clash = [c.name for c in self._policy_checkpoints() if c.kind != POLICY]
        if clash:
            raise ValueError(f"Policy names {clash} belong to projections in the database.")
        self._installed = True

    # --- running -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    @property
    def holding(self) -> list[str]:
        """The policies whose leases this runner holds now."""
        with self._lock:
            return list(self._held)

    def start(self) -> None:
        """Run the policies in a background thread (and renew their leases in another) until
        `stop`. The threads are daemons: at exit, unfinished work is simply done again by the
        next runner."""
        if self.running:
            raise RuntimeError("These subscribers are already running.")
        self._stopping.clear()
        self.emit.add_handler(self._waker)
        self._threads = [
            threading.Thread(target=self._run, name="emit-subscribers", daemon=True),
            threading.Thread(target=self._beat, name="emit-subscribers-leases", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("subscribers started owner=%s policies=%s", self.owner, ",".join(self.names))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the event in hand and give the leases up. If `handle` is still running
        after `timeout` seconds the leases are kept, to expire: no other runner may start that
        policy while this one could still commit."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.emit.remove_handler(self._waker)
        if self.running:
            log.warning("subscribers did not stop within %ss; leases left to expire", timeout)
            return
        self._threads = []
        try:
            self._release_all()
        except StorageError as error:  # the locks are gone with the process; leases expire
            log.warning("subscribers could not give their leases up: %s", _one_line(error))
        log.info("subscribers stopped owner=%s", self.owner)

    def __enter__(self) -> Subscribers:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def catch_up(self, timeout: float = 30.0) -> int:
        """Run the policies in this thread until each has reached the head position as of the
        call (events it failed on, after all retries, are parked); the number of events handled
        or parked here. Another runner's work counts too. Raises `TimeoutError`.
        For tests, scripts and the CLI; not while `start`ed."""
        if self.running:
            raise RuntimeError("These subscribers are running in the background already.")
        self.install()
        self._stopping.clear()  # a stopped runner may catch up by hand
        target = self.store.head_position()
        deadline = time.monotonic() + timeout
        before = self.handled
        try:
            while True:
                self._next_acquire = 0.0
                with storage_errors("run the policies"):
                    wait = self._work()
                    checkpoints = self._policy_checkpoints()
                behind = [c.name for c in checkpoints if c.position < target]
                if not behind:
                    return self.handled - before
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"Policies {behind} did not reach position {target} in {timeout}s."
                    )
                if wait > 0:
                    time.sleep(min(wait, left, 0.05))
        finally:
            self._release_all()

    # --- the worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                with storage_errors("run the policies"):
                    wait = self._work()
            except StorageError as error:
                if self.store.closed:  # its `Emit` was closed under it: nothing left to run on
                    log.info("subscribers stopped: their store was closed owner=%s", self.owner)
                    return
                # The database is away or slow: one line each time, the traceback for debugging.
                log.warning(
                    "subscribers failed; trying again in %ss: %s",
                    self.poll_interval,
                    _one_line(error),
                )
                log.debug("subscribers failure", exc_info=error)
                wait = self.poll_interval
            except Exception:
                log.exception("subscribers failed; trying again in %ss", self.poll_interval)
                wait = self.poll_interval
            if wait > 0:
                self._wake.wait(wait)

    def _beat(self) -> None:
        while not self._stopping.wait(self.lease_ttl / 3):
            try:
                with storage_errors("renew the subscribers' leases"):
                    self._renew()
            except StorageError as error:
                if self.store.closed:
                    return
                log.warning("subscribers could not renew their leases: %s", _one_line(error))
                log.debug("lease renewal failure", exc_info=error)
            except Exception:
                log.exception("subscribers could not renew their leases")

    def _work(self) -> float:
        """Process what is due; the seconds until something else will be (0: go on)."""
        self.install()
        self._acquire()
        wait = self.poll_interval
        with self._lock:
            held = list(self._held.items())
        for name, cursor in held:
            if self._stopping.is_set():
                break
            due = cursor.retry_at - time.monotonic()
            if due > 0:
                wait = min(wait, due)
            elif self._step(self._policy(name), cursor):
                wait = 0.0
            elif cursor.retry_at:
                wait = min(wait, max(0.0, cursor.retry_at - time.monotonic()))
        return wait

    def _step(self, policy: Policy[Any], cursor: _Cursor) -> bool:
        """Feed the policy a batch of events; True if there may be more right away."""
        batch = self.store.read_all(after=cursor.position, limit=self.batch_size)
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

    def _deliver(self, policy: Policy[Any], cursor: _Cursor, stored: StoredEvent) -> bool:
        """Handle one event and move the checkpoint past it, in one transaction; False if it
        failed and waits for a retry (or the lease is gone)."""
        try:
            event = self.emit.decode(stored)
            with write_connection(self.store.engine) as connection:
                policy.handle(connection, event)
                self._checkpoints.advance(
                    connection, policy.name, self.owner, cursor.position, stored.position
                )
                connection.commit()
        except LeaseLost:
            self._lost(policy.name)
            return False
        except Exception as error:
            return self._failed(policy, cursor, stored, error)
        self._moved(cursor, stored.position)
        log.debug("policy handled policy=%s position=%d", policy.name, stored.position)
        return True

    def _failed(
        self, policy: Policy[Any], cursor: _Cursor, stored: StoredEvent, error: Exception
    ) -> bool:
        self.failures += 1
        attempts = cursor.attempts + 1
        text = describe_error(error)
        try:
            with write_connection(self.store.engine) as connection:
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
                        connection, policy.name, self.owner, cursor.position, stored.position
                    )
                else:
                    delay = policy.backoff.delay(attempts)
                    self._checkpoints.record_failure(
                        connection,
                        policy.name,
                        self.owner,
                        cursor.position,
                        attempts=attempts,
                        error=text,
                        retry_at=now() + timedelta(seconds=delay),
                    )
                connection.commit()
        except LeaseLost:
            self._lost(policy.name)
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

    def _move(self, policy: Policy[Any], cursor: _Cursor, position: int) -> None:
        """Move past events the policy does not want."""
        try:
            with write_connection(self.store.engine) as connection:
                self._checkpoints.advance(
                    connection, policy.name, self.owner, cursor.position, position
                )
                connection.commit()
        except LeaseLost:
            self._lost(policy.name)
            return
        cursor.position = position

    def _moved(self, cursor: _Cursor, position: int) -> None:
        cursor.position = position
        cursor.attempts = 0
        cursor.retry_at = 0.0
        self.handled += 1

    # --- leases --------------------------------------------------------------------------------

    def _acquire(self) -> None:
        """Renew the leases this runner holds and try for those it lacks, at most once per
        poll. (The heartbeat renews them too, while `handle` keeps this thread busy.)"""
        clock = time.monotonic()
        if clock < self._next_acquire:
            return
        self._next_acquire = clock + min(self.poll_interval, self.lease_ttl / 3)
        self._renew()
        for policy in self.policies:
            # Holding the lock means no live runner works on the policy: the lease is ours to
            # take. Without it (a frozen holder still has it), the lease is taken once expired.
            locked = self._locks.try_lock(policy.name)
            if policy.name in self._held:
                continue
            checkpoint = self._checkpoints.acquire(
                policy.name,
                self.owner,
                self.lease_ttl,
                holder_alive=None if locked is None else not locked,
            )
            if checkpoint is not None:
                with self._lock:
                    self._held[policy.name] = _Cursor(checkpoint)
                log.info("lease taken policy=%s owner=%s", policy.name, self.owner)

    def _renew(self) -> None:
        with self._lock:
            names = list(self._held)
        kept = self._checkpoints.renew(names, self.owner, self.lease_ttl)
        for name in names:
            if name not in kept:
                self._lost(name)

    def _lost(self, name: str) -> None:
        with self._lock:
            dropped = self._held.pop(name, None)
        self._locks.unlock(name)
        if dropped is not None:
            log.warning("lease lost policy=%s owner=%s", name, self.owner)

    def _release_all(self) -> None:
        with self._lock:
            names = list(self._held)
            self._held.clear()
        # The locks first: a runner that gets one meanwhile takes the lease over at once, while
        # one that saw the lease free but the lock held waits for its next try.
        self._locks.close()
        with storage_errors("give the subscribers' leases up"):
            self._checkpoints.release(names, self.owner)

    # --- the operator's view -------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.policies]

    def _policy(self, name: str) -> Policy[Any]:
        for policy in self.policies:
            if policy.name == name:
                return policy
        raise UnknownSubscriber("policy", name, self.names)

    def _policy_checkpoints(self) -> list[Checkpoint]:
        names = set(self.names)
        return [c for c in self._checkpoints.read_all() if c.name in names]

    def status(self) -> list[SubscriberStatus]:
        """Every projection and policy of the database (this runner's or not), by name: its
        checkpoint, lag behind the head, state, last error and dead letters."""
        head = self.store.head_position()
        with storage_errors("read the subscribers' checkpoints"):
            counts = self._dead_letters.counts()
            checkpoints = self._checkpoints.read_all()
        return [_status(c, head, counts.get(c.name, 0)) for c in checkpoints]

    def dead_letters(self, *, subscriber: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Parked events, by policy and position (of one policy if given)."""
        with storage_errors("read the dead letters"):
            return self._dead_letters.read(subscriber=subscriber, limit=limit)

    def dead_letter(self, dead_letter_id: int) -> DeadLetter:
        """One dead letter; raises `DeadLetterNotFound`."""
        with storage_errors("read a dead letter"):
            return self._dead_letters.get(dead_letter_id)

    def retry_dead_letter(self, dead_letter_id: int) -> None:
        """Handle a dead letter's event once more with its policy. On success the dead letter
        is gone, in the same transaction as the policy's writes. On failure it stays, with
        one more attempt and the new error, and `PolicyFailed` is raised. Also raises
        `DeadLetterNotFound`, `DeadLetterBusy` (being retried elsewhere), `UnknownSubscriber`
        (its policy is not one of these), `StorageError` (the database failed: no attempt is
        counted)."""
        with storage_errors("claim a dead letter"):
            policy = self._policy(self._dead_letters.get(dead_letter_id).subscriber)
            token = uuid.uuid4().hex
            letter = self._dead_letters.claim(dead_letter_id, token, self.lease_ttl)
        try:
            (stored,) = self.store.read_all(after=letter.position - 1, limit=1)
            event = self.emit.decode(stored)
            with write_connection(self.store.engine) as connection:
                policy.handle(connection, event)
                self._dead_letters.resolve(connection, dead_letter_id, token)
                connection.commit()
        except DeadLetterBusy:
            raise
        except Exception as error:
            database_failed = isinstance(error, StorageError) or (
                is_driver_error(error) and classify(error) is not StorageErrorKind.OTHER
            )
            if database_failed:
                # Not the policy's failure: no attempt is counted, and the claim is let go (if
                # the database lets us) so that the next Retry can run at once.
                with contextlib.suppress(Exception):
                    self._dead_letters.release(dead_letter_id, token)
                if isinstance(error, StorageError):
                    raise
                raise StorageError("retry a dead letter", None, error) from error
            text = describe_error(error)
            with storage_errors("record a dead letter's failed retry"):
                self._dead_letters.fail(
                    dead_letter_id,
                    token,
                    error=text,
                    traceback="".join(traceback.format_exception(error)),
                )
            log.warning("dead letter retry failed id=%d error=%r", dead_letter_id, text)
            raise PolicyFailed(policy.name, letter.position, text) from error
        log.info("dead letter retried id=%d policy=%s", dead_letter_id, policy.name)

    def skip_dead_letter(self, dead_letter_id: int) -> DeadLetter:
        """Drop a dead letter without handling its event; the one dropped. Raises
        `DeadLetterNotFound`, `DeadLetterBusy`."""
        with storage_errors("skip a dead letter"):
            letter = self._dead_letters.skip(dead_letter_id)
        log.info("dead letter skipped id=%d policy=%s", dead_letter_id, letter.subscriber)
        return letter


def _one_line(error: BaseException) -> str:
    """An error's message on one line, for a log line (drivers' messages span several)."""
    return " ".join(str(error).split())


def _status(checkpoint: Checkpoint, head: int, dead_letters: int) -> SubscriberStatus:
    lag = max(0, head - checkpoint.position)
    if checkpoint.kind == PROJECTION:
        state = "up to date" if lag == 0 else "behind"
    elif not checkpoint.leased:
        state = "stopped"
    elif checkpoint.attempts:
        state = "retrying"
    else:
        state = "up to date" if lag == 0 else "catching up"
    return SubscriberStatus(
        name=checkpoint.name,
        kind=checkpoint.kind,
        position=checkpoint.position,
        head=head,
        lag=lag,
        state=state,
        attempts=checkpoint.attempts,
        last_error=checkpoint.last_error,
        retry_at=checkpoint.retry_at,
        owner=checkpoint.owner if checkpoint.leased else None,
        dead_letters=dead_letters,
        updated_at=checkpoint.updated_at,
    )

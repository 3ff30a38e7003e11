"""The runner of policies: it feeds committed events to them, and is the operator's way in.

`Policies(emit, policies)` runs each policy (policies.py) over the global log from its
checkpoint (checkpoints.py), in a background thread (`start`/`stop`) or in the caller's
thread (`catch_up`). It wakes as soon as its `Emit`, or another process its `HeadWatcher` sees,
appends an event one of its policies wants, and polls the database otherwise (to move past
events no policy wants: waking for each would cost more than the append itself).

It is over 400 lines because it is both the runner and the operator's whole way in (status,
dead letters, retry, skip, what a policy did about an event), each a short method over the
modules that do the work (delivery, leases, locks, checkpoints, dead_letters, repair).

Guarantees, each tested in tests/subscribers/test_subscribers.py:

- **In order, at least once.** A policy sees every event in position order. Its checkpoint
  moves only after `handle` returned, in the transaction of the writes `handle` made through
  its connection: those writes happen exactly once, whatever crashes; effects outside the
  database happen at least once.
- **Retries, then dead letters.** A failing event is retried after `policy.backoff`, up to
  `policy.max_attempts` tries; then it is parked as a dead letter (policy, position, error,
  traceback, attempts, time) in the same transaction as the checkpoint's move past it, and the
  policy goes on with the next event. Other policies are not held up meanwhile.
- **One runner per policy.** A runner processes a policy only while it holds the policy's
  lease (a row in the database, on SQLite and PostgreSQL alike; leases.py), renewed by a
  heartbeat thread. It also holds a lock per policy that the database or the kernel lets go of
  when its process dies (locks.py): another runner that gets that lock takes the lease over at
  once, within a poll, where the checkpoint is. A runner that is alive but stopped renewing (frozen)
  keeps its lock, and loses the lease after `lease_ttl` seconds; when it wakes it cannot commit:
  every checkpoint move is fenced by the lease's owner, so its effects roll back.

Why lease rows rather than PostgreSQL advisory locks: one mechanism for both databases, which
the operator can see (who holds what, until when), that works through connection poolers in
transaction mode, and whose fencing protects the effects even when a lease is lost.

The operator's side, status (status.py) and dead letters' repairs (repair.py), is reached through
`Policies` too, since a repair needs the policies' code.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from emit.causation import Effect
from emit.errors import StorageError, UnknownSubscriber
from emit.observers import Observer
from emit.recorded import RecordedEvent
from emit.sql import create_schema, storage_errors
from emit.store import StoredEvent, TransactionalStore, need_transactional_store
from emit.subscribers.checkpoints import POLICY, Checkpoint, Checkpoints
from emit.subscribers.dead_letters import DeadLetter, DeadLetters
from emit.subscribers.delivery import Delivery
from emit.subscribers.failures import failures_on
from emit.subscribers.leases import Leases
from emit.subscribers.policies import Policy
from emit.subscribers.repair import DeadLetterRepair
from emit.subscribers.status import SubscriberStatus, read_status

if TYPE_CHECKING:
    from emit.emit import Emit
    from emit.watcher import HeadWatcher

log = logging.getLogger("emit.subscribers")


class _Waker(Observer):
    """Wakes the runner when its `Emit` (or, `head_moved`, any) appends an event it wants."""

    def __init__(self, wake: threading.Event, policies: Sequence[Policy[Any]]) -> None:
        self._wake = wake
        self._policies = policies

    def events_appended(self, events: Sequence[RecordedEvent[Any] | StoredEvent]) -> None:
        if any(policy.wants(event.type) for event in events for policy in self._policies):
            self._wake.set()

    head_moved = events_appended


class Policies:
    """Runs `policies` over `emit`'s store, and shows and repairs what they did.

    `batch_size` events are read at a time; `poll_interval` seconds is the longest the runner
    sleeps before looking for events appended by other processes; `lease_ttl` seconds is how
    long a policy stays locked to a runner that stopped renewing (crashed or frozen). `owner`
    names this runner in leases (default: host, process id and a random suffix). A `watcher`
    (emit/watcher.py), started by `start`, wakes it for other processes' appends before its poll.

    Needs a `TransactionalStore` (emit/store.py) such as `SqlEventStore`: checkpoints and dead
    letters live next to the events, else `TypeError`. Making it does no I/O; `install`,
    `start` or `catch_up` create what the policies need.
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
        watcher: HeadWatcher | None = None,
    ) -> None:
        store = need_transactional_store(
            emit.store, "Policies keep checkpoints and dead letters next to the events"
        )
        if batch_size < 1 or poll_interval <= 0 or lease_ttl <= 0:
            raise ValueError("batch_size, poll_interval and lease_ttl must be positive.")
        names = [p.name for p in policies]
        taken = sorted({n for n in names if names.count(n) > 1 or n in emit.projections.names})
        if taken:
            raise ValueError(f"Policy names must be unique, projections' included: {taken}.")
        self.emit = emit
        self.store: TransactionalStore = store
        self.policies = tuple(policies)
        self.poll_interval = poll_interval
        self.lease_ttl = lease_ttl
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._checkpoints = Checkpoints(store.engine)
        self._dead_letters = DeadLetters(store.engine)
        self._leases = Leases(self._checkpoints, self.owner, lease_ttl)
        self._repair = DeadLetterRepair(
            store, self._dead_letters, policy=self._policy, decode=emit.decode, claim_ttl=lease_ttl
        )
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._delivery = Delivery(
            store,
            emit.decode,
            self._checkpoints,
            self._dead_letters,
            self._leases,
            batch_size=batch_size,
            stopping=self._stopping,
        )
        self._waker = _Waker(self._wake, self.policies)
        self.watcher = watcher
        self._threads: list[threading.Thread] = []
        self._next_acquire = 0.0
        self._installed = False

    def install(self) -> None:
        """Create the policies' tables and checkpoints where they are missing. Idempotent;
        `start` (in its thread) and `catch_up` do it first, so making `Policies` does no
        I/O. Raises `ValueError` if a policy's name is a projection's in the database,
        `StorageError`."""
        if self._installed:
            return
        create_schema(self.store.engine, tables=[t for p in self.policies for t in p.tables])
        with storage_errors("install the policies"):
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
    def batch_size(self) -> int:
        """Events read from the log at a time."""
        return self._delivery.batch_size

    @property
    def handled(self) -> int:
        """Events handled or parked by this runner."""
        return self._delivery.handled

    @property
    def failures(self) -> int:
        """Failed attempts seen by this runner."""
        return self._delivery.failures

    @property
    def holding(self) -> list[str]:
        """The policies whose leases this runner holds now."""
        return self._leases.names

    def start(self) -> None:
        """Run the policies in a background thread (and renew their leases in another) until
        `stop`. The threads are daemons: at exit, unfinished work is simply done again by the
        next runner."""
        if self.running:
            raise RuntimeError("These policies are already running.")
        self._stopping.clear()
        self.emit.add_observer(self._waker)
        if self.watcher is not None:
            self.watcher.add_listener(self._waker.head_moved)
            self.watcher.start()
        self._threads = [
            threading.Thread(target=self._run, name="emit-policies", daemon=True),
            threading.Thread(target=self._beat, name="emit-policies-leases", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("policies started owner=%s policies=%s", self.owner, ",".join(self.names))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the event in hand and give the leases up. If `handle` is still running
        after `timeout` seconds the leases are kept, to expire: no other runner may start that
        policy while this one could still commit."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.emit.remove_observer(self._waker)
        if self.watcher is not None:
            self.watcher.remove_listener(self._waker.head_moved)
        if self.running:
            log.warning("policies did not stop within %ss; leases left to expire", timeout)
            return
        self._threads = []
        try:
            self._leases.release_all()
        except StorageError as error:  # the locks are gone with the process; leases expire
            log.warning("policies could not give their leases up: %s", _one_line(error))
        log.info("policies stopped owner=%s", self.owner)

    def __enter__(self) -> Policies:
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
            raise RuntimeError("These policies are running in the background already.")
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
            self._leases.release_all()

    # --- the worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                with storage_errors("run the policies"):
                    wait = self._work()
            except StorageError as error:
                if self.store.closed:  # its `Emit` was closed under it: nothing left to run on
                    log.info("policies stopped: their store was closed owner=%s", self.owner)
                    return
                # The database is away or slow: one line each time, the traceback for debugging.
                log.warning(
                    "policies failed; trying again in %ss: %s",
                    self.poll_interval,
                    _one_line(error),
                )
                log.debug("policies failure", exc_info=error)
                wait = self.poll_interval
            except Exception:
                log.exception("policies failed; trying again in %ss", self.poll_interval)
                wait = self.poll_interval
            if wait > 0:
                self._wake.wait(wait)

    def _beat(self) -> None:
        while not self._stopping.wait(self.lease_ttl / 3):
            try:
                with storage_errors("renew the policies' leases"):
                    self._leases.renew()
            except StorageError as error:
                if self.store.closed:
                    return
                log.warning("policies could not renew their leases: %s", _one_line(error))
                log.debug("lease renewal failure", exc_info=error)
            except Exception:
                log.exception("policies could not renew their leases")

    def _work(self) -> float:
        """Process what is due; the seconds until something else will be (0: go on)."""
        self.install()
        # Leases are renewed and sought at most once per poll. (The heartbeat renews them too,
        # while `handle` keeps this thread busy.)
        clock = time.monotonic()
        if clock >= self._next_acquire:
            self._next_acquire = clock + min(self.poll_interval, self.lease_ttl / 3)
            self._leases.acquire(self.names)
        wait = self.poll_interval
        for name, cursor in self._leases.held():
            if self._stopping.is_set():
                break
            due = cursor.retry_at - time.monotonic()
            if due > 0:
                wait = min(wait, due)
            elif self._delivery.step(self._policy(name), cursor):
                wait = 0.0
            elif cursor.retry_at:
                wait = min(wait, max(0.0, cursor.retry_at - time.monotonic()))
        return wait

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
        return read_status(self.store, self._checkpoints, self._dead_letters)

    def dead_letters(
        self,
        *,
        policy: str | None = None,
        aggregate_id: str | None = None,
        limit: int = 100,
        subscriber: str | None = None,
    ) -> list[DeadLetter]:
        """Parked events, by policy and position (of one policy, of one aggregate's events, if
        given). (`subscriber` is `policy`'s old name, deprecated.)"""
        if subscriber is not None:
            warnings.warn(
                "dead_letters(subscriber=...) is deprecated; use dead_letters(policy=...).",
                DeprecationWarning,
                stacklevel=2,
            )
            policy = policy or subscriber
        with storage_errors("read the dead letters"):
            return self._dead_letters.read(policy=policy, aggregate_id=aggregate_id, limit=limit)

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
        self._repair.retry(dead_letter_id)

    def effects_on(self, event: RecordedEvent[Any]) -> list[Effect]:
        """What these policies' failures on `event` left, as effects for its causation tree
        (`emit.causation.explain(..., effects=[policies.effects_on])`; see failures.py).
        Raises `StorageError`."""
        with storage_errors("read the policies' failures on an event"):
            return failures_on(
                event, self.policies, self._policy_checkpoints(), self._dead_letters, self.store
            )

    def skip_dead_letter(self, dead_letter_id: int) -> DeadLetter:
        """Drop a dead letter without handling its event; the one dropped. Raises
        `DeadLetterNotFound`, `DeadLetterBusy`."""
        return self._repair.skip(dead_letter_id)


class Subscribers(Policies):
    """Deprecated: the old name of `Policies` (it only ever ran policies). Making one warns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "emit.Subscribers is deprecated; use emit.subscribers.Policies, the same runner.",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)


def _one_line(error: BaseException) -> str:
    """An error's message on one line, for a log line (drivers' messages span several)."""
    return " ".join(str(error).split())

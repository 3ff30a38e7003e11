"""The event store interface: what `Emit` needs from a place that keeps streams of events.

A store knows nothing of deciders: it keeps each event's type name, schema version and JSON
text. Every implementation passes the same contract suite (tests/store/test_store_contract.py).

Guarantees every store gives:

- `append_many` is atomic per request: all events of a request are stored, or none. A request
  whose `expected_version` is not the stream's current version stores nothing and gets a
  `ConcurrencyError` in its place in the result.
- Versions within a stream are 1, 2, 3, ... with no gap; (stream, version) is unique.
- Global positions are 1, 2, 3, ... across all streams with no gap, in commit order: a reader of
  `read_all(after=p)` never misses an event that commits later with a smaller position.
- When `append_many` returns, the events are durable.
- A request with a `CommandKey` records it with its events, in the same transaction. A request
  whose key the stream already recorded stores nothing and gets `CommandAlreadyRecorded` in its
  place: checked while the request holds the stream, so two requests with one key never both
  store. (A request that finds the stream at its expected version may skip that check: the
  caller looked the key up after reading that version, and a key is only recorded with events,
  which would have moved the stream.) `find_command` reads a recorded key back.
- The log can be read newest first (`read_log`), a page at a time by position (keyset paging:
  pass the last position of a page as `before` for the next one), filtered by a `LogFilter`.
  Every filter is answered from an index or by walking the log by position, never with OFFSET
  or a count over the log, so a page costs the same on a log of millions of events.
- Snapshots are a cache beside the events, never the truth: `read_snapshot` returns the latest
  snapshot written with a given key at or below a version, or None. Losing one costs a replay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from uuid import UUID

from emit.log import NO_FILTER, LogFilter

if TYPE_CHECKING:
    import sqlalchemy as sa


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event on its way into the store: data and metadata already JSON text."""

    event_id: UUID
    type: str
    schema_version: int
    data: str
    metadata: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the store keeps it."""

    stream_id: str
    version: int
    position: int
    event_id: UUID
    type: str
    schema_version: int
    data: str
    metadata: str
    recorded_at: datetime


# What a replay needs of a stored event, and no more: (version, type, schema version, data).
EventData = tuple[int, str, int, str]


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One stream's id, current version and when it was created and last appended to."""

    stream_id: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """A stream's state at `version`, as JSON text. `key` names the code that wrote it: a
    reader asks only for snapshots with its own key, so a changed domain never reads a state
    its code would not have produced (see emit/snapshots.py)."""

    stream_id: str
    version: int
    key: str
    state: str


@dataclass(frozen=True, slots=True)
class CommandKey:
    """An idempotency key for one stream, and the fingerprint of the command it names (so the
    same key with another command is told apart from a repeat)."""

    key: str
    fingerprint: str
    # What the same command's fingerprint was before its type moved to another module.
    former: tuple[str, ...] = ()

    def names(self, fingerprint: str) -> bool:
        """True if `fingerprint`, recorded with this key, is of this very command."""
        return fingerprint == self.fingerprint or fingerprint in self.former


@dataclass(frozen=True, slots=True)
class StoredCommand:
    """A command recorded under its idempotency key: it stored the stream's versions
    `first_version` to `last_version`."""

    stream_id: str
    key: str
    fingerprint: str
    first_version: int
    last_version: int


class CommandAlreadyRecorded(Exception):
    """An append's result when its idempotency key is recorded for the stream already: nothing
    was stored. `Emit` answers it with the first command's result; callers never see it."""

    def __init__(self, command: StoredCommand) -> None:
        super().__init__(f"Command {command.key!r} of {command.stream_id!r} is recorded already.")
        self.command = command


# Runs inside the append's transaction, after the events are written and before the commit, with
# the store's connection (None for the in-memory store). If it raises, nothing is committed.
TransactionHook = Callable[[Any, Sequence[StoredEvent]], None]


# Called when the stream has moved past the expected version, inside the append's transaction
# and while it holds the stream: given the newer events (all those after the expected version),
# it returns the events to append after them instead (an empty list: nothing to append), or
# raises to refuse (the error becomes the request's result). Deciding under the lock means a
# writer that lost a race always makes progress on its next try, however busy the stream.
# A store may call it more than once for one request (when a shared transaction fails and
# each request is retried alone), and may in the end store the request's own events after all:
# the result's event ids tell which answer was stored.
Resolver = Callable[[Sequence[StoredEvent]], Sequence[NewEvent]]


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """Append `events` to `stream_id`, which must be at `expected_version` (0: must not exist).

    Without `resolve`, a stream at another version makes the request fail with
    `ConcurrencyError`. With it, the store asks `resolve` what to append instead.
    """

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]
    before_commit: TransactionHook | None = None
    resolve: Resolver | None = None
    command_key: CommandKey | None = None


# The stored events, or the error that kept this request out: a `ConcurrencyError`, a
# `CommandAlreadyRecorded`, a `StorageError`, or whatever its `before_commit` hook raised.
AppendResult = list[StoredEvent] | Exception


class EventStore(Protocol):
    """What `Emit` needs from an event store. See the module docstring for the guarantees."""

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        """Store several appends, in one transaction where possible (group commit), and return
        one result per request, in order. A request that fails (a stale expected version, a
        failing hook, a store error) leaves the others unaffected and is stored not at all.
        A request for a stream that an earlier request of the same call appends to gets a
        `ConcurrencyError`, unresolved (`GroupCommit` never sends such a call). If the commit
        itself fails, every request that was to store events gets a `StorageError` with
        `maybe_stored` set: it may or may not be stored."""
        ...

    def read_stream(
        self, stream_id: str, *, after: int = 0, up_to: int | None = None
    ) -> list[StoredEvent]:
        """Events of one stream with `after < version <= up_to`, in version order."""
        ...

    def read_stream_data(
        self, stream_id: str, *, after: int = 0, up_to: int | None = None
    ) -> list[EventData]:
        """`read_stream` reduced to what a replay needs, as plain tuples: no ids, metadata or
        timestamps to read and build, which makes replaying a long stream much cheaper."""
        ...

    def read_all(self, *, after: int = 0, limit: int | None = None) -> list[StoredEvent]:
        """Events of every stream with a position above `after`, in position order."""
        ...

    def read_log(
        self,
        log_filter: LogFilter = NO_FILTER,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[StoredEvent]:
        """Up to `limit` events that `log_filter` keeps, newest (highest position) first, with
        `after < position < before` (both bounds exclusive, both optional).

        Which ones, when there are more than `limit`: those nearest to `before` (the newest)
        when `before` is given or neither is; those nearest to `after` when only `after` is
        (the page just newer than a page whose newest position is `after`). So paging through
        the whole log, passing each page's last position as `before`, sees every event that was
        committed when paging started exactly once, in strictly decreasing position, whatever
        is appended meanwhile. Raises `ValueError` for a limit below 1 or a negative bound."""
        ...

    def event_at(self, position: int) -> StoredEvent | None:
        """The event at global position `position`; None if there is none."""
        ...

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version; 0 when it does not exist."""
        ...

    def list_streams(self, *, after: str | None = None, limit: int = 100) -> list[StreamInfo]:
        """Streams ordered by id, starting after the id `after` (keyset paging)."""
        ...

    def count_streams(self) -> int: ...

    def write_snapshot(self, snapshot: StoredSnapshot) -> None:
        """Keep a snapshot. Writing one that exists (same stream, key and version) is a no-op.
        A snapshot is not part of any append and may be lost; nothing depends on it."""
        ...

    def read_snapshot(
        self, stream_id: str, key: str, *, up_to: int | None = None
    ) -> StoredSnapshot | None:
        """The snapshot of `stream_id` written with `key` with the highest version `<= up_to`
        (any version without it); None if there is none."""
        ...

    def read_from_snapshot(
        self, stream_id: str, key: str, *, up_to: int | None = None
    ) -> tuple[StoredSnapshot | None, list[EventData]]:
        """What loading an aggregate reads, together: `read_snapshot(stream_id, key, up_to=)`
        and `read_stream_data` of the events after that snapshot's version (after 0 when there
        is none), up to `up_to`. A SQL store reads both in one statement: on PostgreSQL, one
        round trip instead of two."""
        ...

    def head_position(self) -> int:
        """The position of the last committed event; 0 for an empty store."""
        ...

    def find_command(self, stream_id: str, key: str) -> StoredCommand | None:
        """The command recorded under idempotency key `key` for the stream, if any."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class TransactionalStore(EventStore, Protocol):
    """An event store whose database other tables can share, transaction and all: what
    subscribers need (emit/subscribers/). `SqlEventStore` is one; `InMemoryEventStore` is not.

    - Projections write their read models in the append's transaction: `before_commit` hooks
      get the SQLAlchemy `Connection` of that transaction. They are installed and rebuilt in
      `transaction()`, reading the log with `read_all_in` and `head_position_in`.
    - Checkpoints, policies' leases and dead letters are tables of `engine`'s database, written
      in transactions of their own (and, for a policy, with its effects).

    Ask for it with `isinstance(store, TransactionalStore)`: it checks that the members are
    there, not what they do.
    """

    engine: sa.Engine
    # False when the store was opened with `create=False`: whoever owns the schema creates it
    # (and installs the projections) as a deploy step.
    creates_schema: bool

    @property
    def closed(self) -> bool:
        """True once `close` was called: every call raises `StorageError` from then on."""
        ...

    def transaction(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction that no append can overtake: what it reads of the log is the
        whole log until it ends. Commits when the block ends, rolls back if it raises."""
        ...

    def read_all_in(
        self, connection: sa.Connection, *, after: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """`read_all` inside the caller's transaction on `connection`."""
        ...

    def head_position_in(self, connection: sa.Connection) -> int:
        """`head_position` inside the caller's transaction on `connection`."""
        ...


class Listener(Protocol):
    """A connection that hears a store's appends as they commit (see `NotifyingStore`)."""

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for appends; True as soon as one or more committed
        (all that came meanwhile are taken), False if none did. Raises `StorageError` if the
        connection failed: open another with `listen`."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class NotifyingStore(EventStore, Protocol):
    """An event store that can tell, without polling, that appends committed: PostgreSQL's
    `LISTEN`/`NOTIFY` on a `SqlEventStore` made with `notify=...`. A notification is a hint to
    read the head position, never the truth: notifications may come for appends another
    reader already saw, and appends by a store that does not notify send none."""

    def listen(self) -> Listener | None:
        """A new connection that hears this database's appends; None when this store has no
        notifications to hear (SQLite, or `notify` off). Raises `StorageError`."""
        ...


def need_transactional_store(store: EventStore, needs: str, hint: str = "") -> TransactionalStore:
    """`store`, if it has the `TransactionalStore` capability; else a `TypeError` whose message
    is `needs` (who needs it, and why), the store's type and `hint`."""
    if not isinstance(store, TransactionalStore):
        raise TypeError(
            f"{needs}, so they need a SqlEventStore, not {type(store).__name__}: a store with "
            f"the TransactionalStore capability (emit/store.py).{hint}"
        )
    return store


def check_requests(requests: Sequence[AppendRequest]) -> None:
    """Refuse a request no store should accept: one without events."""
    for request in requests:
        if not request.events:
            raise ValueError(f"Append to {request.stream_id!r} has no events.")


def append_one(store: EventStore, request: AppendRequest) -> list[StoredEvent]:
    """`append_many` for a single request, raising its error."""
    (result,) = store.append_many([request])
    if isinstance(result, Exception):
        raise result
    return result

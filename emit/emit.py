"""`Emit`: runs a decider against an event store, with a pool of live aggregates."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter_ns
from typing import Any, Generic, TypeVar
from uuid import UUID

from emit.checkpoints import Checkpoints
from emit.codec import CodecError
from emit.commit import GroupCommit
from emit.decider import AggregateCreated, Decider
from emit.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    ConcurrencyError,
    EventDecodeError,
    IdempotencyKeyReused,
    InvalidAggregateId,
    InvalidIdempotencyKey,
    StorageError,
    VersionOutOfRange,
    WrongExpectedVersion,
)
from emit.handlers import Handler, Handlers, LoggingHandler
from emit.ids import new_id
from emit.metrics import Metrics, MetricsRecorder
from emit.pool import Aggregate, AggregatePool, EvictionHandler, LiveAggregate, PoolEntry
from emit.projections import Projection, Projections
from emit.recorded import RecordedEvent, metadata_of, new_metadata, read_metadata
from emit.snapshots import Snapshots
from emit.sql import SqlEventStore, storage_errors
from emit.store import (
    AppendRequest,
    CommandAlreadyRecorded,
    CommandKey,
    EventData,
    EventStore,
    NewEvent,
    StoredCommand,
    StoredEvent,
    StreamInfo,
    TransactionHook,
)

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")

MAX_AGGREGATE_ID_LENGTH = 200


@dataclass(frozen=True, slots=True)
class CommandResult(Generic[E, S]):
    """What a handled command did: the events it recorded (none if it changed nothing), and the
    aggregate's state and version right after them."""

    aggregate_id: str
    state: S
    version: int
    events: tuple[RecordedEvent[E], ...]


class Emit(Generic[C, E, S]):
    """Runs `decider` on `store`.

    Thread safe: one `Emit` serves every thread of a process. Commands on one aggregate run one
    at a time; commands on different aggregates run concurrently and share disk flushes (group
    commit). Several processes may each run an `Emit` on one database: the store's version check
    guards every append, and a stale aggregate is caught up and its command decided again, up to
    `max_retries` times.

    Guarantee: when `create` or `handle_command` returns, its events are durably stored.

    `projections` are kept up to date inside each append's transaction (emit/projections.py;
    they need a `SqlEventStore`); making the `Emit` installs them (creates their tables and
    brings them up to the head), unless the store was opened with `create=False`.
    `handlers` are told what happens (emit/handlers.py); the default is one `LoggingHandler`.
    `on_evict(entry, reason)` is called with each aggregate the pool lets go.

    With `snapshot_every=N`, the state is also stored every N versions (emit/snapshots.py), and
    loading an aggregate or `state_at` replays at most N-1 events after the latest snapshot.
    States are the same as without snapshots. Bump `snapshot_version` if `evolve` depends on
    code outside the modules that define it, the state and the events, and that code changes.

    `queue_timeout` (seconds) bounds how long a command, or a read with `catch_up=True`, waits
    for those before it on the same aggregate: past it, it raises `StorageError` of kind
    "timeout". With a store whose every wait is bounded, that keeps a database that hangs from
    piling requests up behind one aggregate. None: wait as long as they take.
    """

    def __init__(
        self,
        decider: Decider[C, E, S],
        *,
        store: EventStore,
        pool_size: int = 1000,
        idle_expiry: float | None = None,
        max_retries: int = 10,
        on_evict: EvictionHandler | None = None,
        projections: Sequence[Projection[E]] = (),
        handlers: Sequence[Handler] | None = None,
        snapshot_every: int | None = None,
        snapshot_version: str | int = 0,
        queue_timeout: float | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries cannot be negative, not {max_retries}.")
        if queue_timeout is not None and queue_timeout <= 0:
            raise ValueError(f"queue_timeout must be positive seconds, not {queue_timeout}.")
        self._queue_timeout = -1 if queue_timeout is None else queue_timeout
        self.decider = decider
        self.store = store
        self.max_retries = max_retries
        self.on_evict = on_evict
        self.pool: AggregatePool[S] = AggregatePool(
            pool_size, idle_expiry=idle_expiry, on_evict=self._evicted
        )
        self._commit = GroupCommit(store.append_many)
        self._snapshots: Snapshots[S] | None = None
        if snapshot_every is not None:
            self._snapshots = Snapshots(decider, snapshot_every, snapshot_version)
        self._metrics = MetricsRecorder()
        self._handlers = Handlers(
            [self._metrics, *([LoggingHandler()] if handlers is None else handlers)]
        )
        self.projections = Projections(projections, store=store, decode=self._recorded)
        if self.projections.install_on_open:
            self.projections.install()

    # --- commands ------------------------------------------------------------------------------

    def create(
        self,
        aggregate_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Aggregate[S]:
        """Create an aggregate by recording its genesis events.

        With `idempotency_key`, creating it again with the same key (a resent form) returns the
        aggregate as it was created instead of raising. Raises `AggregateAlreadyExists` if the
        id is taken (by another key, or without one), `InvalidAggregateId` for an empty,
        overlong or unprintable id.
        """
        check_aggregate_id(aggregate_id)
        key = (
            None
            if idempotency_key is None
            else self._command_key(idempotency_key, _Create(aggregate_id))
        )
        genesis = list(self.decider.genesis_events(aggregate_id))
        state = self.decider.fold(self.decider.initial_state, genesis)
        _, metadata_json = new_metadata("create", metadata)
        request = AppendRequest(
            aggregate_id,
            0,
            [self._new_event(e, metadata_json) for e in genesis],
            before_commit=self._projecting(self._recorded_all),
            command_key=key,
        )
        result = self._commit.append(request)
        if isinstance(result, ConcurrencyError | CommandAlreadyRecorded):
            recorded = None if key is None else self.store.find_command(aggregate_id, key.key)
            if recorded is None or key is None or recorded.fingerprint != key.fingerprint:
                raise AggregateAlreadyExists(aggregate_id) from None
            version = recorded.last_version
            return Aggregate(aggregate_id, version, self._replay(aggregate_id, version)[1])
        if isinstance(result, Exception):
            raise result
        aggregate = Aggregate(aggregate_id, len(genesis), state)
        self.pool.add(LiveAggregate(aggregate))
        self._handlers.events_appended(self._recorded_all(result))
        return aggregate

    def handle_command(
        self,
        aggregate: str | Aggregate[S],
        command: C,
        *,
        metadata: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult[E, S]:
        """Decide `command` on the aggregate's current state and record the events.

        If another process stored events first, the command is decided again on the fresh
        state, inside the store's transaction, so the retry cannot lose the race again. That
        suits commands whose meaning does not depend on what the sender saw ("add one mug").

        `expected_version=N` is for decisions taken on a state someone was shown ("pay for this
        cart"): the command is decided only if the aggregate is at version N in the store, not
        just in this process's pool. Otherwise it raises `WrongExpectedVersion` (a
        `ConcurrencyError` with the expected and the actual version), stores nothing and is not
        decided again.

        `idempotency_key=K` (a string of up to 200 characters, unique per aggregate) is recorded
        in the same transaction as the events. The same command sent again with K, by this
        `Emit` or any other on the store, before or after a restart, or after a commit whose
        answer was lost, returns the first `CommandResult` (same version, same recorded events)
        without deciding or storing anything. K with another command raises
        `IdempotencyKeyReused`. A rejected command, or one that records no events, records no
        key. So retrying with the same key is always safe.

        Raises `AggregateNotFound`, `CommandRejected` (nothing recorded; always decided on the
        latest stored state), `WrongExpectedVersion`, `IdempotencyKeyReused`,
        `ConcurrencyError` (a store that cannot resolve conflicts, after `max_retries`),
        `ProjectionError` (nothing recorded), `StorageError` (its `maybe_stored` says whether
        the command may have been stored).
        """
        started = perf_counter_ns()
        aggregate_id = aggregate.id if isinstance(aggregate, Aggregate) else aggregate
        if expected_version is not None and (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or expected_version < 0
        ):
            raise ValueError(
                f"expected_version must be a version (a whole number from 0), not "
                f"{expected_version!r}."
            )
        key = None if idempotency_key is None else self._command_key(idempotency_key, command)
        try:
            result = self._handle(aggregate_id, command, metadata, expected_version, key)
        except CommandRejected as rejection:
            self._handlers.command_rejected(
                aggregate_id, command, rejection, perf_counter_ns() - started
            )
            raise
        except Exception as error:
            self._handlers.command_failed(aggregate_id, command, error, perf_counter_ns() - started)
            raise
        if result.events:
            self._handlers.events_appended(result.events)
        self._handlers.command_handled(aggregate_id, command, result, perf_counter_ns() - started)
        return result

    def _handle(
        self,
        aggregate_id: str,
        command: C,
        metadata: Mapping[str, Any] | None,
        expected_version: int | None,
        key: CommandKey | None,
    ) -> CommandResult[E, S]:
        metadata_json = new_metadata(type(command).__name__, metadata)
        live = self._locked_live(aggregate_id)
        try:
            for attempt in range(self.max_retries + 1):
                # 1. A key recorded already: the command happened; answer as the first time.
                #    (Looked up after reading our version: see `CommandKey` in emit/store.py.)
                if key is not None:
                    recorded = self.store.find_command(aggregate_id, key.key)
                    if recorded is not None:
                        return self._repeated(live, recorded, key, command)
                # 2. A caller who decided on what they saw needs the store to be there still.
                if expected_version is not None and live.current.version != expected_version:
                    self._catch_up(live)  # our pool may be behind the store: compare with it
                    if live.current.version != expected_version:
                        return self._stale(live, expected_version, key, command)
                # 3. Decide.
                try:
                    decision = _Decision(self, command, live.current, *metadata_json)
                except CommandRejected as rejection:
                    # Never refuse on stale state: another process may have moved on. One
                    # version read per rejection is cheap, and rejections are rare.
                    if self.store.stream_version(aggregate_id) != live.current.version:
                        self._handlers.conflict_retried(
                            aggregate_id, live.current.version, attempt + 1
                        )
                        self._catch_up(live)
                        continue
                    raise self._rejected(rejection, aggregate_id, command) from None
                first = decision.first
                if not first.events:
                    return CommandResult(aggregate_id, first.base.state, first.base.version, ())
                # 4. Append; a stream that moved on is decided again inside the append, unless
                #    the caller expected a version (then steps 1 and 2 answer on the next turn).
                request = AppendRequest(
                    aggregate_id,
                    first.base.version,
                    first.new_events,
                    before_commit=self._projecting(decision.recorded),
                    resolve=decision.resolve if expected_version is None else None,
                    command_key=key,
                )
                result = self._commit.append(request)
                if isinstance(result, CommandAlreadyRecorded):  # a repeat overtook us
                    return self._repeated(live, result.command, key, command)
                if isinstance(result, ConcurrencyError):
                    self._handlers.conflict_retried(
                        aggregate_id, request.expected_version, attempt + 1
                    )
                    self._catch_up(live)
                    if expected_version is not None:  # never decided again
                        return self._stale(live, expected_version, key, command)
                    continue
                if isinstance(result, CommandRejected):
                    if decision.rejected_on is not None:  # by the store, on fresher state
                        self._handlers.conflict_retried(
                            aggregate_id, request.expected_version, attempt + 1
                        )
                        live.current = decision.rejected_on
                    raise self._rejected(result, aggregate_id, command)
                if isinstance(result, Exception):
                    # The commit may or may not have happened: forget what we think we know.
                    self.pool.discard(aggregate_id)
                    raise result
                chosen = decision.chosen(result)
                if chosen is not first:  # decided again by the store, inside the append
                    self._handlers.conflict_retried(
                        aggregate_id, request.expected_version, attempt + 1
                    )
                live.current = chosen.after()
                if self._snapshots is not None and self._snapshots.due(
                    chosen.base.version, live.current.version
                ):
                    current = live.current
                    self._snapshots.write(self.store, aggregate_id, current.version, current.state)
                return CommandResult(
                    aggregate_id,
                    live.current.state,
                    live.current.version,
                    decision.recorded(result),
                )
        finally:
            self._done(live)
        raise ConcurrencyError(aggregate_id, live.current.version, None)

    def _stale(
        self, live: LiveAggregate[S], expected: int, key: CommandKey | None, command: C
    ) -> CommandResult[E, S]:
        """The aggregate (caught up) is not at the version the caller expected: raise
        `WrongExpectedVersion`, unless what moved it was this very command, sent before with
        its key (by another process, say): then that is the answer."""
        if key is not None:
            recorded = self.store.find_command(live.current.id, key.key)
            if recorded is not None:
                return self._repeated(live, recorded, key, command)
        raise WrongExpectedVersion(live.current.id, expected, live.current.version)

    def _repeated(
        self, live: LiveAggregate[S], recorded: StoredCommand, key: CommandKey | None, command: C
    ) -> CommandResult[E, S]:
        """The result the command recorded under `key` had, read back from the store."""
        if key is None or recorded.fingerprint != key.fingerprint:
            raise IdempotencyKeyReused(
                live.current.id,
                recorded.key,
                "a command of another type or with other fields",
                _describe(command),
            )
        aggregate_id = recorded.stream_id
        events = self.store.read_stream(
            aggregate_id, after=recorded.first_version - 1, up_to=recorded.last_version
        )
        if live.current.version == recorded.last_version:
            state = live.current.state
        else:
            state = self._replay(aggregate_id, recorded.last_version)[1]
        self._catch_up(live)  # it was stored by someone, maybe not by us: the pool follows
        return CommandResult(aggregate_id, state, recorded.last_version, self._recorded_all(events))

    def _command_key(self, idempotency_key: str, command: object) -> CommandKey:
        if not isinstance(idempotency_key, str):
            raise InvalidIdempotencyKey(idempotency_key, "it must be a string")
        if not idempotency_key or len(idempotency_key) > MAX_AGGREGATE_ID_LENGTH:
            raise InvalidIdempotencyKey(
                idempotency_key, f"it must have 1 to {MAX_AGGREGATE_ID_LENGTH} characters"
            )
        return CommandKey(idempotency_key, fingerprint(command))

    def _locked_live(self, aggregate_id: str) -> LiveAggregate[S]:
        """The aggregate's live entry, taken for a command (the pool keeps it until `_done`)
        and with its lock held. An entry dropped after another command's failure while we
        waited for its lock is not used: two live copies never take commands at once."""
        while True:
            live = self._live(aggregate_id, use=True)
            if not live.lock.acquire(timeout=self._queue_timeout):
                self.pool.done(live)
                waited = TimeoutError(
                    f"the commands before it took longer than {self._queue_timeout:g} s"
                )
                raise StorageError(
                    "wait for the aggregate's earlier commands", aggregate_id, waited
                )
            if self.pool.holds(live):
                return live
            self._done(live)

    def _done(self, live: LiveAggregate[S]) -> None:
        live.lock.release()
        self.pool.done(live)

    @staticmethod
    def _rejected(
        rejection: CommandRejected, aggregate_id: str, command: object
    ) -> CommandRejected:
        rejection.aggregate_id = aggregate_id
        rejection.command = command
        return rejection

    # --- reading -------------------------------------------------------------------------------

    def aggregate(self, aggregate_id: str, *, catch_up: bool = False) -> Aggregate[S]:
        """The aggregate's id, version and state, from the pool or rebuilt from its events.

        The pool is only as fresh as this process's own writes; with several processes writing,
        `catch_up=True` first reads any newer events from the store. Raises `AggregateNotFound`.
        """
        if not catch_up:
            return self._live(aggregate_id).current
        live = self._locked_live(aggregate_id)
        try:
            self._catch_up(live)
            return live.current
        finally:
            self._done(live)

    def get_state(self, aggregate: str | Aggregate[S], *, catch_up: bool = False) -> S:
        """The current state of an aggregate, given its id or an `Aggregate` of it."""
        aggregate_id = aggregate.id if isinstance(aggregate, Aggregate) else aggregate
        return self.aggregate(aggregate_id, catch_up=catch_up).state

    def history(
        self, aggregate_id: str, *, after: int = 0, up_to: int | None = None
    ) -> list[RecordedEvent[E]]:
        """The aggregate's events in version order: versions `after + 1` to `up_to` (default:
        all of them), so a long stream can be read a window at a time.

        Raises `AggregateNotFound`, `VersionOutOfRange` (for `up_to`), `EventDecodeError`.
        """
        if up_to is not None:
            self._check_version(aggregate_id, up_to)
        stored = self.store.read_stream(aggregate_id, after=after, up_to=up_to)
        if (
            not stored
            and up_to is None
            and (not after or not self.store.stream_version(aggregate_id))
        ):
            raise AggregateNotFound(aggregate_id)
        return [self._recorded(s) for s in stored]

    def state_at(self, aggregate_id: str, version: int) -> S:
        """The state replayed to `version` (0 is the initial state), without touching the live
        aggregate. Raises `AggregateNotFound`, `VersionOutOfRange`."""
        self._check_version(aggregate_id, version)
        return self._replay(aggregate_id, up_to=version)[1]

    def version_at(self, aggregate_id: str, moment: datetime) -> int:
        """The aggregate's version at `moment`: that of its last event recorded at or before it
        (0 if it did not exist yet). A naive `moment` is taken as UTC. Raises
        `AggregateNotFound`."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        latest = self.store.stream_version(aggregate_id)
        if latest == 0:
            raise AggregateNotFound(aggregate_id)
        # A binary search over the versions, reading one event a step: about 15 small reads
        # for 20,000 events instead of all of them. (Events are recorded in version order.)
        low, high = 0, latest
        while low < high:
            middle = (low + high + 1) // 2
            (stored,) = self.store.read_stream(aggregate_id, after=middle - 1, up_to=middle)
            if stored.recorded_at <= moment:
                low = middle
            else:
                high = middle - 1
        return low

    def read_all(self, *, after: int = 0, limit: int | None = None) -> list[RecordedEvent[E]]:
        """Events of every aggregate with a global position above `after`, in position order."""
        return [self._recorded(s) for s in self.store.read_all(after=after, limit=limit)]

    def list_aggregates(self, *, after: str | None = None, limit: int = 100) -> list[StreamInfo]:
        """A page of aggregates (id, version, created and last-changed times), ordered by id.
        For the next page pass the last id of this one as `after`."""
        return self.store.list_streams(after=after, limit=limit)

    def aggregate_ids(self, *, after: str | None = None, limit: int = 100) -> list[str]:
        """A page of aggregate ids, ordered; pass the last one as `after` for the next page."""
        return [info.stream_id for info in self.list_aggregates(after=after, limit=limit)]

    def count_aggregates(self) -> int:
        return self.store.count_streams()

    def exists(self, aggregate_id: str) -> bool:
        return aggregate_id in self.pool or self.store.stream_version(aggregate_id) > 0

    def decode(self, stored: StoredEvent) -> RecordedEvent[E]:
        """A stored event (from `store.read_all`, say) decoded; raises `EventDecodeError`."""
        return self._recorded(stored)

    # --- operations ----------------------------------------------------------------------------

    def metrics(self) -> Metrics:
        """What this `Emit` has done since it was made (commands, events, conflicts, loads,
        the pool), the head position, and how far behind it each subscriber of the database
        is (read from the database, so subscribers run by other processes count too)."""
        head = self.store.head_position()
        lag: dict[str, int] = {}
        if isinstance(self.store, SqlEventStore):
            with storage_errors("read the subscribers' checkpoints"):
                checkpoints = Checkpoints(self.store.engine).read_all()
            for checkpoint in checkpoints:
                lag[checkpoint.name] = max(0, head - checkpoint.position)
        return self._metrics.snapshot(self.pool, head, lag)

    def live_aggregates(self, *, limit: int | None = None) -> list[PoolEntry]:
        """The aggregates in the pool, most recently used first: id, version, hits and when
        each was last used."""
        return self.pool.describe(limit)

    def evict(self, aggregate_id: str) -> bool:
        """Let the pool drop an aggregate (it is rebuilt from the store when next needed):
        now, or if commands are working on it, when they are done. Never waits. True if it was
        in the pool. Handlers and `on_evict` hear of it as "requested"."""
        return self.pool.evict(aggregate_id, "requested")

    def add_handler(self, handler: Handler) -> None:
        """Tell `handler` of what happens from now on, after the handlers there already are."""
        self._handlers = Handlers([*self._handlers.handlers, handler])

    def remove_handler(self, handler: Handler) -> None:
        """Stop telling `handler`; nothing happens if it was not there."""
        self._handlers = Handlers([h for h in self._handlers.handlers if h is not handler])

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Emit[C, E, S]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------------

    def _live(self, aggregate_id: str, *, use: bool = False) -> LiveAggregate[S]:
        live = self.pool.get(aggregate_id, use=use)
        if live is None:
            started = perf_counter_ns()
            check_aggregate_id(aggregate_id)
            version, state = self._replay(aggregate_id)
            if version == 0:
                raise AggregateNotFound(aggregate_id)
            live = self.pool.add(LiveAggregate(Aggregate(aggregate_id, version, state)), use=use)
            self._handlers.aggregate_loaded(live.current, perf_counter_ns() - started)
        return live

    def _replay(self, aggregate_id: str, up_to: int | None = None) -> tuple[int, S]:
        """`(version, state)` at `up_to` (default: the latest), from the latest snapshot at or
        below it and the events after that; `(0, initial state)` for a missing aggregate."""
        snapshots = self._snapshots
        found = None if snapshots is None else snapshots.read(self.store, aggregate_id, up_to)
        start, state = (0, self.decider.initial_state) if found is None else found
        rows = self.store.read_stream_data(aggregate_id, after=start, up_to=up_to)
        version = rows[-1][0] if rows else start
        state = self._fold(aggregate_id, state, rows)
        if snapshots is not None and snapshots.due(start, version):
            snapshots.write(self.store, aggregate_id, version, state)
        return version, state

    def _evicted(self, entry: LiveAggregate[Any], reason: str) -> None:
        self._handlers.aggregate_evicted(entry.current, reason)
        if self.on_evict is not None:
            self.on_evict(entry, reason)

    def _projecting(
        self, recorded: Callable[[Sequence[StoredEvent]], Sequence[RecordedEvent[E]]]
    ) -> TransactionHook | None:
        """The append's hook that runs the projections on the events it stores, if any;
        `recorded` turns what the store wrote into recorded events."""
        if not self.projections:
            return None
        projections = self.projections

        def project(connection: Any, stored: Sequence[StoredEvent]) -> None:
            projections.apply(connection, recorded(stored))

        return project

    def _recorded_all(self, stored: Sequence[StoredEvent]) -> tuple[RecordedEvent[E], ...]:
        return tuple(self._recorded(s) for s in stored)

    def _catch_up(self, live: LiveAggregate[S]) -> None:
        """Apply events other writers stored after our version. Call with `live.lock` held."""
        current = live.current
        newer = self.store.read_stream_data(current.id, after=current.version)
        if newer:
            state = self._fold(current.id, current.state, newer)
            live.current = Aggregate(current.id, newer[-1][0], state)

    def _check_version(self, aggregate_id: str, version: int) -> int:
        latest = self.store.stream_version(aggregate_id)
        if latest == 0:
            raise AggregateNotFound(aggregate_id)
        if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= latest:
            raise VersionOutOfRange(aggregate_id, version, latest)
        return latest

    def _new_event(self, event: object, metadata_json: str) -> NewEvent:
        type_name, schema_version, data = self.decider.encode_json(event)
        return NewEvent(new_id(), type_name, schema_version, data, metadata_json)

    def _decode(self, stored: StoredEvent) -> E:
        try:
            return self.decider.decode_json(stored.type, stored.schema_version, stored.data)  # type: ignore[return-value]
        except _UNDECODABLE as error:
            raise EventDecodeError(
                stored.stream_id, stored.version, stored.type, str(error)
            ) from error

    def _fold(self, aggregate_id: str, state: S, rows: Sequence[EventData]) -> S:
        """The state after the events of `rows`, as `Decider.fold` would give it, in one loop:
        this is the inner loop of every replay. `EventDecodeError` names the first event that
        does not decode."""
        decode = self.decider.decode_json
        current = self.decider.current_decoders
        evolve = self.decider.evolve
        event: object
        for version, type_name, schema_version, data in rows:
            try:
                convert = current.get((type_name, schema_version))
                if convert is not None:
                    event = convert(data)
                else:
                    event = decode(type_name, schema_version, data)
            except _UNDECODABLE as error:
                raise EventDecodeError(aggregate_id, version, type_name, str(error)) from error
            if type(event) is not AggregateCreated:
                state = evolve(state, event)  # type: ignore[arg-type]
        return state

    def _recorded(self, stored: StoredEvent) -> RecordedEvent[E]:
        return RecordedEvent(
            stored.stream_id,
            stored.version,
            stored.position,
            stored.event_id,
            stored.type,
            stored.schema_version,
            self._decode(stored),
            read_metadata(stored.metadata, stored.recorded_at),
        )


class _Decision(Generic[C, E, S]):
    """One command decided on one state, and decided again each time the store finds newer
    events (inside the append, see `resolve`).

    The store may call `resolve` more than once for one append (a shared transaction that
    failed is retried request by request), and the attempt that commits may even be one
    where no newer events were found. So each decision is kept, named by its first event's
    id, and `chosen` picks the one whose events were stored.
    """

    def __init__(
        self,
        emit: Emit[C, E, S],
        command: C,
        base: Aggregate[S],
        metadata: dict[str, Any],
        metadata_json: str,
    ) -> None:
        self._emit = emit
        self._command = command
        self._metadata = metadata
        self._metadata_json = metadata_json
        self._origin = base
        self.first = _Variant(base, *self._decide(base.state))
        self._variants = {self.first.first_id: self.first}
        self._last = self.first  # the latest decision: what a resolver's empty answer keeps
        self.rejected_on: Aggregate[S] | None = None  # the fresh state a resolver refused on

    @property
    def new_events(self) -> list[NewEvent]:
        return self.first.new_events

    def _decide(self, state: S) -> tuple[list[E], S, list[NewEvent]]:
        decider = self._emit.decider
        events = list(decider.decide(self._command, state))
        new_events = [self._emit._new_event(e, self._metadata_json) for e in events]
        return events, decider.fold(state, events), new_events

    def resolve(self, newer: Sequence[StoredEvent]) -> Sequence[NewEvent]:
        """The store's callback: decide again on the state after `newer`, the events stored
        after the version this decision started from."""
        emit = self._emit
        origin = self._origin
        state = emit.decider.fold(origin.state, (emit._decode(s) for s in newer))
        base = Aggregate(origin.id, newer[-1].version, state)
        try:
            variant = _Variant(base, *self._decide(state))
        except CommandRejected:
            self.rejected_on = base
            raise
        self._last = variant
        if variant.new_events:
            self._variants[variant.first_id] = variant
        return variant.new_events

    def chosen(self, stored: Sequence[StoredEvent]) -> _Variant[E, S]:
        """The decision whose events are `stored` (the last one if nothing was stored)."""
        if not stored:
            return self._last
        return self._variants[stored[0].event_id]

    def recorded(self, stored: Sequence[StoredEvent]) -> tuple[RecordedEvent[E], ...]:
        if not stored:
            return ()
        events = self.chosen(stored).events
        meta = metadata_of(dict(self._metadata), stored[0].recorded_at)
        return tuple(
            RecordedEvent(
                s.stream_id, s.version, s.position, s.event_id, s.type, s.schema_version, e, meta
            )
            for s, e in zip(stored, events, strict=True)
        )


@dataclass(frozen=True, slots=True)
class _Variant(Generic[E, S]):
    """One decision of a command: the state it was taken on, its events and the state after."""

    base: Aggregate[S]
    events: list[E]
    state: S
    new_events: list[NewEvent]

    @property
    def first_id(self) -> UUID | None:
        return self.new_events[0].event_id if self.new_events else None

    def after(self) -> Aggregate[S]:
        return Aggregate(self.base.id, self.base.version + len(self.events), self.state)


@dataclass(frozen=True, slots=True)
class _Create:
    """What `create` records under an idempotency key: the creation of this aggregate."""

    aggregate_id: str


# What stored data that does not fit its event type raises while being decoded.
_UNDECODABLE = (CodecError, ValueError, TypeError, KeyError)


def fingerprint(command: object) -> str:
    """A digest of a command's type and fields: what tells a repeated command (same key, same
    fingerprint) from a key reused for another one. The same in every process: sets are
    sorted and mappings written with sorted keys, whatever order they were built in or
    `PYTHONHASHSEED` iterates them in."""
    kind = type(command)
    text = json.dumps(
        [f"{kind.__module__}.{kind.__qualname__}", _canonical(command)],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: object) -> object:
    """`value` as JSON-ready data that equal values share, built in any order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=repr))
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)  # datetimes, decimals, UUIDs: their repr says all that tells them apart


def _describe(command: object) -> str:
    text = repr(command)
    return text if len(text) <= 80 else text[:79] + "…"


def check_aggregate_id(aggregate_id: object) -> str:
    """Return the id if it can name an aggregate, else raise `InvalidAggregateId`."""
    if not isinstance(aggregate_id, str):
        raise InvalidAggregateId(aggregate_id, "it must be a string")
    if not aggregate_id or aggregate_id.strip() != aggregate_id:
        raise InvalidAggregateId(aggregate_id, "it must be non-empty, without surrounding spaces")
    if len(aggregate_id) > MAX_AGGREGATE_ID_LENGTH:
        raise InvalidAggregateId(
            aggregate_id, f"it is longer than {MAX_AGGREGATE_ID_LENGTH} characters"
        )
    if any(unicodedata.category(ch).startswith("C") for ch in aggregate_id):
        raise InvalidAggregateId(aggregate_id, "it contains control or unprintable characters")
    return aggregate_id


__all__: Sequence[str] = ("CommandResult", "Emit", "check_aggregate_id", "fingerprint")

"""`Emit`: runs a decider against an event store, with a pool of live aggregates.

This is the facade a caller uses: create, handle a command, read. The command path itself is
emit/command.py; replaying stored events, emit/replay.py; the pool, emit/pool.py. The module is
over 400 lines because it is the whole public API of a running `Emit`, each method with the
docstring a caller relies on (errors raised, guarantees); the work is done in those modules.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from emit.clock import as_utc
from emit.command import CommandLoop, Conflict, Failed, Refused, Repeated, Written, outcome
from emit.decider import Decider
from emit.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    StorageError,
    StorageErrorKind,
    VersionOutOfRange,
)
from emit.forks import Fork, ForkRecords, both, check_fork_metadata, fork_events
from emit.idempotency import command_key, creation_key
from emit.idempotency import fingerprint as _fingerprint
from emit.ids import check_aggregate_id
from emit.log import NO_FILTER, LogFilter
from emit.metrics import Metrics, MetricsRecorder
from emit.observers import LoggingObserver, Observer, Observers
from emit.pool import AggregatePool, EvictionCallback, LiveAggregate, PoolEntry
from emit.recorded import Aggregate, CommandResult, RecordedEvent, new_metadata
from emit.refusals import DEFAULT_RETENTION, RefusalLog, RefusalLogStore, RefusalRecorder
from emit.replay import Replayer
from emit.snapshots import Snapshots
from emit.store import (
    AppendRequest,
    EventStore,
    StoredEvent,
    StreamInfo,
    TransactionalStore,
    TransactionHook,
)

if TYPE_CHECKING:
    from emit.subscribers.projections import Projection, Projections

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")


class Emit(Generic[C, E, S]):
    """Runs `decider` on `store`.

    Thread safe: one `Emit` serves every thread of a process. Commands on one aggregate run one
    at a time; commands on different aggregates run concurrently and share disk flushes (group
    commit). Several processes may each run an `Emit` on one database: the store's version check
    guards every append, and a stale aggregate is caught up and its command decided again, up to
    `max_retries` times.

    Guarantee: when `create` or `handle_command` returns, its events are durably stored.

    `projections` are kept up to date inside each append's transaction
    (emit/subscribers/projections.py; they need a store with the `TransactionalStore`
    capability, such as `SqlEventStore`); making the `Emit` installs them (creates their tables
    and brings them up to the head), unless the store was opened with `create=False`.
    `observers` are told what happens (emit/observers.py); the default is one `LoggingObserver`.
    `on_evict(entry, reason)` is called with each aggregate the pool lets go.

    With `snapshot_every=N`, the state is also stored every N versions (emit/snapshots.py), and
    loading an aggregate or `state_at` replays at most N-1 events after the latest snapshot.
    States are the same as without snapshots. Bump `snapshot_version` if `evolve` depends on
    code outside the modules that define it, the state and the events, and that code changes.

    `queue_timeout` (seconds) bounds how long a command, or a read with `catch_up=True`, waits
    for those before it on the same aggregate: past it, it raises `StorageError` of kind
    "timeout". With a store whose every wait is bounded, that keeps a database that hangs from
    piling requests up behind one aggregate. None: wait as long as they take.

    Each command finally rejected is kept in the store's refusal log (emit/refusals.py), if it
    has one, at most the `refusal_retention` newest (None or 0: none is recorded). Best effort:
    a failure to record is logged, and the caller gets its `CommandRejected` all the same; an
    accepted command never touches the log.
    """

    def __init__(
        self,
        decider: Decider[C, E, S],
        *,
        store: EventStore,
        pool_size: int = 1000,
        idle_expiry: float | None = None,
        max_retries: int = 10,
        on_evict: EvictionCallback | None = None,
        projections: Sequence[Projection[E]] = (),
        observers: Sequence[Observer] | None = None,
        snapshot_every: int | None = None,
        snapshot_version: str | int = 0,
        queue_timeout: float | None = None,
        refusal_retention: int | None = DEFAULT_RETENTION,
        handlers: Sequence[Observer] | None = None,
    ) -> None:
        if handlers is not None:
            _deprecated("Emit(handlers=...)", "Emit(observers=...)")
            observers = handlers if observers is None else observers
        if max_retries < 0:
            raise ValueError(f"max_retries cannot be negative, not {max_retries}.")
        if queue_timeout is not None and queue_timeout <= 0:
            raise ValueError(f"queue_timeout must be positive seconds, not {queue_timeout}.")
        if refusal_retention is not None and refusal_retention < 0:
            raise ValueError(
                f"refusal_retention cannot be negative, not {refusal_retention} (0: keep none)."
            )
        self._queue_timeout = -1 if queue_timeout is None else queue_timeout
        self._recorder: RefusalRecorder | None = None
        if refusal_retention and isinstance(store, RefusalLogStore):
            self._recorder = RefusalRecorder(store.refusals, refusal_retention)
        self.decider = decider
        self.store = store
        self.max_retries = max_retries
        self.on_evict = on_evict
        self.pool: AggregatePool[S] = AggregatePool(
            pool_size, idle_expiry=idle_expiry, on_evict=self._evicted
        )
        snapshots = None
        if snapshot_every is not None:
            snapshots = Snapshots(decider, snapshot_every, snapshot_version)
        self._metrics = MetricsRecorder()
        self._observers = Observers(
            [self._metrics, *([LoggingObserver()] if observers is None else observers)]
        )
        self._replayer: Replayer[E, S] = Replayer(decider, store, snapshots)
        self._loop: CommandLoop[C, E, S] = CommandLoop(
            decider,
            store,
            pool=self.pool,
            replayer=self._replayer,
            observers=self._observers,
            projecting=self._projecting,
            snapshots=snapshots,
            max_retries=max_retries,
        )
        self._projection_list = tuple(projections)
        self._projections: Projections | None = None
        if projections and self.projections.install_on_open:
            self.projections.install()

    @property
    def projections(self) -> Projections:
        """The projections this `Emit` keeps up to date: install, rebuild, status."""
        if self._projections is None:
            # Imported here: projections need SQL, and an `Emit` without any should not load it.
            from emit.subscribers.projections import Projections

            self._projections = Projections(
                self._projection_list, store=self.store, decode=self._replayer.recorded
            )
        return self._projections

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
        key = None if idempotency_key is None else creation_key(idempotency_key, aggregate_id)
        genesis = list(self.decider.genesis_events(aggregate_id))
        state = self.decider.fold(self.decider.initial_state, genesis)
        _, metadata_json = new_metadata("create", metadata)
        request = AppendRequest(
            aggregate_id,
            0,
            [self._loop.new_event(e, metadata_json) for e in genesis],
            before_commit=self._projecting(self._replayer.recorded_all),
            command_key=key,
        )
        match outcome(self._loop.commit.append(request)):
            case Written(stored):
                aggregate = Aggregate(aggregate_id, len(genesis), state)
                self.pool.add(LiveAggregate(aggregate))
                self._observers.events_appended(self._replayer.recorded_all(stored))
                return aggregate
            case Conflict() | Repeated():
                recorded = None if key is None else self.store.find_command(aggregate_id, key.key)
                if recorded is None or key is None or not key.names(recorded.fingerprint):
                    raise AggregateAlreadyExists(aggregate_id) from None
                version = recorded.last_version
                state = self._replayer.replay(aggregate_id, version)[1]
                return Aggregate(aggregate_id, version, state)
            case Refused(rejection=error) | Failed(error=error):  # only a resolver refuses
                raise error

    def fork(
        self,
        source_id: str,
        version: int,
        new_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Aggregate[S]:
        """Record a new aggregate `new_id` whose versions 1 to `version` are those of
        `source_id`: two futures of one past, to follow side by side.

        What is copied: each event's type and data (decoded and encoded again, so upcast to
        today's schema), its command name and its caller-given metadata. Each copy gets a new
        event id, its own position and timestamp, one correlation id for the whole fork, the
        origin event's id as causation id, and `metadata["forked_from"] == {"aggregate_id":
        source_id, "version": version}` (the first event, the fork's genesis, says where it
        came from). `metadata` is added to every copy. Not copied: idempotency keys (a command
        sent to the origin with a key is not a repeat on the fork) and snapshots.

        Guarantees: the copies are appended in one append, all or none, and the store records
        the fork (`fork_of`, `forks_of`) in that append's transaction. Projections see the
        copies as any new events; observers hear of them as appended. Afterwards the two
        aggregates are independent: a command on one never changes the other.

        Raises `AggregateNotFound` (no `source_id`), `VersionOutOfRange` (`version` not 1 to
        the origin's latest), `AggregateAlreadyExists` (`new_id` is taken; nothing written),
        `InvalidAggregateId`, `ValueError` (a `metadata` key emit sets itself),
        `ProjectionError`, `StorageError`, and `TypeError` for a store without the
        `ForkRecords` capability.
        """
        store = self._fork_records()
        check_aggregate_id(new_id)
        extra = check_fork_metadata(metadata)
        latest = self.store.stream_version(source_id)
        if latest == 0:
            raise AggregateNotFound(source_id)
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= latest:
            raise VersionOutOfRange(source_id, version, latest, lowest=1, purpose="to fork from")
        origin = self.history(source_id, up_to=version)
        request = AppendRequest(
            new_id,
            0,
            fork_events(self.decider, source_id, origin, extra),
            before_commit=both(
                self._projecting(self._replayer.recorded_all),
                store.recording_fork(new_id, source_id, version),
            ),
        )
        match outcome(self._loop.commit.append(request)):
            case Written(stored):
                events = (recorded.event for recorded in origin)
                state = self.decider.fold(self.decider.initial_state, events)
                aggregate = Aggregate(new_id, version, state)
                self.pool.add(LiveAggregate(aggregate))
                self._observers.events_appended(self._replayer.recorded_all(stored))
                return aggregate
            case Conflict() | Repeated():
                raise AggregateAlreadyExists(new_id) from None
            case Refused(rejection=error) | Failed(error=error):
                raise error

    def fork_of(self, aggregate_id: str) -> Fork | None:
        """Where `aggregate_id` was forked from (origin and version); None if `fork` did not
        make it. Looked up by id, not by reading the log."""
        return self._fork_records().fork_of(aggregate_id)

    def forks_of(self, aggregate_id: str) -> list[Fork]:
        """The forks made of `aggregate_id`, oldest first; looked up by id."""
        return self._fork_records().forks_of(aggregate_id)

    def _fork_records(self) -> ForkRecords:
        if not isinstance(self.store, ForkRecords):
            raise TypeError(
                f"Forks are recorded by the store, and {type(self.store).__name__} does not "
                "have the ForkRecords capability (emit/forks.py)."
            )
        return self.store

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
        key = None if idempotency_key is None else command_key(idempotency_key, command)
        try:
            document = new_metadata(type(command).__name__, metadata)  # refused before waiting
            live = self._locked_live(aggregate_id)
            try:
                result = self._loop.run(live, command, document, expected_version, key)
            finally:
                self._done(live)
        except CommandRejected as rejection:
            if self._recorder is not None:  # after the aggregate's lock is let go
                self._recorder.refused(
                    aggregate_id, command, rejection, document[0]["correlation_id"]
                )
            self._observers.command_rejected(
                aggregate_id, command, rejection, perf_counter_ns() - started
            )
            raise
        except Exception as error:
            self._observers.command_failed(
                aggregate_id, command, error, perf_counter_ns() - started
            )
            raise
        if result.events:
            self._observers.events_appended(result.events)
        self._observers.command_handled(aggregate_id, command, result, perf_counter_ns() - started)
        return result

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
                    "wait for the aggregate's earlier commands",
                    aggregate_id,
                    waited,
                    kind=StorageErrorKind.TIMEOUT,
                )
            if self.pool.holds(live):
                return live
            self._done(live)

    def _done(self, live: LiveAggregate[S]) -> None:
        live.lock.release()
        self.pool.done(live)

    # --- reading -------------------------------------------------------------------------------

    @property
    def refusals(self) -> RefusalLog | None:
        """The store's log of refused commands, newest first (emit/refusals.py); None for a
        store that keeps none. Readable even when this `Emit` records none."""
        return self.store.refusals if isinstance(self.store, RefusalLogStore) else None

    def aggregate(self, aggregate_id: str, *, catch_up: bool = False) -> Aggregate[S]:
        """The aggregate's id, version and state, from the pool or rebuilt from its events.

        The pool is only as fresh as this process's own writes; with several processes writing,
        `catch_up=True` first reads any newer events from the store. Raises `AggregateNotFound`.
        """
        if not catch_up:
            return self._live(aggregate_id).current
        live = self._locked_live(aggregate_id)
        try:
            live.current = self._replayer.caught_up(live.current)
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
        return [self._replayer.recorded(s) for s in stored]

    def state_at(self, aggregate_id: str, version: int) -> S:
        """The state replayed to `version` (0 is the initial state), without touching the live
        aggregate. Raises `AggregateNotFound`, `VersionOutOfRange`."""
        self._check_version(aggregate_id, version)
        return self._replayer.replay(aggregate_id, up_to=version)[1]

    def version_at(self, aggregate_id: str, moment: datetime) -> int:
        """The aggregate's version at `moment`: that of its last event recorded at or before it
        (0 if it did not exist yet). A naive `moment` is taken as UTC. Raises
        `AggregateNotFound`."""
        moment = as_utc(moment)
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
        return [self._replayer.recorded(s) for s in self.store.read_all(after=after, limit=limit)]

    def log(
        self,
        log_filter: LogFilter = NO_FILTER,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[RecordedEvent[E]]:
        """A page of the whole log, newest first: up to `limit` events of every aggregate that
        `log_filter` keeps, with `after < position < before`.

        For the next (older) page pass the last position of this one as `before`; for the
        page newer than it, its first position as `after` (alone). Paging so from the head to
        the start sees every event committed when it began exactly once, in strictly
        decreasing position, however many are appended meanwhile: positions are given in
        commit order. A page costs the same on a log of millions of events (no OFFSET, no
        count); a rare type or an old `until` costs a walk through the events after it.

        Raises `ValueError` for a limit below 1 or a negative bound, `EventDecodeError`."""
        stored = self.store.read_log(log_filter, before=before, after=after, limit=limit)
        return [self._replayer.recorded(s) for s in stored]

    def event_at(self, position: int) -> RecordedEvent[E] | None:
        """The event at global `position`, decoded; None if there is none. Raises
        `EventDecodeError`."""
        stored = self.store.event_at(position)
        return None if stored is None else self._replayer.recorded(stored)

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
        return self._replayer.recorded(stored)

    # --- operations ----------------------------------------------------------------------------

    def metrics(self) -> Metrics:
        """What this `Emit` has done since it was made (commands, events, conflicts, loads,
        the pool), the head position, and how far behind it each subscriber of the database
        is (read from the database, so subscribers run by other processes count too)."""
        head = self.store.head_position()
        lag: dict[str, int] = {}
        if isinstance(self.store, TransactionalStore):  # a store without one has no subscribers
            # Imported here: the facade does not load the subscribers' tables until they matter.
            from emit.subscribers.checkpoints import Checkpoints

            lag = Checkpoints(self.store.engine).lags(head)
        return self._metrics.snapshot(self.pool, head, lag)

    def live_aggregates(self, *, limit: int | None = None) -> list[PoolEntry]:
        """The aggregates in the pool, most recently used first: id, version, hits and when
        each was last used."""
        return self.pool.describe(limit)

    def evict(self, aggregate_id: str) -> bool:
        """Let the pool drop an aggregate (it is rebuilt from the store when next needed):
        now, or if commands are working on it, when they are done. Never waits. True if it was
        in the pool. Observers and `on_evict` hear of it as "requested"."""
        return self.pool.evict(aggregate_id, "requested")

    def add_observer(self, observer: Observer) -> None:
        """Tell `observer` of what happens from now on, after the observers there already are."""
        self._observers.add(observer)

    def remove_observer(self, observer: Observer) -> None:
        """Stop telling `observer`; nothing happens if it was not there."""
        self._observers.remove(observer)

    def add_handler(self, handler: Observer) -> None:
        """Deprecated: `add_observer`."""
        _deprecated("Emit.add_handler", "Emit.add_observer")
        self.add_observer(handler)

    def remove_handler(self, handler: Observer) -> None:
        """Deprecated: `remove_observer`."""
        _deprecated("Emit.remove_handler", "Emit.remove_observer")
        self.remove_observer(handler)

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
            version, state = self._replayer.replay(aggregate_id)
            if version == 0:
                raise AggregateNotFound(aggregate_id)
            live = self.pool.add(LiveAggregate(Aggregate(aggregate_id, version, state)), use=use)
            self._observers.aggregate_loaded(live.current, perf_counter_ns() - started)
        return live

    def _evicted(self, entry: LiveAggregate[Any], reason: str) -> None:
        self._observers.aggregate_evicted(entry.current, reason)
        if self.on_evict is not None:
            self.on_evict(entry, reason)

    def _projecting(
        self, recorded: Callable[[Sequence[StoredEvent]], Sequence[RecordedEvent[E]]]
    ) -> TransactionHook | None:
        """The append's hook that runs the projections on the events it stores, if any;
        `recorded` turns what the store wrote into recorded events."""
        if not self._projection_list:
            return None
        projections = self.projections

        def project(connection: Any, stored: Sequence[StoredEvent]) -> None:
            projections.apply(connection, recorded(stored))

        return project

    def _check_version(self, aggregate_id: str, version: int) -> int:
        latest = self.store.stream_version(aggregate_id)
        if latest == 0:
            raise AggregateNotFound(aggregate_id)
        if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= latest:
            raise VersionOutOfRange(aggregate_id, version, latest)
        return latest


def __getattr__(name: str) -> Any:
    # `fingerprint` was importable from here before it moved to emit/idempotency.py.
    if name == "fingerprint":
        _deprecated("emit.emit.fingerprint", "emit.fingerprint")
        return _fingerprint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated; use {new}.", DeprecationWarning, stacklevel=3)


__all__: Sequence[str] = ("Emit",)

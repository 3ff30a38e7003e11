"""The command path, top to bottom: decide, append, and on a conflict decide again.

`CommandLoop.run` is the whole of it, in numbered steps. An append ends in one of five
outcomes, each a value (`Written`, `Conflict`, `Repeated`, `Refused`, `Failed`) that the loop
matches on; nothing in between is an exception.

A conflict (another writer stored events first) is resolved in one of two ways. A command whose
meaning does not depend on what its sender saw is decided again on the fresh state, inside the
store's transaction (`_Decision.resolve`), so the retry cannot lose the race again. A command
sent with `expected_version` is never decided again: the caller is told the aggregate moved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from emit.commit import GroupCommit
from emit.decider import Decider
from emit.errors import (
    CommandRejected,
    ConcurrencyError,
    IdempotencyKeyReused,
    WrongExpectedVersion,
)
from emit.idempotency import describe
from emit.ids import new_id
from emit.observers import Observers
from emit.pool import AggregatePool, LiveAggregate
from emit.recorded import (
    Aggregate,
    CommandResult,
    Metadata,
    RecordedEvent,
)
from emit.replay import Replayer
from emit.snapshots import Snapshots
from emit.store import (
    AppendRequest,
    AppendResult,
    CommandAlreadyRecorded,
    CommandKey,
    EventStore,
    NewEvent,
    StoredCommand,
    StoredEvent,
    TransactionHook,
)

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")

# --- what an append ended in --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    """The events are durably stored (the store may have decided the command again first)."""

    stored: Sequence[StoredEvent]


@dataclass(frozen=True, slots=True)
class Conflict:
    """Another writer stored events first, and nothing was decided again inside the append."""

    error: ConcurrencyError


@dataclass(frozen=True, slots=True)
class Repeated:
    """The same command, sent with the same key, was stored first (by another process, say)."""

    command: StoredCommand


@dataclass(frozen=True, slots=True)
class Refused:
    """Decided again inside the append, on fresher state, the command was rejected."""

    rejection: CommandRejected


@dataclass(frozen=True, slots=True)
class Failed:
    """The store failed; the events may or may not be stored (see `StorageError.maybe_stored`)."""

    error: Exception


Outcome = Written | Conflict | Repeated | Refused | Failed


def outcome(result: AppendResult) -> Outcome:
    """What the store's answer to one append means."""
    if not isinstance(result, Exception):
        return Written(result)
    if isinstance(result, CommandAlreadyRecorded):
        return Repeated(result.command)
    if isinstance(result, ConcurrencyError):
        return Conflict(result)
    if isinstance(result, CommandRejected):
        return Refused(result)
    return Failed(result)


# --- the loop ------------------------------------------------------------------------------------

Projecting = Callable[
    [Callable[[Sequence[StoredEvent]], Sequence[RecordedEvent[Any]]]], TransactionHook | None
]


class CommandLoop(Generic[C, E, S]):
    """Handles commands for `Emit`: its decider, store, pool and observers, shared with it."""

    def __init__(
        self,
        decider: Decider[C, E, S],
        store: EventStore,
        *,
        pool: AggregatePool[S],
        replayer: Replayer[E, S],
        observers: Observers,
        projecting: Projecting,
        snapshots: Snapshots[S] | None,
        max_retries: int,
    ) -> None:
        self.decider = decider
        self.store = store
        self.pool = pool
        self.replayer = replayer
        self.observers = observers
        self.projecting = projecting
        self.snapshots = snapshots
        self.max_retries = max_retries
        self.commit = GroupCommit(store.append_many)

    def run(
        self,
        live: LiveAggregate[S],
        command: C,
        metadata: tuple[dict[str, Any], str],
        expected_version: int | None,
        key: CommandKey | None,
    ) -> CommandResult[E, S]:
        """Decide `command` on `live` (whose lock the caller holds) and store its events, with
        `metadata` (`new_metadata`'s document and text)."""
        aggregate_id = live.current.id
        document, metadata_json = metadata
        for attempt in range(1, self.max_retries + 2):
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
            # 3. Decide. Never refuse on stale state: another process may have moved on. One
            #    version read per rejection is cheap, and rejections are rare.
            try:
                decision = _Decision(self, command, live.current, document, metadata_json)
            except CommandRejected as rejection:
                if self.store.stream_version(aggregate_id) == live.current.version:
                    raise _rejected(rejection, live.current, command) from None
                self.observers.conflict_retried(aggregate_id, live.current.version, attempt)
                self._catch_up(live)
                continue
            first = decision.first
            if not first.events:
                return CommandResult(aggregate_id, first.base.state, first.base.version, ())
            # 4. Append. A stream that moved on is decided again inside the append, unless the
            #    caller expected a version (then steps 1 and 2 answer on the next turn).
            request = AppendRequest(
                aggregate_id,
                first.base.version,
                first.new_events,
                before_commit=self.projecting(decision.recorded),
                resolve=decision.resolve if expected_version is None else None,
                command_key=key,
            )
            # 5. What the append ended in.
            match outcome(self.commit.append(request)):
                case Written(stored):
                    return self._written(live, decision, stored, attempt)
                case Repeated(recorded):  # a repeat overtook us
                    return self._repeated(live, recorded, key, command)
                case Conflict():
                    self.observers.conflict_retried(aggregate_id, first.base.version, attempt)
                    self._catch_up(live)
                    if expected_version is not None:  # never decided again
                        return self._stale(live, expected_version, key, command)
                case Refused(refusal):  # by the store's resolver, on fresher state
                    if decision.rejected_on is not None:
                        self.observers.conflict_retried(aggregate_id, first.base.version, attempt)
                        live.current = decision.rejected_on
                    raise _rejected(refusal, live.current, command)
                case Failed(error):
                    # The commit may or may not have happened: forget what we think we know.
                    self.pool.discard(aggregate_id)
                    raise error
        raise ConcurrencyError(aggregate_id, live.current.version, None)

    def _written(
        self,
        live: LiveAggregate[S],
        decision: _Decision[C, E, S],
        stored: Sequence[StoredEvent],
        attempt: int,
    ) -> CommandResult[E, S]:
        chosen = decision.chosen(stored)
        if chosen is not decision.first:  # decided again by the store, inside the append
            self.observers.conflict_retried(live.current.id, decision.first.base.version, attempt)
        live.current = current = chosen.after()
        if self.snapshots is not None and self.snapshots.due(chosen.base.version, current.version):
            self.snapshots.write(self.store, current.id, current.version, current.state)
        return CommandResult(current.id, current.state, current.version, decision.recorded(stored))

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
        if key is None or not key.names(recorded.fingerprint):
            raise IdempotencyKeyReused(
                live.current.id,
                recorded.key,
                "a command of another type or with other fields",
                describe(command),
            )
        aggregate_id = recorded.stream_id
        events = self.store.read_stream(
            aggregate_id, after=recorded.first_version - 1, up_to=recorded.last_version
        )
        if live.current.version == recorded.last_version:
            state = live.current.state
        else:
            state = self.replayer.replay(aggregate_id, recorded.last_version)[1]
        self._catch_up(live)  # it was stored by someone, maybe not by us: the pool follows
        return CommandResult(
            aggregate_id, state, recorded.last_version, self.replayer.recorded_all(events)
        )

    def _catch_up(self, live: LiveAggregate[S]) -> None:
        live.current = self.replayer.caught_up(live.current)

    def new_event(self, event: object, metadata_json: str) -> NewEvent:
        type_name, schema_version, data = self.decider.encode_json(event)
        return NewEvent(new_id(), type_name, schema_version, data, metadata_json)


def _rejected(
    rejection: CommandRejected, decided_on: Aggregate[Any], command: object
) -> CommandRejected:
    rejection.aggregate_id = decided_on.id
    rejection.command = command
    rejection.version = decided_on.version
    return rejection


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
        loop: CommandLoop[C, E, S],
        command: C,
        base: Aggregate[S],
        metadata: dict[str, Any],
        metadata_json: str,
    ) -> None:
        self._loop = loop
        self._command = command
        self._metadata = metadata
        self._metadata_json = metadata_json
        self._origin = base
        self.first = _Variant(base, *self._decide(base.state))
        self._variants = {self.first.first_id: self.first}
        self._last = self.first  # the latest decision: what a resolver's empty answer keeps
        self.rejected_on: Aggregate[S] | None = None  # the fresh state a resolver refused on

    def _decide(self, state: S) -> tuple[list[E], S, list[NewEvent]]:
        decider = self._loop.decider
        events = list(decider.decide(self._command, state))
        new_events = [self._loop.new_event(e, self._metadata_json) for e in events]
        return events, decider.fold(state, events), new_events

    def resolve(self, newer: Sequence[StoredEvent]) -> Sequence[NewEvent]:
        """The store's callback: decide again on the state after `newer`, the events stored
        after the version this decision started from."""
        loop = self._loop
        origin = self._origin
        state = loop.decider.fold(origin.state, (loop.replayer.decode(s) for s in newer))
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
        metadata = Metadata.of(dict(self._metadata), stored[0].recorded_at)
        return tuple(RecordedEvent.of(s, e, metadata) for s, e in zip(stored, events, strict=True))


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

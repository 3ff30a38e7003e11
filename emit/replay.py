"""Replay: stored events decoded and folded into a state, from the latest snapshot if any.

Every read of an aggregate goes through here: loading it into the pool, catching up with what
other processes wrote, `state_at` and `history`. A stored event that does not fit its type
raises `EventDecodeError` naming the aggregate and the version.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

from emit.codec import CodecError
from emit.decider import Decider
from emit.errors import EventDecodeError
from emit.recorded import Aggregate, RecordedEvent, read_metadata
from emit.snapshots import Snapshots
from emit.store import EventData, EventStore, StoredEvent

E = TypeVar("E")
S = TypeVar("S")

# What stored data that does not fit its event type raises while being decoded.
_UNDECODABLE = (CodecError, ValueError, TypeError, KeyError)


class Replayer(Generic[E, S]):
    """Reads `decider`'s aggregates back from `store`, using and writing `snapshots`."""

    def __init__(
        self,
        decider: Decider[Any, E, S],
        store: EventStore,
        snapshots: Snapshots[S] | None = None,
    ) -> None:
        self.decider = decider
        self.store = store
        self.snapshots = snapshots

    def replay(self, aggregate_id: str, up_to: int | None = None) -> tuple[int, S]:
        """`(version, state)` at `up_to` (default: the latest), from the latest snapshot at or
        below it and the events after that; `(0, initial state)` for a missing aggregate."""
        snapshots = self.snapshots
        start, state = 0, self.decider.initial_state
        if snapshots is None:
            rows = self.store.read_stream_data(aggregate_id, up_to=up_to)
        else:
            stored, rows = self.store.read_from_snapshot(aggregate_id, snapshots.key, up_to=up_to)
            found = None if stored is None else snapshots.decode(stored)
            if found is not None:
                start, state = found
            elif stored is not None:  # it does not decode: the events it stood for are read
                rows = self.store.read_stream_data(aggregate_id, up_to=stored.version) + rows
        version = rows[-1][0] if rows else start
        state = self.fold(aggregate_id, state, rows)
        if snapshots is not None and snapshots.due(start, version):
            snapshots.write(self.store, aggregate_id, version, state)
        return version, state

    def caught_up(self, current: Aggregate[S]) -> Aggregate[S]:
        """`current` with the events other writers stored after its version applied."""
        newer = self.store.read_stream_data(current.id, after=current.version)
        if not newer:
            return current
        return Aggregate(current.id, newer[-1][0], self.fold(current.id, current.state, newer))

    def fold(self, aggregate_id: str, state: S, rows: Sequence[EventData]) -> S:
        """The state after the events of `rows` (the inner loop of every replay)."""
        return self.decider.fold(state, self._events(aggregate_id, rows))

    def _events(self, aggregate_id: str, rows: Sequence[EventData]) -> Iterator[object]:
        decode = self.decider.decode_json
        current = self.decider.current_decoders  # one look-up for the usual case: no upcasting
        for version, type_name, schema_version, data in rows:
            try:
                convert = current.get((type_name, schema_version))
                if convert is not None:
                    yield convert(data)
                else:
                    yield decode(type_name, schema_version, data)
            except _UNDECODABLE as error:
                raise EventDecodeError(aggregate_id, version, type_name, str(error)) from error

    def decode(self, stored: StoredEvent) -> E:
        """The event `stored` holds; raises `EventDecodeError`."""
        try:
            return self.decider.decode_json(stored.type, stored.schema_version, stored.data)  # type: ignore[return-value]
        except _UNDECODABLE as error:
            raise EventDecodeError(
                stored.stream_id, stored.version, stored.type, str(error)
            ) from error

    def recorded(self, stored: StoredEvent) -> RecordedEvent[E]:
        """`stored` decoded, with its metadata; raises `EventDecodeError`."""
        return RecordedEvent.of(
            stored, self.decode(stored), read_metadata(stored.metadata, stored.recorded_at)
        )

    def recorded_all(self, stored: Sequence[StoredEvent]) -> tuple[RecordedEvent[E], ...]:
        return tuple(self.recorded(s) for s in stored)

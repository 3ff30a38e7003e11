"""emit: event sourcing made a piece of cake.

A domain is a `Decider`: an initial state, `decide(command, state) -> events` and
`evolve(state, event) -> state`. `Emit` runs it on an event store (`InMemoryEventStore`, or
`SqlEventStore` on SQLite or PostgreSQL) with a bounded pool of live aggregates.
"""

from emit.codec import CodecError
from emit.decider import AggregateCreated, Decider
from emit.emit import CommandResult, Emit, check_aggregate_id
from emit.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    ConcurrencyError,
    EmitError,
    EventDecodeError,
    InvalidAggregateId,
    StorageError,
    VersionOutOfRange,
)
from emit.memory import InMemoryEventStore
from emit.pool import Aggregate, AggregatePool, LiveAggregate
from emit.recorded import Metadata, RecordedEvent
from emit.snapshots import Snapshots
from emit.sql import SqlEventStore, create_schema, make_engine
from emit.store import (
    AppendRequest,
    EventStore,
    NewEvent,
    StoredEvent,
    StoredSnapshot,
    StreamInfo,
)

__all__ = [
    "Aggregate",
    "AggregateAlreadyExists",
    "AggregateCreated",
    "AggregateNotFound",
    "AggregatePool",
    "AppendRequest",
    "CodecError",
    "CommandRejected",
    "CommandResult",
    "ConcurrencyError",
    "Decider",
    "Emit",
    "EmitError",
    "EventDecodeError",
    "EventStore",
    "InMemoryEventStore",
    "InvalidAggregateId",
    "LiveAggregate",
    "Metadata",
    "NewEvent",
    "RecordedEvent",
    "Snapshots",
    "SqlEventStore",
    "StorageError",
    "StoredEvent",
    "StoredSnapshot",
    "StreamInfo",
    "VersionOutOfRange",
    "check_aggregate_id",
    "create_schema",
    "make_engine",
]

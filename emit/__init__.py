"""emit: event sourcing made a piece of cake.

A domain is a `Decider`: an initial state, `decide(command, state) -> events` and
`evolve(state, event) -> state`. `Emit` runs it on an event store (`InMemoryEventStore`, or
`SqlEventStore` on SQLite or PostgreSQL) with a bounded pool of live aggregates.

Subscribers react to the events: `Projection`s keep read models inside the append's
transaction.
`Handler`s hear of everything `Emit` does; `Emit.metrics()` counts it.
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
    ProjectionError,
    ProjectionOutOfDate,
    StorageError,
    UnknownSubscriber,
    VersionOutOfRange,
)
from emit.handlers import Handler, LoggingHandler
from emit.memory import InMemoryEventStore
from emit.metrics import Metrics, Timing
from emit.pool import Aggregate, AggregatePool, LiveAggregate, PoolEntry
from emit.projections import Projection, Projections
from emit.recorded import Metadata, RecordedEvent
from emit.sql import SqlEventStore, create_schema, make_engine
from emit.store import AppendRequest, EventStore, NewEvent, StoredEvent, StreamInfo

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
    "Handler",
    "InMemoryEventStore",
    "InvalidAggregateId",
    "LiveAggregate",
    "LoggingHandler",
    "Metadata",
    "Metrics",
    "NewEvent",
    "PoolEntry",
    "Projection",
    "ProjectionError",
    "ProjectionOutOfDate",
    "Projections",
    "RecordedEvent",
    "SqlEventStore",
    "StorageError",
    "StoredEvent",
    "StreamInfo",
    "Timing",
    "UnknownSubscriber",
    "VersionOutOfRange",
    "check_aggregate_id",
    "create_schema",
    "make_engine",
]

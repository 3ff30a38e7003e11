"""emit: event sourcing made a piece of cake.

A domain is a `Decider`: an initial state, `decide(command, state) -> events` and
`evolve(state, event) -> state`. `Emit` runs it on an event store (`InMemoryEventStore`, or
`SqlEventStore` on SQLite or PostgreSQL) with a bounded pool of live aggregates.

Subscribers react to the events: `Projection`s keep read models inside the append's
transaction; `Policy`s run after the commit, from a durable checkpoint, under `Subscribers`.
`Handler`s hear of everything `Emit` does; `Emit.metrics()` counts it.
"""

from emit.checkpoints import Checkpoint
from emit.codec import CodecError
from emit.dead_letters import DeadLetter
from emit.decider import AggregateCreated, Decider
from emit.emit import CommandResult, Emit, check_aggregate_id, fingerprint
from emit.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    ConcurrencyError,
    DeadLetterBusy,
    DeadLetterNotFound,
    EmitError,
    EventDecodeError,
    IdempotencyKeyReused,
    InvalidAggregateId,
    InvalidIdempotencyKey,
    PolicyFailed,
    ProjectionError,
    ProjectionOutOfDate,
    StorageError,
    StorageErrorKind,
    UnknownSubscriber,
    VersionOutOfRange,
    WrongExpectedVersion,
)
from emit.handlers import Handler, LoggingHandler
from emit.memory import InMemoryEventStore
from emit.metrics import Metrics, Timing
from emit.policies import Backoff, Policy
from emit.pool import Aggregate, AggregatePool, LiveAggregate, PoolEntry
from emit.projections import Projection, Projections
from emit.recorded import Metadata, RecordedEvent
from emit.snapshots import Snapshots
from emit.sql import SqlEventStore, create_schema, make_engine
from emit.store import (
    AppendRequest,
    CommandAlreadyRecorded,
    CommandKey,
    EventStore,
    NewEvent,
    StoredCommand,
    StoredEvent,
    StoredSnapshot,
    StreamInfo,
)
from emit.subscribers import Subscribers, SubscriberStatus

__all__ = [
    "Aggregate",
    "AggregateAlreadyExists",
    "AggregateCreated",
    "AggregateNotFound",
    "AggregatePool",
    "AppendRequest",
    "Backoff",
    "Checkpoint",
    "CodecError",
    "CommandAlreadyRecorded",
    "CommandKey",
    "CommandRejected",
    "CommandResult",
    "ConcurrencyError",
    "DeadLetter",
    "DeadLetterBusy",
    "DeadLetterNotFound",
    "Decider",
    "Emit",
    "EmitError",
    "EventDecodeError",
    "EventStore",
    "Handler",
    "IdempotencyKeyReused",
    "InMemoryEventStore",
    "InvalidAggregateId",
    "InvalidIdempotencyKey",
    "LiveAggregate",
    "LoggingHandler",
    "Metadata",
    "Metrics",
    "NewEvent",
    "Policy",
    "PolicyFailed",
    "PoolEntry",
    "Projection",
    "ProjectionError",
    "ProjectionOutOfDate",
    "Projections",
    "RecordedEvent",
    "Snapshots",
    "SqlEventStore",
    "StorageError",
    "StorageErrorKind",
    "StoredCommand",
    "StoredEvent",
    "StoredSnapshot",
    "StreamInfo",
    "SubscriberStatus",
    "Subscribers",
    "Timing",
    "UnknownSubscriber",
    "VersionOutOfRange",
    "WrongExpectedVersion",
    "check_aggregate_id",
    "create_schema",
    "fingerprint",
    "make_engine",
]

"""emit: event sourcing made a piece of cake.

A domain is a `Decider`: an initial state, `decide(command, state) -> events` and
`evolve(state, event) -> state`. `Emit` runs it on an event store (`InMemoryEventStore`, or
`SqlEventStore` on SQLite or PostgreSQL) with a bounded pool of live aggregates.

Subscribers react to the events: `Projection`s keep read models inside the append's
transaction; `Policy`s run after the commit, from a durable checkpoint, under `Policies`.
`Observer`s hear of everything `Emit` does; `Emit.metrics()` counts it. Refused commands are
kept in a bounded log beside the events (`Emit.refusals`, emit/refusals.py).

Importing `emit` loads no database code: the SQL store and the subscribers (SQLAlchemy and a
driver) are imported the first time one of their names is used, so a domain that needs only
`Decider` and `CommandRejected` stays plain Python.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from emit import moved
from emit.codec import CodecError
from emit.decider import AggregateCreated, Decider
from emit.emit import Emit
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
from emit.forks import Fork, ForkRecords
from emit.idempotency import fingerprint
from emit.ids import check_aggregate_id
from emit.log import LogFilter
from emit.memory import InMemoryEventStore
from emit.metrics import Metrics, Timing
from emit.observers import LoggingObserver, Observer
from emit.pool import AggregatePool, LiveAggregate, PoolEntry
from emit.recorded import Aggregate, CommandResult, Metadata, RecordedEvent
from emit.refusals import InMemoryRefusalLog, NewRefusal, Refusal, RefusalLog, RefusalLogStore
from emit.snapshots import Snapshots
from emit.store import (
    AppendRequest,
    CommandAlreadyRecorded,
    CommandKey,
    EventStore,
    NewEvent,
    NotifyingStore,
    StoredCommand,
    StoredEvent,
    StoredSnapshot,
    StreamInfo,
    TransactionalStore,
)
from emit.watcher import HeadWatcher

if TYPE_CHECKING:
    from emit.sql import SqlEventStore, create_schema, make_engine
    from emit.subscribers.checkpoints import Checkpoint
    from emit.subscribers.dead_letters import DeadLetter
    from emit.subscribers.policies import Backoff, Policy
    from emit.subscribers.projections import Projection, Projections
    from emit.subscribers.runner import Policies, Subscribers
    from emit.subscribers.status import SubscriberStatus

moved.install()  # old module paths (emit.handlers, emit.projections, ...) still import

# Public names whose modules need SQLAlchemy: imported on first use.
_LAZY = {
    "Checkpoint": "emit.subscribers.checkpoints",
    "DeadLetter": "emit.subscribers.dead_letters",
    "Backoff": "emit.subscribers.policies",
    "Policy": "emit.subscribers.policies",
    "Projection": "emit.subscribers.projections",
    "Projections": "emit.subscribers.projections",
    "Policies": "emit.subscribers.runner",
    "Subscribers": "emit.subscribers.runner",  # deprecated: `Policies` (it warns when made)
    "SubscriberStatus": "emit.subscribers.status",
    "SqlEventStore": "emit.sql",
    "create_schema": "emit.sql",
    "make_engine": "emit.sql",
}

# Old names, kept working with a warning.
_DEPRECATED = {"Handler": "Observer", "LoggingHandler": "LoggingObserver"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    if name in _DEPRECATED:
        new = _DEPRECATED[name]
        warnings.warn(
            f"emit.{name} is deprecated; use emit.{new}.", DeprecationWarning, stacklevel=2
        )
        return globals()[new]
    raise AttributeError(f"module 'emit' has no attribute {name!r}")


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
    "Fork",
    "ForkRecords",
    "HeadWatcher",
    "IdempotencyKeyReused",
    "InMemoryEventStore",
    "InMemoryRefusalLog",
    "InvalidAggregateId",
    "InvalidIdempotencyKey",
    "LiveAggregate",
    "LogFilter",
    "LoggingObserver",
    "Metadata",
    "Metrics",
    "NewEvent",
    "NewRefusal",
    "NotifyingStore",
    "Observer",
    "Policies",
    "Policy",
    "PolicyFailed",
    "PoolEntry",
    "Projection",
    "ProjectionError",
    "ProjectionOutOfDate",
    "Projections",
    "RecordedEvent",
    "Refusal",
    "RefusalLog",
    "RefusalLogStore",
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
    "TransactionalStore",
    "UnknownSubscriber",
    "VersionOutOfRange",
    "WrongExpectedVersion",
    "check_aggregate_id",
    "create_schema",
    "fingerprint",
    "make_engine",
]

"""Forks: a new aggregate that starts as a copy of another one's first N events, so that two
futures of one past can be followed side by side.

`Emit.fork` builds the copy here (`fork_request`) and appends it in one request; the store
records where the fork came from (a `Fork`) in that append's transaction, so a fork and its
record exist together or not at all. A store offers this with the `ForkRecords` capability:
`SqlEventStore` keeps the records in `emit_forks`, `InMemoryEventStore` in a dict. Both answer
"where did this aggregate come from" and "which forks were made of it" by their key, never by
reading the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from emit.codec import check_plain_json, to_json
from emit.decider import Decider
from emit.ids import new_command_id, new_id
from emit.recorded import RESERVED_METADATA, RecordedEvent
from emit.store import NewEvent, StoredEvent, TransactionHook

E = TypeVar("E")

# The metadata key each of a fork's events carries: {"aggregate_id": origin, "version": N}.
FORKED_FROM = "forked_from"


@dataclass(frozen=True, slots=True)
class Fork:
    """Aggregate `aggregate_id` began as a copy of versions 1 to `version` of `origin_id`, at
    `forked_at` (when the copy was stored)."""

    aggregate_id: str
    origin_id: str
    version: int
    forked_at: datetime


@runtime_checkable
class ForkRecords(Protocol):
    """A store that records forks with their events and finds them again by id. Ask with
    `isinstance(store, ForkRecords)`."""

    def recording_fork(self, aggregate_id: str, origin_id: str, version: int) -> TransactionHook:
        """The `before_commit` hook that records the fork inside the transaction of the append
        storing its events: if that append stores nothing, nothing is recorded."""
        ...

    def fork_of(self, aggregate_id: str) -> Fork | None:
        """Where `aggregate_id` was forked from; None if it was not made by a fork."""
        ...

    def forks_of(self, aggregate_id: str) -> list[Fork]:
        """The forks made of `aggregate_id`, oldest first (each names its own version)."""
        ...


def fork_metadata(
    origin: RecordedEvent[Any],
    correlation_id: str,
    forked_from: dict[str, Any],
    extra: Mapping[str, Any],
) -> str:
    """The stored metadata text of the copy of `origin`: the origin's command and its own extra
    keys (a `forked_from` of its own replaced), `extra` over them, `forked_from`, one
    correlation id for the whole fork, and the origin event's id as causation."""
    document: dict[str, Any] = {
        "correlation_id": correlation_id,
        "causation_id": str(origin.event_id),
        "command": origin.metadata.command,
        **{k: v for k, v in origin.metadata.extra.items() if k != FORKED_FROM},
        **extra,
        FORKED_FROM: forked_from,
    }
    return to_json(document)


def check_fork_metadata(extra: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`extra`, or `ValueError` for a key emit sets itself or a value JSON cannot hold."""
    if not extra:
        return {}
    clash = (RESERVED_METADATA | {FORKED_FROM}).intersection(extra)
    if clash:
        raise ValueError(f"Metadata keys {sorted(clash)} are set by emit itself.")
    try:
        check_plain_json(extra)
    except TypeError as error:
        raise ValueError(f"Metadata must be JSON-serialisable: {error}") from None
    return extra


def fork_events(
    decider: Decider[Any, E, Any],
    origin_id: str,
    events: Sequence[RecordedEvent[E]],
    extra: Mapping[str, Any],
) -> list[NewEvent]:
    """The origin's `events` (versions 1 to N) as new events of a fork: the same types and
    data, encoded again by `decider` (so upcast to today's schema), with new event ids."""
    forked_from = {"aggregate_id": origin_id, "version": len(events)}
    correlation_id = str(new_command_id())
    new_events = []
    for recorded in events:
        type_name, schema_version, data = decider.encode_json(recorded.event)
        metadata = fork_metadata(recorded, correlation_id, forked_from, extra)
        new_events.append(NewEvent(new_id(), type_name, schema_version, data, metadata))
    return new_events


def both(first: TransactionHook | None, then: TransactionHook) -> TransactionHook:
    """One hook that runs `first` (if any), then `then`: a store that cannot roll a hook's
    writes back (the in-memory one) sees `then` only once `first` has passed."""
    if first is None:
        return then

    def run(connection: Any, stored: Sequence[StoredEvent]) -> None:
        first(connection, stored)
        then(connection, stored)

    return run

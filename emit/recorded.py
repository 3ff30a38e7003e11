"""What a caller reads back: an event as it was recorded, decoded, with its metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

E = TypeVar("E")

RESERVED_METADATA = frozenset({"timestamp", "command", "correlation_id", "causation_id"})


@dataclass(frozen=True, slots=True)
class Metadata:
    """When and why an event was recorded.

    `correlation_id` ties together everything one request set off; `causation_id` names what
    caused this event directly (the command's id, or the event a policy reacted to); `command` is
    the command type's name. `extra` holds whatever the caller passed.
    """

    timestamp: datetime
    correlation_id: str
    causation_id: str | None
    command: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp.isoformat(),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "command": self.command,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class RecordedEvent(Generic[E]):
    """One event of an aggregate's history.

    `version` counts from 1 within the aggregate; `position` is the event's place in the whole
    store's log (gap-free, in commit order); `type` and `schema_version` are how it is stored.
    """

    aggregate_id: str
    version: int
    position: int
    event_id: UUID
    type: str
    schema_version: int
    event: E
    metadata: Metadata

    @property
    def recorded_at(self) -> datetime:
        return self.metadata.timestamp

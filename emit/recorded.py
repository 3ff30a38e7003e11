"""What a caller reads back: an aggregate at one version, an event as it was recorded (decoded,
with its metadata), and what a handled command did. Values, all of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID

from emit.codec import check_plain_json, from_json, to_json
from emit.ids import new_command_id

if TYPE_CHECKING:
    from emit.store import StoredEvent

E = TypeVar("E")
S = TypeVar("S")

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

    @classmethod
    def of(cls, document: dict[str, Any], timestamp: datetime) -> Metadata:
        """The metadata of a stored metadata document (which it takes apart) and time."""
        return cls(
            timestamp=timestamp,
            correlation_id=document.pop("correlation_id", ""),
            causation_id=document.pop("causation_id", None),
            command=document.pop("command", None),
            extra=document,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp.isoformat(),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "command": self.command,
            **self.extra,
        }


def new_metadata(command: str, extra: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The metadata document of one command's events, and its JSON text as it is stored: a new
    command id as correlation and causation id (unless `extra` sets them), the command's name,
    and `extra`. The timestamp is the store's, not part of the text.

    Raises `ValueError` for a key of `extra` that emit sets itself, or a value JSON cannot hold.
    """
    command_id = str(new_command_id())
    document: dict[str, Any] = {
        "correlation_id": command_id,
        "causation_id": command_id,
        "command": command,
    }
    if extra:
        clash = RESERVED_METADATA.intersection(extra) - {"correlation_id", "causation_id"}
        if clash:
            raise ValueError(f"Metadata keys {sorted(clash)} are set by emit itself.")
        document.update(extra)
        try:
            check_plain_json(extra)
        except TypeError as error:
            raise ValueError(f"Metadata must be JSON-serialisable: {error}") from None
    return document, to_json(document)


def read_metadata(text: str, timestamp: datetime) -> Metadata:
    """`Metadata` from its stored JSON text and the time its event was recorded."""
    return Metadata.of(from_json(text), timestamp)


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

    @classmethod
    def of(cls, stored: StoredEvent, event: E, metadata: Metadata) -> RecordedEvent[E]:
        """The recorded event for what the store holds (`stored`), decoded (`event`)."""
        return cls(
            stored.stream_id,
            stored.version,
            stored.position,
            stored.event_id,
            stored.type,
            stored.schema_version,
            event,
            metadata,
        )


@dataclass(frozen=True, slots=True)
class Aggregate(Generic[S]):
    """An aggregate's id, version and state at one moment. A value: it does not change when
    later commands do; ask `Emit` again for the current one."""

    id: str
    version: int
    state: S


@dataclass(frozen=True, slots=True)
class CommandResult(Generic[E, S]):
    """What a handled command did: the events it recorded (none if it changed nothing), and the
    aggregate's state and version right after them."""

    aggregate_id: str
    state: S
    version: int
    events: tuple[RecordedEvent[E], ...]

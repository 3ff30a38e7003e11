"""Policies: what should happen after an event is committed ("when a cart is checked out, issue
a receipt").

A policy is a name and `handle(connection, event)`. `Policies` (runner.py) runs it on every
event of the store, in position order, after the event's commit, from a checkpoint kept in the
same database. `handle` may:

- write to the database through `connection` (SQLAlchemy Core). Those writes commit in one
  transaction with the policy's checkpoint: they happen exactly once, even across crashes.
  Do not commit or roll back `connection` yourself;
- send commands through an `Emit`, or talk to the outside world (mail, HTTP). Those happen at
  least once: a crash after them and before the checkpoint's commit repeats them. Make them
  idempotent: a decider that refuses the second `IssueReceipt`, an idempotency key.
  (On SQLite, send commands before writing through `connection`: once the policy's transaction
  has written, it holds the database's write lock, and the command would wait for it.)

What a policy does in reaction names the event as its cause (`Cause.of(event)`): a command it
sends carries `cause.metadata()`, so its events share the event's correlation id and have the
event's id as their causation id; a row it writes can keep `cause.event_id`, `cause.position`
and `cause.correlation_id`. `emit.causation.explain` then finds them under the event.

When `handle` raises, the event is tried again after a backoff, up to `max_attempts` tries in
all; then it is parked as a dead letter and the policy moves on to the next event. Dead letters
can be retried or skipped later (`Policies.retry_dead_letter`, `skip_dead_letter`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

import sqlalchemy as sa

from emit.recorded import RecordedEvent
from emit.sql import MAX_ID_LENGTH

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Backoff:
    """The wait before each retry: `first` seconds, then `factor` times longer each time, never
    more than `longest` seconds."""

    first: float = 0.5
    factor: float = 2.0
    longest: float = 60.0

    def __post_init__(self) -> None:
        if self.first < 0 or self.factor < 1 or self.longest < self.first:
            raise ValueError(
                "Backoff needs first >= 0, factor >= 1 and longest >= first; "
                f"got first={self.first}, factor={self.factor}, longest={self.longest}."
            )

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt (1, 2, ...)."""
        return float(min(self.longest, self.first * self.factor ** max(0, failures - 1)))


@dataclass(frozen=True, eq=False)
class Policy(Generic[E]):
    """Reacts to committed events: `handle(connection, event)`; see the module docstring.

    - `name` identifies its checkpoint and dead letters; unique per database (projections
      included).
    - `types`: the event classes it reacts to; others are passed over without calling
      `handle` (and without a transaction each). None: every event.
    - `tables`: tables it writes to, created with the schema if missing. (They are never
      emptied: a policy's effects are not rebuilt.)
    - `max_attempts`: tries per event, the first included, before it becomes a dead letter.
    - `backoff`: the waits between tries.
    """

    name: str
    handle: Callable[[sa.Connection, RecordedEvent[E]], None]
    types: Collection[type] | None = None
    tables: Sequence[sa.Table] = ()
    max_attempts: int = 5
    backoff: Backoff = Backoff()
    _type_names: frozenset[str] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or len(self.name) > MAX_ID_LENGTH:
            raise ValueError(f"A policy needs a name of 1 to {MAX_ID_LENGTH} characters.")
        if self.max_attempts < 1:
            raise ValueError(f"Policy {self.name!r}: max_attempts must be at least 1.")
        names = None if self.types is None else frozenset(t.__name__ for t in self.types)
        object.__setattr__(self, "_type_names", names)

    def wants(self, type_name: str) -> bool:
        """Whether events stored under `type_name` go to `handle`."""
        return self._type_names is None or type_name in self._type_names


@dataclass(frozen=True, slots=True)
class Cause:
    """The event a policy reacts to, as what it does records it: its id, position and
    correlation id."""

    event_id: UUID
    position: int
    correlation_id: str

    @classmethod
    def of(cls, event: RecordedEvent[Any]) -> Cause:
        return cls(event.event_id, event.position, event.metadata.correlation_id)

    def metadata(self) -> dict[str, str]:
        """Metadata for a command sent in reaction (`Emit.handle_command(..., metadata=)`): its
        events keep the event's correlation id and name the event as their causation."""
        return {"correlation_id": self.correlation_id, "causation_id": str(self.event_id)}


def describe_error(error: BaseException) -> str:
    """One line for a person: the exception's type and message."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__

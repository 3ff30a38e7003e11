"""The operator's view of the subscribers: each projection's and policy's state, read from the
database, so that it shows the subscribers of every process, not only this one's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from emit.sql import storage_errors
from emit.store import TransactionalStore
from emit.subscribers.checkpoints import PROJECTION, Checkpoint, Checkpoints
from emit.subscribers.dead_letters import DeadLetters


@dataclass(frozen=True, slots=True)
class SubscriberStatus:
    """A projection's or policy's state, as the database has it, for an operator.

    `state` is "up to date", "catching up", "retrying" (its next event failed; see `attempts`,
    `last_error`, `retry_at`) or "stopped" (no runner holds its lease) for a policy, and
    "up to date" or "behind" for a projection (behind: another process appended without it;
    the next append here fills the gap).
    """

    name: str
    kind: str
    position: int
    head: int
    lag: int
    state: str
    attempts: int
    last_error: str | None
    retry_at: datetime | None
    owner: str | None
    dead_letters: int
    updated_at: datetime


def read_status(
    store: TransactionalStore, checkpoints: Checkpoints, dead_letters: DeadLetters
) -> list[SubscriberStatus]:
    """Every projection and policy of the database, by name: its checkpoint, lag behind the
    head, state, last error and dead letters. Raises `StorageError`."""
    head = store.head_position()
    with storage_errors("read the subscribers' checkpoints"):
        counts = dead_letters.counts()
        rows = checkpoints.read_all()
    return [_status(row, head, counts.get(row.name, 0)) for row in rows]


def _status(checkpoint: Checkpoint, head: int, dead_letters: int) -> SubscriberStatus:
    lag = max(0, head - checkpoint.position)
    if checkpoint.kind == PROJECTION:
        state = "up to date" if lag == 0 else "behind"
    elif not checkpoint.leased:
        state = "stopped"
    elif checkpoint.attempts:
        state = "retrying"
    else:
        state = "up to date" if lag == 0 else "catching up"
    return SubscriberStatus(
        name=checkpoint.name,
        kind=checkpoint.kind,
        position=checkpoint.position,
        head=head,
        lag=lag,
        state=state,
        attempts=checkpoint.attempts,
        last_error=checkpoint.last_error,
        retry_at=checkpoint.retry_at,
        owner=checkpoint.owner if checkpoint.leased else None,
        dead_letters=dead_letters,
        updated_at=checkpoint.updated_at,
    )

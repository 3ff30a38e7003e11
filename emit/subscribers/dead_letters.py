"""Dead letters: events a policy failed on too often, parked so that the policy could move on.

A dead letter stays in `emit_dead_letters`, next to the events, until someone retries it (the
policy handles the event once more; on success the dead letter is gone, in the same transaction
as the policy's effects) or skips it (it is dropped without being handled).

A retry first claims the dead letter for a short while (`claimed_by`, `claimed_until` by the
database's clock), so two people pressing Retry at once cannot both run the policy; a claim
left behind by a crashed process expires.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from emit.clock import as_utc, now
from emit.errors import DeadLetterBusy, DeadLetterNotFound
from emit.sql import MAX_ID_LENGTH, metadata, write_connection
from emit.store import StoredEvent
from emit.subscribers.checkpoints import database_clock

dead_letters = sa.Table(
    "emit_dead_letters",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("policy", sa.String(MAX_ID_LENGTH), nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("aggregate_id", sa.String(MAX_ID_LENGTH), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("error", sa.Text, nullable=False),  # one line: the exception's type and message
    sa.Column("traceback", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_by", sa.String(MAX_ID_LENGTH)),
    sa.Column("claimed_until", sa.Float),  # seconds since 1970 by the database's clock
    sa.UniqueConstraint("policy", "position", name="emit_dead_letters_policy_position"),
    # Ids are never reused (PostgreSQL's sequence never does): a stale page's Retry or Skip
    # names a dead letter that is gone, never another one. Files from before are upgraded by
    # `create_schema`.
    sqlite_autoincrement=True,
    # `policy` was called `subscriber` until 2026-12-03: `create_schema` renames it (and the
    # unique constraint) in a database made before.
    info={
        "renamed_columns": {"subscriber": "policy"},
        "renamed_constraints": {
            "emit_dead_letters_subscriber_position": "emit_dead_letters_policy_position"
        },
    },
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event `policy` gave up on: where it is, what went wrong, how often.
    `being_retried` is true while someone's retry holds it."""

    id: int
    policy: str
    position: int
    aggregate_id: str
    version: int
    event_type: str
    error: str
    traceback: str
    attempts: int
    failed_at: datetime
    being_retried: bool

    @property
    def subscriber(self) -> str:
        """Deprecated: the old name of `policy`."""
        warnings.warn(
            "DeadLetter.subscriber is deprecated; use DeadLetter.policy.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.policy


class DeadLetters:
    """The dead letters of one database. Methods taking a `connection` run in the caller's
    transaction; the others run in one of their own."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._clock = database_clock(engine)

    def _select(self) -> sa.Select[Any]:
        d = dead_letters.c
        claimed = sa.and_(d.claimed_by.is_not(None), d.claimed_until > self._clock)
        return sa.select(
            d.id,
            d.policy,
            d.position,
            d.aggregate_id,
            d.version,
            d.event_type,
            d.error,
            d.traceback,
            d.attempts,
            d.failed_at,
            sa.case((claimed, True), else_=False),
        )

    def park(
        self,
        connection: sa.Connection,
        policy: str,
        event: StoredEvent,
        *,
        error: str,
        traceback: str,
        attempts: int,
    ) -> None:
        connection.execute(
            sa.insert(dead_letters).values(
                policy=policy,
                position=event.position,
                aggregate_id=event.stream_id,
                version=event.version,
                event_type=event.type,
                error=error,
                traceback=traceback,
                attempts=attempts,
                failed_at=now(),
            )
        )

    def read(
        self, *, policy: str | None = None, aggregate_id: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        """Dead letters in order of policy and position; of one policy, of one aggregate's
        events, if given."""
        query = self._select().order_by(dead_letters.c.policy, dead_letters.c.position)
        if policy is not None:
            query = query.where(dead_letters.c.policy == policy)
        if aggregate_id is not None:
            query = query.where(dead_letters.c.aggregate_id == aggregate_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit)).all()
        return [_dead_letter(row) for row in rows]

    def at(self, position: int) -> list[DeadLetter]:
        """The dead letters of the event at `position` (one per policy that gave up on it)."""
        query = self._select().where(dead_letters.c.position == position)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(dead_letters.c.policy)).all()
        return [_dead_letter(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many dead letters each policy has (policies with none are left out)."""
        d = dead_letters.c
        query = sa.select(d.policy, sa.func.count()).group_by(d.policy)
        with self.engine.connect() as connection:
            return {name: int(count) for name, count in connection.execute(query).all()}

    def get(self, dead_letter_id: int) -> DeadLetter:
        with self.engine.connect() as connection:
            return self._get(connection, dead_letter_id)

    def _get(self, connection: sa.Connection, dead_letter_id: int) -> DeadLetter:
        query = self._select().where(dead_letters.c.id == dead_letter_id)
        row = connection.execute(query).first()
        if row is None:
            raise DeadLetterNotFound(dead_letter_id)
        return _dead_letter(row)

    def claim(self, dead_letter_id: int, token: str, ttl: float) -> DeadLetter:
        """Hold the dead letter for `ttl` seconds under `token`. Raises `DeadLetterNotFound`,
        `DeadLetterBusy` (someone else holds it)."""
        d = dead_letters.c
        with write_connection(self.engine) as connection:
            result = connection.execute(
                sa.update(dead_letters)
                .where(d.id == dead_letter_id, self._unclaimed())
                .values(claimed_by=token, claimed_until=self._clock + ttl)
            )
            dead_letter = self._get(connection, dead_letter_id)
            if result.rowcount != 1:
                raise DeadLetterBusy(dead_letter_id)
            connection.commit()
        return dead_letter

    def resolve(self, connection: sa.Connection, dead_letter_id: int, token: str) -> None:
        """Remove a dead letter claimed under `token`, in the transaction of the policy's
        effects; raises `DeadLetterBusy` if the claim was lost meanwhile (roll back)."""
        d = dead_letters.c
        result = connection.execute(
            sa.delete(dead_letters).where(d.id == dead_letter_id, d.claimed_by == token)
        )
        if result.rowcount != 1:
            raise DeadLetterBusy(dead_letter_id)

    def fail(self, dead_letter_id: int, token: str, *, error: str, traceback: str) -> None:
        """After a failed retry: count the attempt, keep the new error, drop the claim."""
        d = dead_letters.c
        with write_connection(self.engine) as connection:
            connection.execute(
                sa.update(dead_letters)
                .where(d.id == dead_letter_id, d.claimed_by == token)
                .values(
                    attempts=d.attempts + 1,
                    error=error,
                    traceback=traceback,
                    failed_at=now(),
                    claimed_by=None,
                    claimed_until=None,
                )
            )
            connection.commit()

    def release(self, dead_letter_id: int, token: str) -> None:
        """Let go of a claim made under `token`, counting no attempt (the retry never ran to
        its end: the database failed)."""
        d = dead_letters.c
        with write_connection(self.engine) as connection:
            connection.execute(
                sa.update(dead_letters)
                .where(d.id == dead_letter_id, d.claimed_by == token)
                .values(claimed_by=None, claimed_until=None)
            )
            connection.commit()

    def skip(self, dead_letter_id: int) -> DeadLetter:
        """Drop a dead letter without handling it; the one dropped. Raises
        `DeadLetterNotFound`, `DeadLetterBusy` (a retry holds it)."""
        with write_connection(self.engine) as connection:
            dead_letter = self._get(connection, dead_letter_id)
            d = dead_letters.c
            result = connection.execute(
                sa.delete(dead_letters).where(d.id == dead_letter_id, self._unclaimed())
            )
            if result.rowcount != 1:
                raise DeadLetterBusy(dead_letter_id)
            connection.commit()
        return dead_letter

    def _unclaimed(self) -> sa.ColumnElement[bool]:
        d = dead_letters.c
        return sa.or_(d.claimed_by.is_(None), d.claimed_until < self._clock)


def _dead_letter(row: Any) -> DeadLetter:
    return DeadLetter(
        id=int(row[0]),
        policy=row[1],
        position=int(row[2]),
        aggregate_id=row[3],
        version=int(row[4]),
        event_type=row[5],
        error=row[6],
        traceback=row[7],
        attempts=int(row[8]),
        failed_at=as_utc(row[9]) or now(),
        being_retried=bool(row[10]),
    )

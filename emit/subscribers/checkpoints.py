"""Checkpoints: how far each subscriber has got in the global log, kept in the store's database.

One row per subscriber in `emit_checkpoints`, next to the events:

- a projection's row moves inside every append's transaction, so it always equals what its read
  model has seen;
- a policy's row moves in the transaction of the policy's own effects (exactly once for
  whatever the policy writes through its connection), and also holds the policy's lease and its
  retry state (failed attempts on the next event, the last error), so any process can show them.

A lease names the runner that may process a policy (`owner`) until `lease_expires`, in seconds
of the database's own clock, so runners on several hosts need no clock of their own to agree.
Every checkpoint move of a policy is fenced by its owner: a runner that lost its lease (it was
frozen for longer than the lease) cannot commit, and its effects roll back with the move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from emit.clock import as_utc, now
from emit.sql import (
    MAX_ID_LENGTH,
    compile_named,
    dialect_for,
    dialect_insert,
    metadata,
    storage_errors,
    write_connection,
)

PROJECTION = "projection"
POLICY = "policy"

checkpoints = sa.Table(
    "emit_checkpoints",
    metadata,
    sa.Column("name", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),  # PROJECTION or POLICY
    sa.Column("position", sa.BigInteger, nullable=False),  # the last event handled
    sa.Column("revision", sa.Integer, nullable=False),  # a projection's revision it was built by
    sa.Column("attempts", sa.Integer, nullable=False),  # failed tries on the event after it
    sa.Column("last_error", sa.Text),
    sa.Column("retry_at", sa.DateTime(timezone=True)),
    sa.Column("owner", sa.String(MAX_ID_LENGTH)),
    sa.Column("lease_expires", sa.Float),  # seconds since 1970 by the database's clock
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One subscriber's row: its position, retry state and lease, as the database has them.

    `leased` is true while a runner holds the lease (it has not expired by the database's clock).
    """

    name: str
    kind: str
    position: int
    revision: int
    attempts: int
    last_error: str | None
    retry_at: datetime | None
    owner: str | None
    leased: bool
    updated_at: datetime


class LeaseLost(Exception):
    """This runner no longer holds the policy's lease: another runner took it over."""

    def __init__(self, name: str, owner: str) -> None:
        self.name = name
        super().__init__(f"Runner {owner!r} lost the lease of policy {name!r}.")


def database_clock(engine: sa.Engine) -> sa.ColumnElement[float]:
    """Now, in seconds since 1970, by the database server's clock."""
    return sa.literal_column(dialect_for(engine).clock, sa.Float)


class Checkpoints:
    """The checkpoint rows of one database. Methods taking a `connection` run in the caller's
    transaction; the others run in one of their own."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._clock = database_clock(engine)
        self._insert = dialect_insert(engine)
        c = checkpoints.c
        bind = sa.bindparam
        # Runs in every append's transaction, once per projection: compiled once, and run on
        # the driver's cursor, like the store's own statements.
        self._advance_projection = compile_named(
            engine,
            sa.update(checkpoints)
            .where(
                c.name == bind("name"),
                c.revision == bind("revision"),
                c.position == bind("after"),
            )
            .values(position=bind("to")),
        )

    # --- reading -------------------------------------------------------------------------------

    def _select(self) -> sa.Select[Any]:
        c = checkpoints.c
        leased = sa.and_(c.owner.is_not(None), c.lease_expires > self._clock)
        return sa.select(
            c.name,
            c.kind,
            c.position,
            c.revision,
            c.attempts,
            c.last_error,
            c.retry_at,
            c.owner,
            sa.case((leased, True), else_=False),
            c.updated_at,
        )

    def read(self, connection: sa.Connection, name: str) -> Checkpoint | None:
        row = connection.execute(self._select().where(checkpoints.c.name == name)).first()
        return None if row is None else _checkpoint(row)

    def read_all(self) -> list[Checkpoint]:
        """Every subscriber's row, ordered by name."""
        with self.engine.connect() as connection:
            rows = connection.execute(self._select().order_by(checkpoints.c.name)).all()
        return [_checkpoint(row) for row in rows]

    def lags(self, head: int) -> dict[str, int]:
        """How far behind `head` each subscriber is, by name. Raises `StorageError`."""
        with storage_errors("read the subscribers' checkpoints"):
            return {c.name: max(0, head - c.position) for c in self.read_all()}

    # --- writing -------------------------------------------------------------------------------

    def ensure(self, connection: sa.Connection, name: str, kind: str, *, revision: int = 1) -> None:
        """Add the subscriber's row at position 0 unless it has one."""
        insert = self._insert(checkpoints).values(
            name=name,
            kind=kind,
            position=0,
            revision=revision,
            attempts=0,
            updated_at=now(),
        )
        connection.execute(insert.on_conflict_do_nothing())

    def ensure_all(self, kind: str, names: Iterable[str]) -> None:
        with write_connection(self.engine) as connection:
            for name in names:
                self.ensure(connection, name, kind)
            connection.commit()

    def take_over(self, connection: sa.Connection, name: str, old_names: Iterable[str]) -> None:
        """Rename the first row found of `old_names` to `name` (a renamed subscriber keeps its
        place), unless `name` has a row already."""
        c = checkpoints.c
        for old in old_names:
            if self.read(connection, name) is not None:
                return
            connection.execute(sa.update(checkpoints).where(c.name == old).values(name=name))

    def move(self, connection: sa.Connection, name: str, position: int, revision: int) -> None:
        """Set a projection's position and revision, whatever they were (a rebuild)."""
        connection.execute(
            sa.update(checkpoints)
            .where(checkpoints.c.name == name)
            .values(position=position, revision=revision, updated_at=now())
        )

    def advance_projection(
        self, connection: sa.Connection, name: str, revision: int, after: int, to: int
    ) -> bool:
        """Move a projection of `revision` from `after` to `to`; False (nothing changed) if it
        is elsewhere or of another revision. (`updated_at` keeps the time of the last rebuild.)"""
        params = {"name": name, "revision": revision, "after": after, "to": to}
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self._advance_projection, params)
            return bool(cursor.rowcount == 1)
        finally:
            cursor.close()

    def advance(
        self, connection: sa.Connection, name: str, owner: str, after: int, to: int
    ) -> None:
        """Move a policy from `after` to `to` and clear its retry state, if `owner` still holds
        its lease; else raise `LeaseLost` (roll the transaction back)."""
        self._fenced(
            connection,
            name,
            owner,
            after,
            position=to,
            attempts=0,
            last_error=None,
            retry_at=None,
        )

    def record_failure(
        self,
        connection: sa.Connection,
        name: str,
        owner: str,
        position: int,
        *,
        attempts: int,
        error: str,
        retry_at: datetime,
    ) -> None:
        """Note a failed attempt on the event after `position`; raises `LeaseLost`."""
        self._fenced(
            connection,
            name,
            owner,
            position,
            attempts=attempts,
            last_error=error,
            retry_at=retry_at,
        )

    def _fenced(
        self, connection: sa.Connection, name: str, owner: str, at: int, **values: Any
    ) -> None:
        c = checkpoints.c
        result = connection.execute(
            sa.update(checkpoints)
            .where(c.name == name, c.owner == owner, c.position == at)
            .values(updated_at=now(), **values)
        )
        if result.rowcount != 1:
            raise LeaseLost(name, owner)

    # --- leases --------------------------------------------------------------------------------

    def acquire(
        self, name: str, owner: str, ttl: float, *, holder_alive: bool | None = None
    ) -> Checkpoint | None:
        """Take or renew the lease of policy `name` for `ttl` seconds: its checkpoint if this
        owner holds it now, None if another runner's lease has not expired.

        `holder_alive` is what the caller knows from the runners' locks (emit/subscribers/locks.py):
        False, no live runner works on the policy, so the lease is taken whoever holds it; True,
        a live runner holds the policy's lock, so the lease is taken only if it expired (that
        runner is frozen); None, nothing is known, so a free or expired lease is taken."""
        c = checkpoints.c
        expired = c.lease_expires < self._clock
        if holder_alive is None:
            free = sa.or_(c.owner.is_(None), c.owner == owner, expired)
        elif holder_alive:
            free = sa.or_(c.owner == owner, expired)
        else:
            free = sa.true()
        with write_connection(self.engine) as connection:
            result = connection.execute(
                sa.update(checkpoints)
                .where(c.name == name, c.kind == POLICY, free)
                .values(owner=owner, lease_expires=self._clock + ttl)
            )
            checkpoint = self.read(connection, name) if result.rowcount == 1 else None
            connection.commit()
        return checkpoint

    def renew(self, names: Iterable[str], owner: str, ttl: float) -> set[str]:
        """Extend the leases `owner` still holds among `names`; the names it holds."""
        c = checkpoints.c
        names = list(names)
        if not names:
            return set()
        with write_connection(self.engine) as connection:
            connection.execute(
                sa.update(checkpoints)
                .where(c.name.in_(names), c.owner == owner)
                .values(lease_expires=self._clock + ttl)
            )
            held = connection.execute(
                sa.select(c.name).where(c.name.in_(names), c.owner == owner)
            ).scalars()
            result = set(held)
            connection.commit()
        return result

    def release(self, names: Iterable[str], owner: str) -> None:
        """Give up `owner`'s leases among `names`, so another runner can start at once."""
        c = checkpoints.c
        names = list(names)
        if not names:
            return
        with write_connection(self.engine) as connection:
            connection.execute(
                sa.update(checkpoints)
                .where(c.name.in_(names), c.owner == owner)
                .values(owner=None, lease_expires=None)
            )
            connection.commit()


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        name=row[0],
        kind=row[1],
        position=int(row[2]),
        revision=int(row[3]),
        attempts=int(row[4]),
        last_error=row[5],
        retry_at=as_utc(row[6]),
        owner=row[7],
        leased=bool(row[8]),
        updated_at=as_utc(row[9]) or now(),
    )

"""Every difference between SQLite and PostgreSQL that emit's SQL store meets, behind one object.

`dialect_for(engine)` gives the `Dialect` of an engine: `SqliteDialect` or `PostgresDialect`.
The store, its statements and `create_schema` ask it instead of testing the database's name:

- how statements compile (named parameters for the driver's cursor) and the insert construct
  with `ON CONFLICT DO NOTHING`;
- how timestamps and event ids are passed and read back (SQLite has no timestamp or UUID type);
- how a write transaction begins and how it takes the log for itself: SQLite's
  `BEGIN IMMEDIATE` holds the database's write lock, PostgreSQL locks the `emit_head` row;
- where an append's positions come from: SQLite's largest rowid, PostgreSQL's head row;
- PostgreSQL's whole append in one statement, a transaction of its own;
- how a writer of the refusal log keeps the others out (SQLite's write lock; a table lock);
- how the correlation id is read out of an event's metadata JSON (its own indexed column);
- PostgreSQL's `NOTIFY` of each append, sent by the statement that moves the head (if asked for);
- the schema: which of emit's tables a database has, the lock around creating them, and what
  follows (SQLite upgrades a file made by an earlier emit; PostgreSQL seeds the head row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from emit.clock import as_utc
from emit.sql.errors import CommitFailed
from emit.sql.tables import events, head, refusals, streams

# A constant key for PostgreSQL's advisory lock around schema creation ("emit" in ASCII).
_SCHEMA_LOCK_KEY = 0x656D6974


@dataclass(frozen=True, slots=True)
class AloneAppends:
    """PostgreSQL's appends of one request in one round trip instead of five: one statement,
    committed when it returns, by whether the stream is new (`new`) or moves on (`next`) and
    whether the command has an idempotency key (`keyed`)."""

    new: str
    next: str
    new_keyed: str
    next_keyed: str

    def statement(self, expected: int, *, keyed: bool) -> str:
        if keyed:
            return self.next_keyed if expected else self.new_keyed
        return self.next if expected else self.new

    @staticmethod
    def run(driver: Any, statement: str, params: dict[str, Any]) -> list[int]:
        """Run one of these statements on psycopg's connection `driver`: the positions it
        wrote, sorted; none if the stream was not at the expected version. Raises
        `CommitFailed` if the statement went out and its answer did not come back."""
        from emit.sql import postgres  # only PostgreSQL comes here: psycopg is loaded

        # The statement commits by itself: once sent, a lost answer means "maybe stored". A
        # connection the server closed while it sat idle is found before sending instead, and
        # `append_many` tries again on a new one.
        postgres.check_still_open(driver)
        driver.autocommit = True  # the statement is its own transaction
        try:
            with driver.cursor() as cursor:
                cursor.execute(statement, params)
                return sorted(int(row[0]) for row in cursor.fetchall())
        except Exception as error:
            if driver.broken:
                # The statement went out and its answer did not come back: it commits on its
                # own, so it may have been stored.
                raise CommitFailed(error) from error
            raise
        finally:
            if not driver.broken:
                driver.autocommit = False


class Dialect:
    """What differs between the databases emit supports; one instance per engine."""

    name: ClassVar[str]
    insert: Callable[[sa.Table], Any]  # INSERT with `.on_conflict_do_nothing()`
    # The statement that opens a write transaction on the driver's connection; None when the
    # driver opens one by itself.
    begin_write: ClassVar[str | None] = None
    # Whether the database keeps a constraint's name (SQLite keeps one but never uses it).
    names_constraints: ClassVar[bool] = False
    # Whether it has locks that end with the session that took them (else a runner locks a
    # file beside the database: emit/subscribers/locks.py).
    advisory_locks: ClassVar[bool] = False
    # Now, in seconds since 1970, by the database's clock: leases are timed by it, not by the
    # clocks of the hosts that share the database.
    clock: ClassVar[str] = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, compiler: sa.engine.Dialect, notify: str | None = None) -> None:
        self._compiler = compiler
        # PostgreSQL: the channel each append's transaction sends `NOTIFY` on (None: none).
        self.notify = notify

    def compile(self, statement: sa.ClauseElement) -> str:
        """`statement` as SQL text for the driver's cursor, with named parameters."""
        return str(statement.compile(dialect=self._compiler))

    @cached_property
    def head(self) -> str:
        """The query of the last global position appended (0 for an empty log)."""
        raise NotImplementedError

    def timestamp_param(self, value: datetime) -> Any:
        """`value` as the driver takes it for a timestamp column."""
        return value

    def correlation_of(self, metadata: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The `correlation_id` field of `metadata` (an event's metadata JSON text), read by
        the database: NULL where there is none."""
        raise NotImplementedError

    def uuid_param(self, value: UUID) -> Any:
        """`value` as the driver takes it for a UUID column."""
        return value

    @staticmethod
    def timestamp_value(value: Any) -> datetime:
        """A timestamp as the driver reads it back, as an aware datetime."""
        if isinstance(value, datetime):
            return as_utc(value)
        return datetime.fromisoformat(value)

    def reserve_positions(self, cursor: Any, count: int) -> int:
        """Inside an append's write transaction: take `count` positions for its events; the
        last position before them."""
        raise NotImplementedError

    def alone_appends(self, create_stream: Any, advance_stream: Any) -> AloneAppends | None:
        """The whole append of one request in one statement, built on the stream's claims
        (`INSERT ... ON CONFLICT DO NOTHING` for a new stream, `UPDATE ... WHERE version =` for
        one that moves on); None if this database takes a transaction for it."""
        return None

    def lock_log(self, connection: sa.Connection) -> None:
        """In a write transaction just begun on `connection`: make appends from other
        processes wait until it ends."""

    def lock_refusals(self, connection: sa.Connection) -> None:
        """In a write transaction just begun on `connection`: keep other writers of the
        refusal log out until it ends, so that ids are taken in commit order and trimming by
        id keeps exactly the newest."""

    def start_reading(self, driver: Any) -> None:
        """Before a read of one statement on the driver's connection `driver`: make that
        statement its own transaction, with nothing sent before or after it."""

    def stop_reading(self, driver: Any) -> None:
        """After that read, before `driver` goes back to the pool: as it was before."""

    def schema_tables(self, tables: Iterable[sa.Table]) -> list[sa.Table]:
        """Those of emit's own `tables` that this database has."""
        return list(tables)

    def lock_schema(self, connection: sa.Connection) -> None:
        """In `create_schema`'s transaction: keep other processes creating it out."""

    def finish_schema(self, connection: sa.Connection, tables: Iterable[sa.Table]) -> None:
        """In `create_schema`'s transaction, once emit's `tables` exist: what they still need."""


class SqliteDialect(Dialect):
    """SQLite: one writer at a time, who holds the database's write lock from `BEGIN IMMEDIATE`
    to the commit; no timestamp or UUID types."""

    name = "sqlite"
    insert = staticmethod(sqlite.insert)
    begin_write = "BEGIN IMMEDIATE"

    @cached_property
    def head(self) -> str:
        # The write lock serialises appends; the last position is the largest rowid.
        return self.compile(
            sa.select(sa.func.coalesce(sa.func.max(events.c.position), sa.literal_column("0")))
        )

    def timestamp_param(self, value: datetime) -> Any:
        # SQLite has no timestamp type: ISO 8601 text in UTC, fixed width, sorts correctly.
        return value.isoformat(timespec="microseconds")

    def uuid_param(self, value: UUID) -> Any:
        return str(value)

    def correlation_of(self, metadata: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.json_extract(metadata, sa.literal_column("'$.correlation_id'"))

    def reserve_positions(self, cursor: Any, count: int) -> int:
        # This transaction holds the write lock: no one else appends until it ends.
        cursor.execute(self.head)
        return int(cursor.fetchone()[0])

    def schema_tables(self, tables: Iterable[sa.Table]) -> list[sa.Table]:
        return [table for table in tables if table is not head]

    def finish_schema(self, connection: sa.Connection, tables: Iterable[sa.Table]) -> None:
        """Give tables that now ask for AUTOINCREMENT (ids never reused, such as dead letters')
        that keyword in a SQLite file made before they did: a new table with the old rows.
        Without it, SQLite hands a deleted row's id to the next row, and a stale page's button
        naming that id would act on another row."""
        for table in tables:
            if not table.dialect_options["sqlite"]["autoincrement"]:
                continue
            found = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
            ).scalar_one_or_none()
            if found is None or "AUTOINCREMENT" in found.upper():
                continue
            old = f"{table.name}_before_autoincrement"
            connection.exec_driver_sql(f'ALTER TABLE "{table.name}" RENAME TO "{old}"')
            table.create(connection)
            columns = ", ".join(f'"{column.name}"' for column in table.columns)
            connection.exec_driver_sql(
                f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "{old}"'
            )
            connection.exec_driver_sql(f'DROP TABLE "{old}"')


class PostgresDialect(Dialect):
    """PostgreSQL (psycopg 3): appends serialise on the `emit_head` row; a lone append is one
    statement."""

    names_constraints = True
    advisory_locks = True
    clock = "extract(epoch from clock_timestamp())"

    name = "postgresql"
    insert = staticmethod(postgresql.insert)

    @cached_property
    def head(self) -> str:
        return self.compile(sa.select(head.c.position).where(head.c.id == sa.literal_column("1")))

    @cached_property
    def bump_head(self) -> str:
        returning: list[Any] = [head.c.position]
        if self.notify is not None:
            returning.append(_notify_call(self.notify, head.c.position))
        return self.compile(
            sa.update(head)
            .where(head.c.id == sa.literal_column("1"))
            .values(position=head.c.position + sa.bindparam("count"))
            .returning(*returning)
        )

    def correlation_of(self, metadata: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.cast(metadata, postgresql.JSONB).op("->>")(sa.literal_column("'correlation_id'"))

    def reserve_positions(self, cursor: Any, count: int) -> int:
        cursor.execute(self.bump_head, {"count": count})
        return int(cursor.fetchone()[0]) - count

    def lock_log(self, connection: sa.Connection) -> None:
        connection.execute(sa.select(head.c.position).where(head.c.id == 1).with_for_update())

    def start_reading(self, driver: Any) -> None:
        # psycopg would send BEGIN before the statement, and the pool a ROLLBACK after it: two
        # round trips more than the read itself. One statement alone sees one snapshot anyway.
        driver.autocommit = True

    def stop_reading(self, driver: Any) -> None:
        if not driver.closed:  # a closed or broken connection is thrown away, not pooled
            driver.autocommit = False  # what SQLAlchemy's transactions expect of it

    def lock_schema(self, connection: sa.Connection) -> None:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))

    def lock_refusals(self, connection: sa.Connection) -> None:
        # SHARE ROW EXCLUSIVE: one writer at a time; readers (ACCESS SHARE) are not held up.
        connection.exec_driver_sql(f'LOCK TABLE "{refusals.name}" IN SHARE ROW EXCLUSIVE MODE')

    def finish_schema(self, connection: sa.Connection, tables: Iterable[sa.Table]) -> None:
        if head in tables:
            connection.execute(
                postgresql.insert(head).values(id=1, position=0).on_conflict_do_nothing()
            )

    def alone_appends(self, create_stream: Any, advance_stream: Any) -> AloneAppends:
        new, next_ = (
            self.compile(claim.returning(streams.c.version))
            for claim in (create_stream, advance_stream)
        )
        notify = ""
        if self.notify is not None:
            notify = f", pg_notify({_sql_text(self.notify)}, position::text)"
        return AloneAppends(
            new=self._one_statement(new, notify=notify),
            next=self._one_statement(next_, notify=notify),
            new_keyed=self._one_statement(new, keyed=True, notify=notify),
            next_keyed=self._one_statement(next_, keyed=True, notify=notify),
        )

    @staticmethod
    def _one_statement(claim: str, *, keyed: bool = False, notify: str = "") -> str:
        """Claim the stream, bump the head and insert the events in one statement, which is a
        transaction of its own; `keyed`, also record the command's idempotency key. `claim` is
        the stream's claim with `RETURNING version`: if it finds the stream at another version,
        the statement changes nothing and returns no rows. `notify`, if not empty, is a
        `pg_notify` call that the head's update returns too. (Written as SQL: Core has no
        compact form for a data-modifying WITH that feeds an INSERT from unnested arrays.)"""
        key = (
            """
command AS (
    INSERT INTO emit_commands
        (stream_id, idempotency_key, fingerprint, first_version, last_version)
    SELECT %(stream_id)s, %(key)s, %(fingerprint)s, %(expected)s + 1, %(version)s FROM claim
),"""
            if keyed
            else ""
        )
        return f"""WITH claim AS ({claim}),{key}
head AS (
    UPDATE emit_head SET position = position + %(count)s
    WHERE id = 1 AND EXISTS (SELECT FROM claim)
    RETURNING position - %(count)s AS base{notify}
)
INSERT INTO emit_events
    (position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at,
    correlation_id)
SELECT head.base + e.n, %(stream_id)s, %(expected)s + e.n, e.event_id, e.type,
    e.schema_version, e.data, e.metadata, %(now)s, e.metadata::jsonb ->> 'correlation_id'
FROM head, unnest(
    %(event_ids)s::uuid[], %(types)s::varchar[], %(schema_versions)s::int[],
    %(datas)s::text[], %(metadatas)s::text[]
) WITH ORDINALITY AS e(event_id, type, schema_version, data, metadata, n)
RETURNING position"""


def dialect_for(engine: sa.Engine, *, notify: str | None = None) -> Dialect:
    """The `Dialect` of `engine`. Raises `ValueError` for a database emit does not support.
    `notify`: on PostgreSQL, the channel every append notifies (SQLite has no `NOTIFY`)."""
    dialect = engine.dialect
    if dialect.name == "sqlite":
        return SqliteDialect(type(dialect)(paramstyle="named"))  # type: ignore[call-arg]
    if dialect.name == "postgresql":
        return PostgresDialect(dialect, notify)
    raise ValueError(
        f"emit supports SQLite and PostgreSQL, not {dialect.name!r}: the global position "
        "and version checks rely on their locking."
    )


def _notify_call(channel: str, position: Any) -> Any:
    """`pg_notify(channel, new head position)`: part of the statement that moves the head,
    so a notifying store costs no extra round trip, and PostgreSQL delivers the
    notification when (and only if) the append's transaction commits."""
    return sa.func.pg_notify(sa.literal_column(_sql_text(channel)), sa.cast(position, sa.Text))


def _sql_text(value: str) -> str:
    """`value` as a SQL string literal (a channel name from the store's settings)."""
    return "'" + value.replace("'", "''") + "'"


def dialect_insert(engine: sa.Engine) -> Callable[[sa.Table], Any]:
    """The INSERT construct of `engine`'s database, with `.on_conflict_do_nothing()`."""
    return dialect_for(engine).insert


def compile_named(engine: sa.Engine, statement: sa.ClauseElement) -> str:
    """`statement` as SQL text for `engine`'s driver cursor, with named parameters: for
    statements compiled once and run on the driver's cursor, as the store's hot ones are."""
    return dialect_for(engine).compile(statement)

"""emit's statements, built with SQLAlchemy Core and compiled once per store for its dialect.

The hot ones run on the driver's cursor, because the per-statement bookkeeping of
`Connection.execute` would cost more than the SQLite commit itself; so they are SQL text with
named parameters, and rows come back as the driver's tuples (`stored_event` reads one).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import sqlalchemy as sa

from emit.sql.dialects import Dialect
from emit.sql.tables import EVENT_COLUMNS, commands, events, snapshots, streams
from emit.store import StoredEvent


class Statements:
    """The store's statements as SQL text for one dialect's driver."""

    def __init__(self, dialect: Dialect) -> None:
        sql = dialect.compile
        bind = sa.bindparam
        create_stream = (
            dialect.insert(streams)
            .values(
                stream_id=bind("stream_id"),
                version=bind("version"),
                created_at=bind("now"),
                updated_at=bind("now"),
            )
            .on_conflict_do_nothing()
        )
        advance_stream = (
            sa.update(streams)
            .where(streams.c.stream_id == bind("stream_id"), streams.c.version == bind("expected"))
            .values(version=bind("version"), updated_at=bind("now"))
        )
        self.create_stream = sql(create_stream)
        self.advance_stream = sql(advance_stream)
        self.stream_version = sql(
            sa.select(streams.c.version).where(streams.c.stream_id == bind("stream_id"))
        )
        # FOR UPDATE on PostgreSQL; SQLite needs nothing, a write transaction locks the database.
        self.lock_stream = sql(
            sa.select(streams.c.version)
            .where(streams.c.stream_id == bind("stream_id"))
            .with_for_update()
        )
        self.head = dialect.head
        self.insert_event = sql(
            sa.insert(events).values(
                {c.name: bind(c.name) for c in events.columns if c is not events.c.correlation_id}
                | {"correlation_id": dialect.correlation_of(bind("metadata"))}
            )
        )
        in_window = (  # one stream's versions `after < version <= up_to`
            events.c.stream_id == bind("stream_id"),
            events.c.version > bind("after"),
            events.c.version <= bind("up_to"),
        )
        self.read_stream = sql(
            sa.select(*EVENT_COLUMNS).where(*in_window).order_by(events.c.version)
        )
        self.read_stream_data = sql(
            sa.select(events.c.version, events.c.type, events.c.schema_version, events.c.data)
            .where(*in_window)
            .order_by(events.c.version)
        )
        self.read_all = sql(
            sa.select(*EVENT_COLUMNS)
            .where(events.c.position > bind("after"))
            .order_by(events.c.position)
            .limit(bind("limit"))
            .offset(bind("offset"))  # SQLite's compiler insists on an OFFSET after a bound LIMIT
        )
        self.list_streams = sql(
            sa.select(
                streams.c.stream_id, streams.c.version, streams.c.created_at, streams.c.updated_at
            )
            .where(streams.c.stream_id > bind("after"))
            .order_by(streams.c.stream_id)
            .limit(bind("limit"))
            .offset(bind("offset"))  # SQLite's compiler insists on an OFFSET after a bound LIMIT
        )
        self.count_streams = sql(sa.select(sa.func.count()).select_from(streams))
        self.insert_command = sql(
            sa.insert(commands).values(
                stream_id=bind("stream_id"),
                idempotency_key=bind("key"),
                fingerprint=bind("fingerprint"),
                first_version=bind("first_version"),
                last_version=bind("last_version"),
            )
        )
        self.find_command = sql(
            sa.select(commands.c.fingerprint, commands.c.first_version, commands.c.last_version)
            .where(commands.c.stream_id == bind("stream_id"))
            .where(commands.c.idempotency_key == bind("key"))
        )
        self.alone = dialect.alone_appends(create_stream, advance_stream)
        self.write_snapshot = sql(
            dialect.insert(snapshots)
            .values({c.name: bind(c.name) for c in snapshots.columns})
            .on_conflict_do_nothing()
        )
        latest_snapshot = (
            sa.select(snapshots.c.version, snapshots.c.state)
            .where(
                snapshots.c.stream_id == bind("stream_id"),
                snapshots.c.key == bind("key"),
                snapshots.c.version <= bind("up_to"),
            )
            .order_by(snapshots.c.version.desc())
            .limit(bind("limit"))
            .offset(bind("offset"))
        )
        self.read_snapshot = sql(latest_snapshot)
        self.read_from_snapshot = sql(_from_snapshot(latest_snapshot.cte("latest"), bind))


def _from_snapshot(latest: sa.CTE, bind: Any) -> sa.CompoundSelect[Any]:
    """The latest snapshot (`latest`, at most one row) and the stream's events after it, in one
    statement: one round trip on PostgreSQL. The snapshot's row comes first, told apart by a
    NULL type (an event always has one) and carrying its state where an event has its data;
    the events follow in version order (all of them from version 1 when there is no snapshot)."""
    after = sa.func.coalesce(sa.select(latest.c.version).scalar_subquery(), sa.literal_column("0"))
    snapshot = sa.select(
        latest.c.version.label("version"),
        sa.null().label("type"),
        sa.null().label("schema_version"),
        latest.c.state.label("data"),
    )
    after_it = sa.select(events.c.version, events.c.type, events.c.schema_version, events.c.data)
    after_it = after_it.where(
        events.c.stream_id == bind("stream_id"),
        events.c.version > after,
        events.c.version <= bind("up_to"),
    )
    # The snapshot's version is below every event's, so version order puts it first.
    return sa.union_all(snapshot, after_it).order_by(sa.literal_column("version"))


def stored_event(row: Any, dialect: Dialect) -> StoredEvent:
    """A row of `read_stream` or `read_all` (`EVENT_COLUMNS`) as a `StoredEvent`."""
    event_id = row[3]
    return StoredEvent(
        row[0],
        row[1],
        row[2],
        event_id if isinstance(event_id, UUID) else UUID(event_id),
        row[4],
        row[5],
        row[6],
        row[7],
        dialect.timestamp_value(row[8]),
    )

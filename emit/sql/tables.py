"""emit's tables, defined once with SQLAlchemy Core on one `metadata`.

- `emit_streams`: one row per stream (aggregate): its current version and when it was created
  and last appended to. Its version column is the optimistic-concurrency check.
- `emit_events`: the events; `position` is the global position, unique (stream_id, version).
  `correlation_id` is the one field of the metadata kept in a column of its own, written by the
  append from the metadata's JSON, so that the log can be filtered by it through an index.
- `emit_head` (PostgreSQL only): a single row holding the last global position. Every append
  bumps it inside its transaction, which serialises appends on that row: positions are gap-free
  and in commit order, so a reader tailing `read_all` never skips an event that commits late.
  SQLite needs no such row: a write transaction (`BEGIN IMMEDIATE`) holds the database's write
  lock until it commits, which serialises appends already, so an append takes `max(position)`
  (the rowid, an O(log n) lookup) inside its transaction and counts on from there. SQLite files
  made by an earlier emit keep their `emit_head` table; it is no longer read or written.
- `emit_commands`: the idempotency keys of commands sent with one.
- `emit_forks`: which streams began as a copy of another one's first versions (emit/forks.py),
  written in the fork's append transaction; looked up by the fork and by its origin.
- `emit_snapshots`: states of streams at some versions (see emit/snapshots.py), a cache beside
  the events: deleting rows from it loses nothing.
- `emit_refusals`: refused commands (see emit/refusals.py), a bounded log beside the events,
  never part of an append; the oldest rows are deleted as new ones come.

The subscribers' tables (`emit_checkpoints`, `emit_dead_letters`) are defined on the same
`metadata` next to the code that uses them (emit/subscribers/checkpoints.py and
dead_letters.py), and created with these (emit/sql/schema.py).
"""

from __future__ import annotations

import sqlalchemy as sa

from emit.ids import MAX_ID_LENGTH

MAX_VERSION = 2**31 - 1  # the version column is a 32-bit integer

metadata = sa.MetaData()

_Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: the rowid itself
_Timestamp = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
_Uuid = sa.Uuid().with_variant(sa.String(36), "sqlite")

streams = sa.Table(
    "emit_streams",
    metadata,
    sa.Column("stream_id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", _Timestamp, nullable=False),
    sa.Column("updated_at", _Timestamp, nullable=False),
)

events = sa.Table(
    "emit_events",
    metadata,
    sa.Column("position", _Position, primary_key=True, autoincrement=False),
    sa.Column("stream_id", sa.String(MAX_ID_LENGTH), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("event_id", _Uuid, nullable=False),
    sa.Column("type", sa.String(200), nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("metadata", sa.Text, nullable=False),
    sa.Column("recorded_at", _Timestamp, nullable=False),
    # Text, not a bounded string: a caller may set any correlation id, and an append must not
    # fail on its length. NULL in events whose metadata has none.
    sa.Column("correlation_id", sa.Text),
    sa.UniqueConstraint("stream_id", "version", name="emit_events_stream_version"),
    # The log filtered by correlation, newest first, is a range of this index.
    sa.Index("emit_events_correlation", "correlation_id", "position"),
    # Event ids are random (version 4 UUIDs drawn by emit, never taken from outside) and nothing
    # looks an event up by its id, so on SQLite this index would only cost a page per commit.
    # PostgreSQL keeps it (under the name its inline form had), where it costs next to nothing.
    sa.UniqueConstraint("event_id", name="emit_events_event_id_key").ddl_if(dialect="postgresql"),
)

head = sa.Table(
    "emit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("position", sa.BigInteger, nullable=False),
)

# Idempotency keys: one row per command sent with a key, written in its append's transaction.
# The primary key makes a key unique per stream; rows live as long as the events they name.
commands = sa.Table(
    "emit_commands",
    metadata,
    sa.Column("stream_id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("idempotency_key", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("first_version", sa.Integer, nullable=False),
    sa.Column("last_version", sa.Integer, nullable=False),
)

forks = sa.Table(
    "emit_forks",
    metadata,
    sa.Column("stream_id", sa.String(MAX_ID_LENGTH), primary_key=True),  # the fork
    sa.Column("origin_id", sa.String(MAX_ID_LENGTH), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),  # the origin's last version copied
    sa.Column("forked_at", _Timestamp, nullable=False),
)

snapshots = sa.Table(
    "emit_snapshots",
    metadata,
    sa.Column("stream_id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
)

refusals = sa.Table(
    "emit_refusals",
    metadata,
    # Never reused (AUTOINCREMENT on SQLite, a sequence on PostgreSQL): pages are keyset by id,
    # and retention deletes by id.
    sa.Column("id", _Position, primary_key=True),
    sa.Column("stream_id", sa.String(MAX_ID_LENGTH), nullable=False),
    sa.Column("command", sa.String(200), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("correlation_id", sa.String(MAX_ID_LENGTH), nullable=False),
    sa.Column("refused_at", sa.Float, nullable=False),  # seconds since 1970, database's clock
    sa.Index("emit_refusals_stream", "stream_id", "id"),
    sqlite_autoincrement=True,
)

# The columns of a read event, in the order `StoredEvent` takes them (see statements.py).
EVENT_COLUMNS = [
    events.c.stream_id,
    events.c.version,
    events.c.position,
    events.c.event_id,
    events.c.type,
    events.c.schema_version,
    events.c.data,
    events.c.metadata,
    events.c.recorded_at,
]

"""The durable event store: SQLite (embedded) or PostgreSQL, through SQLAlchemy 2 Core.

Three tables for the events, defined once below with SQLAlchemy Core:

- `emit_streams`: one row per stream (aggregate): its current version and when it was created
  and last appended to. Its version column is the optimistic-concurrency check.
- `emit_events`: the events; `position` is the global position, unique (stream_id, version).
- `emit_head` (PostgreSQL only): a single row holding the last global position. Every append
  bumps it inside its transaction, which serialises appends on that row: positions are gap-free
  and in commit order, so a reader tailing `read_all` never skips an event that commits late.
  SQLite needs no such row: a write transaction (`BEGIN IMMEDIATE`) holds the database's write
  lock until it commits, which serialises appends already, so an append takes `max(position)`
  (the rowid, an O(log n) lookup) inside its transaction and counts on from there. SQLite files
  made by an earlier emit keep their `emit_head` table; it is no longer read or written.
- `emit_snapshots`: states of streams at some versions (see emit/snapshots.py), a cache beside
  the events: deleting rows from it loses nothing.

The subscribers' tables (`emit_checkpoints`, `emit_dead_letters`) are defined on the same
`metadata` next to the code that uses them (emit/checkpoints.py, emit/dead_letters.py), and
created with these.

Durability: SQLite runs in WAL mode with `synchronous=FULL` (a commit is on disk when it
returns) and a busy timeout, so processes sharing a file wait for each other instead of
failing. PostgreSQL uses its default, synchronous commit.

The statements are built with SQLAlchemy Core and compiled once per dialect; the hot ones run on
the driver's cursor, because the per-statement bookkeeping of `Connection.execute` would cost
more than the SQLite commit itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from emit.errors import ConcurrencyError, StorageError, StorageErrorKind
from emit.sql.sqlite_lock import LockingConnection
from emit.store import (
    AppendRequest,
    AppendResult,
    CommandAlreadyRecorded,
    EventData,
    NewEvent,
    StoredCommand,
    StoredEvent,
    StoredSnapshot,
    StreamInfo,
    check_requests,
)

MAX_ID_LENGTH = 200
_NO_LIMIT = 2**62
_MAX_VERSION = 2**31 - 1  # the version column is a 32-bit integer

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
    sa.UniqueConstraint("stream_id", "version", name="emit_events_stream_version"),
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

snapshots = sa.Table(
    "emit_snapshots",
    metadata,
    sa.Column("stream_id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
)

_EVENT_COLUMNS = [
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

# A constant key for PostgreSQL's advisory lock around schema creation ("emit" in ASCII).
_SCHEMA_LOCK_KEY = 0x656D6974


DEFAULT_TIMEOUT = 5.0


def make_engine(
    url: str | sa.URL,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    busy_timeout: float | None = None,
    queue_writers: bool = False,
    **options: Any,
) -> sa.Engine:
    """An engine for `url` set up the way emit needs it; `options` go to `create_engine`.

    No wait for the database is longer than about `timeout` seconds; it then fails with a
    driver error that the store turns into a `StorageError` whose kind is "timeout".
    Raises `StorageError` if a SQLite file's folder cannot be made.
    `postgresql://` URLs use psycopg 3, with connecting, waiting for a pooled connection, each
    statement, each lock and each answer bounded by `timeout` (emit/postgres.py). SQLite files
    get WAL, `synchronous=FULL`, a busy timeout (`busy_timeout`, by default `timeout`) and
    explicit transactions; a missing parent folder is created. With `queue_writers`, write
    transactions on a SQLite file first queue on a lock file beside it (emit/sqlite_lock.py):
    worth it when several processes write steadily (web workers), where SQLite's own busy
    handler would sleep up to 50 ms between tries; it costs a lone writer about a tenth of its
    rate, so it is off by default.
    """
    url = sa.make_url(url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise ValueError(
                "An in-memory SQLite database lives in one connection and cannot be shared by "
                "emit's writer and readers: use a file (sqlite:///path/emit.sqlite3) or "
                "InMemoryEventStore."
            )
        try:
            if not database.startswith("file:"):  # a URI names a file, maybe read-only
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError("create the database's folder", None, error) from error
        options.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        if queue_writers:
            options["connect_args"].setdefault("factory", LockingConnection)
        options.setdefault("pool_timeout", timeout)
        engine = sa.create_engine(url, **options)
        configure_sqlite(engine, busy_timeout=timeout if busy_timeout is None else busy_timeout)
        return engine
    if url.get_backend_name() != "postgresql":
        return sa.create_engine(url, **options)  # refused by the store, with a reason
    from emit.sql import postgres  # only now: psycopg is not imported by SQLite users

    postgres.bounded_engine_options(timeout, options)
    engine = sa.create_engine(url, **options)
    postgres.bound_engine(engine, timeout)
    return engine


def configure_sqlite(engine: sa.Engine, *, busy_timeout: float = DEFAULT_TIMEOUT) -> None:
    """Durable settings on every new connection, and transactions under emit's control.

    Python's sqlite3 module would otherwise open transactions on its own, lazily; emit needs
    `BEGIN IMMEDIATE` for writes so that two writers queue on the busy timeout instead of failing
    when one upgrades a read lock.
    """

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        mode = "IMMEDIATE" if connection.get_execution_options().get("emit_write") else "DEFERRED"
        # Straight to the driver: through `exec_driver_sql` this one statement cost more Python
        # time than the rest of an append.
        connection.connection.driver_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]


def write_connection(engine: sa.Engine) -> sa.Connection:
    """A new connection whose transactions write: on SQLite they begin `IMMEDIATE`, taking the
    write lock at once (see `configure_sqlite`). Close it (a `with` block) when done."""
    return engine.connect().execution_options(emit_write=True)


def create_schema(engine: sa.Engine, *, tables: Iterable[sa.Table] = ()) -> None:
    """Create emit's tables, and `tables` (read models of projections), where they are missing.
    Safe to call from several processes at once. Raises `StorageError`."""
    write = engine.execution_options(emit_write=True)
    with storage_errors("create the schema"), write.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
            own = metadata.sorted_tables
        else:
            own = [table for table in metadata.sorted_tables if table is not head]
        metadata.create_all(connection, tables=own, checkfirst=True)
        if engine.dialect.name == "sqlite":
            _upgrade_sqlite_autoincrement(connection, own)
        for table in sa.schema.sort_tables(tables):
            table.create(connection, checkfirst=True)
        if head in own:
            insert = postgresql.insert(head).values(id=1, position=0).on_conflict_do_nothing()
            connection.execute(insert)


def _upgrade_sqlite_autoincrement(connection: sa.Connection, tables: Iterable[sa.Table]) -> None:
    """Give tables that now ask for AUTOINCREMENT (ids never reused, such as dead letters') that
    keyword in a SQLite file made before they did: a new table with the old rows. Without it,
    SQLite hands a deleted row's id to the next row, and a stale page's button naming that id
    would act on another row. Runs in `create_schema`'s write transaction."""
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


def dialect_insert(engine: sa.Engine) -> Any:
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


class _Statements:
    """emit's statements, compiled once for one dialect with named parameters."""

    def __init__(self, engine: sa.Engine) -> None:
        dialect = engine.dialect
        if dialect.name == "sqlite":
            dialect = type(dialect)(paramstyle="named")  # type: ignore[call-arg]
        elif dialect.name != "postgresql":
            raise ValueError(
                f"emit supports SQLite and PostgreSQL, not {dialect.name!r}: the global position "
                "and version checks rely on their locking."
            )

        def sql(statement: sa.ClauseElement) -> str:
            return str(statement.compile(dialect=dialect))

        bind = sa.bindparam
        insert = dialect_insert(engine)
        create_stream = (
            insert(streams)
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
        if dialect.name == "postgresql":
            self.bump_head = sql(
                sa.update(head)
                .where(head.c.id == sa.literal_column("1"))
                .values(position=head.c.position + bind("count"))
                .returning(head.c.position)
            )
            self.head = sql(sa.select(head.c.position).where(head.c.id == sa.literal_column("1")))
        else:  # the write lock serialises appends; the last position is the largest rowid
            self.head = sql(
                sa.select(sa.func.coalesce(sa.func.max(events.c.position), sa.literal_column("0")))
            )
        self.insert_event = sql(
            sa.insert(events).values({c.name: bind(c.name) for c in events.columns})
        )
        self.read_stream = sql(
            sa.select(*_EVENT_COLUMNS)
            .where(
                events.c.stream_id == bind("stream_id"),
                events.c.version > bind("after"),
                events.c.version <= bind("up_to"),
            )
            .order_by(events.c.version)
        )
        self.read_stream_data = sql(
            sa.select(events.c.version, events.c.type, events.c.schema_version, events.c.data)
            .where(
                events.c.stream_id == bind("stream_id"),
                events.c.version > bind("after"),
                events.c.version <= bind("up_to"),
            )
            .order_by(events.c.version)
        )
        self.read_all = sql(
            sa.select(*_EVENT_COLUMNS)
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
        if dialect.name == "postgresql":
            self.append_new, self.append_next = (
                _append_alone(sql(claim.returning(streams.c.version)))
                for claim in (create_stream, advance_stream)
            )
            self.append_new_keyed, self.append_next_keyed = (
                _append_alone(sql(claim.returning(streams.c.version)), keyed=True)
                for claim in (create_stream, advance_stream)
            )
        self.write_snapshot = sql(
            insert(snapshots)
            .values({c.name: bind(c.name) for c in snapshots.columns})
            .on_conflict_do_nothing()
        )
        self.read_snapshot = sql(
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


def _append_alone(claim: str, *, keyed: bool = False) -> str:
    """PostgreSQL: claim the stream, bump the head and insert the events in one statement,
    which is a transaction of its own; `keyed`, also record the command's idempotency key. If
    the claim finds the stream at another version, the statement changes nothing and returns no
    rows. (Written as SQL: Core has no compact form for a data-modifying WITH that feeds an
    INSERT from unnested arrays.)"""
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
    RETURNING position - %(count)s AS base
)
INSERT INTO emit_events
    (position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at)
SELECT head.base + e.n, %(stream_id)s, %(expected)s + e.n, e.event_id, e.type,
    e.schema_version, e.data, e.metadata, %(now)s
FROM head, unnest(
    %(event_ids)s::uuid[], %(types)s::varchar[], %(schema_versions)s::int[],
    %(datas)s::text[], %(metadatas)s::text[]
) WITH ORDINALITY AS e(event_id, type, schema_version, data, metadata, n)
RETURNING position"""


class SqlEventStore:
    """An `EventStore` in SQLite or PostgreSQL; see the module docstring for the design.

    `url_or_engine` is a database URL (`sqlite:///instance/emit.sqlite3`,
    `postgresql://user@host/db`) or an engine made by `make_engine`. The schema is created on
    first use unless `create=False`. Safe to share between threads; several processes (and, on
    PostgreSQL, several hosts) can each open their own store on one database. `timeout` bounds
    every wait for the database (see `make_engine`); `busy_timeout` and `queue_writers` are
    SQLite's settings. Every failure of the database is raised as a `StorageError`.
    """

    def __init__(
        self,
        url_or_engine: str | sa.URL | sa.Engine,
        *,
        create: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        busy_timeout: float | None = None,
        queue_writers: bool = False,
    ) -> None:
        if isinstance(url_or_engine, sa.Engine):
            self.engine = url_or_engine
            self._owns_engine = False
        else:
            self.engine = make_engine(
                url_or_engine,
                timeout=timeout,
                busy_timeout=busy_timeout,
                queue_writers=queue_writers,
            )
            self._owns_engine = True
        self.dialect = self.engine.dialect.name
        self._sqlite = self.dialect == "sqlite"
        self._sql = _Statements(self.engine)
        self._write_lock = threading.Lock()
        self._writer: sa.Connection | None = None
        self._closed = False
        self.creates_schema = create
        if create:
            create_schema(self.engine)

    # --- writing -------------------------------------------------------------------------------

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        check_requests(requests)
        with self._write_lock:
            reused = self._writer is not None
            outcome = self._attempt(requests)
            if reused and _connection_lost(outcome):
                # The writer's connection died while it waited (the database restarted, the
                # network was cut): nothing that could commit was sent on it, so the batch gets
                # one more try on a new connection, as a fresh start would.
                outcome = self._attempt(requests)
            if not isinstance(outcome, Exception):
                return outcome
            if len(requests) == 1 or _database_away(outcome):
                # The database itself failed: trying each request alone would only wait for
                # it once more per request.
                return [outcome] * len(requests)
            # One request spoiled the shared transaction before its commit (nothing of it was
            # stored): give each its own, so that only the culprit fails.
            results: list[AppendResult] = []
            for request in requests:
                alone = self._attempt([request])
                results.extend([alone] if isinstance(alone, Exception) else alone)
            return results

    def _attempt(self, requests: Sequence[AppendRequest]) -> list[AppendResult] | Exception:
        """One try at `requests` in one transaction: each request's result, or the error that
        kept all of them out before their commit. A failed commit is a result, never an error
        to try again on: it may have happened, and a retry could store a command twice, so what
        was to be stored gets a `StorageError` saying it may have been."""
        try:
            return self._append_in_one_transaction(requests)
        except _CommitFailed as failed:
            self._drop_writer()
            return failed.results_for(requests)
        except Exception as error:
            return self._failed(error, requests[0].stream_id)

    def _append_in_one_transaction(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        writer = self._writer_connection()
        if (
            requests[0].before_commit is not None
            if len(requests) == 1
            else any(request.before_commit is not None for request in requests)
        ):
            # Hooks get the SQLAlchemy connection, inside this very transaction.
            transaction = writer.begin()
            driver = writer.connection.dbapi_connection
            return self._transact(
                writer, driver, requests, transaction.rollback, transaction.commit
            )
        # Without hooks, the same transaction is run on the driver's connection: SQLAlchemy's
        # bookkeeping around a transaction costs as much Python time as the append itself.
        driver = writer.connection.dbapi_connection
        assert driver is not None
        if not self._sqlite and len(requests) == 1:
            alone = self._append_alone(driver, requests[0])
            if alone is not None:
                return [alone]
            # The stream has moved on: the long way resolves or refuses, holding the stream.
        begin = "BEGIN IMMEDIATE" if self._sqlite else None  # psycopg begins by itself
        return self._transact(writer, driver, requests, driver.rollback, driver.commit, begin)

    def _transact(
        self,
        writer: sa.Connection,
        driver: Any,
        requests: Sequence[AppendRequest],
        rollback: Callable[[], None],
        commit: Callable[[], None],
        begin: str | None = None,
    ) -> list[AppendResult]:
        """Write `requests` in the transaction that `rollback` or `commit` end."""
        cursor = driver.cursor()
        try:
            if begin is not None:
                cursor.execute(begin)
            results = self._write(writer, cursor, requests)
        except BaseException:
            with suppress(Exception):  # a broken connection is replaced by `_failed`
                rollback()
            raise
        finally:
            cursor.close()
        self._commit(commit, results)
        return results

    @staticmethod
    def _commit(commit: Callable[[], None], results: list[AppendResult]) -> None:
        """Commit; a failure here is ambiguous (the commit may have reached the disk before
        the error), so it is told apart from failures before it: see `append_many`."""
        try:
            commit()
        except Exception as error:
            raise _CommitFailed(error, results) from error

    def _append_alone(self, driver: Any, request: AppendRequest) -> list[StoredEvent] | None:
        """PostgreSQL, one request: the whole append in one round trip (`_append_alone` above)
        instead of five, committed when it returns; None if the stream is not at the expected
        version, in which case nothing was written."""
        now = datetime.now(UTC)
        expected, new_events = request.expected_version, request.events
        params = {
            "stream_id": request.stream_id,
            "expected": expected,
            "version": expected + len(new_events),
            "now": now,
            "count": len(new_events),
            "event_ids": [e.event_id for e in new_events],
            "types": [e.type for e in new_events],
            "schema_versions": [e.schema_version for e in new_events],
            "datas": [e.data for e in new_events],
            "metadatas": [e.metadata for e in new_events],
        }
        key = request.command_key
        if key is None:
            statement = self._sql.append_next if expected else self._sql.append_new
        else:
            statement = self._sql.append_next_keyed if expected else self._sql.append_new_keyed
            params["key"] = key.key
            params["fingerprint"] = key.fingerprint
        from emit.sql import postgres  # only PostgreSQL comes here

        # The statement commits by itself: once sent, a lost answer means "maybe stored". A
        # connection the server closed while it sat idle is found before sending instead, and
        # `append_many` tries again on a new one.
        postgres.check_still_open(driver)
        driver.autocommit = True  # the statement is its own transaction
        try:
            with driver.cursor() as cursor:
                cursor.execute(statement, params)
                positions = sorted(int(row[0]) for row in cursor.fetchall())
        except Exception as error:
            if driver.broken:
                # The statement went out and its answer did not come back: it commits on its
                # own, so it may have been stored.
                raise _CommitFailed(error) from error
            raise
        finally:
            if not driver.broken:
                driver.autocommit = False
        if not positions:
            return None
        return _stored_events(request.stream_id, expected, positions[0], new_events, now)

    def _write(
        self, writer: sa.Connection, cursor: Any, requests: Sequence[AppendRequest]
    ) -> list[AppendResult]:
        now = datetime.now(UTC)
        now_param = self._timestamp_param(now)
        results: list[AppendResult] = [[] for _ in requests]
        claims: dict[int, tuple[int, Sequence[NewEvent]]] = {}  # index: (expected, events)
        # Lock streams in a fixed order so that two batches in two processes cannot deadlock.
        moved: dict[str, int] = {}  # stream: its version once this batch commits
        order = range(1) if len(requests) == 1 else _by_stream(requests)
        for index in order:
            request = requests[index]
            if request.stream_id in moved:
                # A second request for a stream this batch already moves: the events it would
                # be resolved against are not written yet. It lost the race; the caller retries.
                actual = moved[request.stream_id]
                results[index] = ConcurrencyError(
                    request.stream_id, request.expected_version, actual
                )
                continue
            if self._claim(
                cursor, request.stream_id, request.expected_version, request.events, now_param
            ):
                claims[index] = (request.expected_version, request.events)
            else:
                outcome = self._resolve(cursor, request, now_param)
                if not isinstance(outcome, tuple):
                    results[index] = outcome
                    continue
                claims[index] = outcome
            expected, new_events = claims[index]
            moved[request.stream_id] = expected + len(new_events)
        if not claims:
            return results
        if self._sqlite:  # this transaction holds the write lock: no one else appends
            cursor.execute(self._sql.head)
            position = int(cursor.fetchone()[0])
        else:
            count = sum(len(events) for _, events in claims.values())
            cursor.execute(self._sql.bump_head, {"count": count})
            position = int(cursor.fetchone()[0]) - count
        rows: list[dict[str, Any]] = []
        claimed = sorted(claims) if len(claims) > 1 else list(claims)
        for index in claimed:  # positions follow the order the requests arrived in
            stream_id = requests[index].stream_id
            expected, new_events = claims[index]
            stored = _stored_events(stream_id, expected, position + 1, new_events, now)
            position += len(stored)
            rows.extend(
                {
                    "position": event.position,
                    "stream_id": stream_id,
                    "version": event.version,
                    "event_id": str(event.event_id) if self._sqlite else event.event_id,
                    "type": event.type,
                    "schema_version": event.schema_version,
                    "data": event.data,
                    "metadata": event.metadata,
                    "recorded_at": now_param,
                }
                for event in stored
            )
            results[index] = stored
        if len(rows) == 1:
            cursor.execute(self._sql.insert_event, rows[0])  # psycopg pipelines executemany:
        else:  # two more round trips for one row
            cursor.executemany(self._sql.insert_event, rows)
        keys = [
            {
                "stream_id": requests[index].stream_id,
                "key": key.key,
                "fingerprint": key.fingerprint,
                "first_version": claims[index][0] + 1,
                "last_version": claims[index][0] + len(claims[index][1]),
            }
            for index in claimed
            if (key := requests[index].command_key) is not None
        ]
        if len(keys) == 1:
            cursor.execute(self._sql.insert_command, keys[0])
        elif keys:
            cursor.executemany(self._sql.insert_command, keys)
        for index in claimed:
            hook = requests[index].before_commit
            if hook is not None:
                hook(writer, results[index])  # type: ignore[arg-type]
        return results

    def _claim(
        self, cursor: Any, stream_id: str, expected: int, new_events: Sequence[NewEvent], now: Any
    ) -> bool:
        """Move the stream from `expected` to its new version; False if it is not at `expected`."""
        version = expected + len(new_events)
        if expected == 0:
            params = {"stream_id": stream_id, "version": version, "now": now}
            cursor.execute(self._sql.create_stream, params)
        else:
            params = {"stream_id": stream_id, "expected": expected, "version": version, "now": now}
            cursor.execute(self._sql.advance_stream, params)
        return bool(cursor.rowcount == 1)

    def _resolve(
        self, cursor: Any, request: AppendRequest, now: Any
    ) -> tuple[int, Sequence[NewEvent]] | AppendResult:
        """After a failed claim: a `ConcurrencyError`, or, if the request has a resolver, its
        decision on the newer events, taken while this transaction holds the stream."""
        cursor.execute(self._sql.lock_stream, {"stream_id": request.stream_id})
        row = cursor.fetchone()
        actual = 0 if row is None else int(row[0])
        if request.command_key is not None:
            # Holding the stream now, so a request with this key that moved it has committed.
            recorded = self._find_command(cursor, request.stream_id, request.command_key.key)
            if recorded is not None:
                return CommandAlreadyRecorded(recorded)
        conflict = ConcurrencyError(request.stream_id, request.expected_version, actual)
        if (
            request.resolve is None
            or actual <= request.expected_version
            or not request.expected_version
        ):
            return conflict
        params = {
            "stream_id": request.stream_id,
            "after": request.expected_version,
            "up_to": actual,
        }
        cursor.execute(self._sql.read_stream, params)
        newer = [self._stored(r) for r in cursor.fetchall()]
        try:
            new_events = request.resolve(newer)
        except Exception as error:
            return error
        if not new_events:
            return []
        if not self._claim(cursor, request.stream_id, actual, new_events, now):
            return conflict  # cannot happen while we hold the stream; refuse rather than guess
        return actual, new_events

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A write transaction on the store's connection that no append can overtake.

        While it is open, appends through this store wait for it, and appends from other
        processes wait on the head row (PostgreSQL) or the database's write lock (SQLite): what
        it reads of the log is the whole log until it ends. Readers go on seeing the database as
        it was before, until it commits. It commits when the block ends and rolls back if the
        block raises. Projections are rebuilt in one. Never append through `Emit` inside it:
        the append would wait for the transaction, which waits for the append.
        """
        with self._write_lock:
            try:
                writer = self._writer_connection()
                with writer.begin():  # SQLite: BEGIN IMMEDIATE, the write lock
                    if not self._sqlite:
                        writer.execute(
                            sa.select(head.c.position).where(head.c.id == 1).with_for_update()
                        )
                    yield writer
            except Exception as error:
                if not is_driver_error(error):
                    raise
                self._drop_writer()
                raise StorageError("run a transaction", None, error) from error

    def _writer_connection(self) -> sa.Connection:
        if self._closed:
            raise StorageError("append", None, RuntimeError("the store is closed"))
        if self._writer is None:
            self._writer = write_connection(self.engine)
        return self._writer

    def _drop_writer(self) -> None:
        """Forget the writer connection after a failure: the next append starts clean."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.invalidate()
                writer.close()
            except sa.exc.SQLAlchemyError:
                pass

    def _failed(self, error: Exception, stream_id: str) -> Exception:
        """The error to hand back for a failed append. A driver error may have broken the
        writer connection, so it is replaced; a hook's own error is passed through."""
        if not is_driver_error(error):
            return error
        self._drop_writer()
        return StorageError("append events", stream_id, error)

    def write_snapshot(self, snapshot: StoredSnapshot) -> None:
        params = {
            "stream_id": snapshot.stream_id,
            "key": snapshot.key,
            "version": snapshot.version,
            "state": snapshot.state,
        }
        with self._write_lock:
            try:
                writer = self._writer_connection()
                with writer.begin():
                    cursor = writer.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                    try:
                        cursor.execute(self._sql.write_snapshot, params)
                    finally:
                        cursor.close()
            except Exception as error:
                raise self._failed(error, snapshot.stream_id) from error

    # --- reading -------------------------------------------------------------------------------

    def read_stream(
        self, stream_id: str, *, after: int = 0, up_to: int | None = None
    ) -> list[StoredEvent]:
        params = _window(stream_id, after, up_to)
        rows = self._query("read a stream", stream_id, self._sql.read_stream, params)
        return [self._stored(row) for row in rows]

    def read_stream_data(
        self, stream_id: str, *, after: int = 0, up_to: int | None = None
    ) -> list[EventData]:
        params = _window(stream_id, after, up_to)
        # The driver's rows are already (version, type, schema_version, data) tuples.
        return self._query("read a stream", stream_id, self._sql.read_stream_data, params)

    def read_all(self, *, after: int = 0, limit: int | None = None) -> list[StoredEvent]:
        params = {"after": after, "limit": _NO_LIMIT if limit is None else limit, "offset": 0}
        rows = self._query("read the global log", None, self._sql.read_all, params)
        return [self._stored(row) for row in rows]

    def read_all_in(
        self, connection: sa.Connection, *, after: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """`read_all` inside the caller's transaction on `connection`: it sees exactly what that
        transaction sees (see `transaction`)."""
        params = {"after": after, "limit": _NO_LIMIT if limit is None else limit, "offset": 0}
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self._sql.read_all, params)
            return [self._stored(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def head_position_in(self, connection: sa.Connection) -> int:
        """`head_position` inside the caller's transaction on `connection` (see `transaction`)."""
        return int(connection.exec_driver_sql(self._sql.head).scalar_one())

    def find_command(self, stream_id: str, key: str) -> StoredCommand | None:
        with self._raw_connection("look up an idempotency key", stream_id) as connection:
            cursor = connection.cursor()
            try:
                return self._find_command(cursor, stream_id, key)
            finally:
                cursor.close()

    def _find_command(self, cursor: Any, stream_id: str, key: str) -> StoredCommand | None:
        cursor.execute(self._sql.find_command, {"stream_id": stream_id, "key": key})
        row = cursor.fetchone()
        if row is None:
            return None
        return StoredCommand(stream_id, key, row[0], int(row[1]), int(row[2]))

    def stream_version(self, stream_id: str) -> int:
        rows = self._query(
            "read a stream's version", stream_id, self._sql.stream_version, {"stream_id": stream_id}
        )
        return int(rows[0][0]) if rows else 0

    def list_streams(self, *, after: str | None = None, limit: int = 100) -> list[StreamInfo]:
        params = {"after": after or "", "limit": limit, "offset": 0}
        rows = self._query("list streams", None, self._sql.list_streams, params)
        timestamp = self._timestamp_value
        return [StreamInfo(r[0], int(r[1]), timestamp(r[2]), timestamp(r[3])) for r in rows]

    def count_streams(self) -> int:
        return int(self._query("count streams", None, self._sql.count_streams, {})[0][0])

    def head_position(self) -> int:
        rows = self._query("read the head position", None, self._sql.head, {})
        return int(rows[0][0]) if rows else 0

    def read_snapshot(
        self, stream_id: str, key: str, *, up_to: int | None = None
    ) -> StoredSnapshot | None:
        params = {
            "stream_id": stream_id,
            "key": key,
            "up_to": _MAX_VERSION if up_to is None else up_to,
            "limit": 1,
            "offset": 0,
        }
        rows = self._query("read a snapshot", stream_id, self._sql.read_snapshot, params)
        return StoredSnapshot(stream_id, int(rows[0][0]), key, rows[0][1]) if rows else None

    def _query(
        self, operation: str, stream_id: str | None, sql: str, params: dict[str, Any]
    ) -> list[Any]:
        with self._raw_connection(operation, stream_id) as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
            finally:
                cursor.close()

    @contextmanager
    def _raw_connection(self, operation: str, stream_id: str | None) -> Iterator[Any]:
        if self._closed:
            raise StorageError(operation, stream_id, RuntimeError("the store is closed"))
        try:
            # A failed pool checkout raises the driver's own error, not SQLAlchemy's.
            connection = self.engine.raw_connection()
        except Exception as error:
            if not is_driver_error(error):
                raise
            raise StorageError(operation, stream_id, error) from error
        try:
            yield connection
        except Exception as error:
            if is_driver_error(error):
                connection.invalidate()
                raise StorageError(operation, stream_id, error) from error
            raise
        finally:
            connection.close()

    def _stored(self, row: Any) -> StoredEvent:
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
            self._timestamp_value(row[8]),
        )

    def _timestamp_param(self, value: datetime) -> Any:
        # SQLite has no timestamp type: ISO 8601 text in UTC, fixed width, sorts correctly.
        return value.isoformat(timespec="microseconds") if self._sqlite else value

    @staticmethod
    def _timestamp_value(value: Any) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return datetime.fromisoformat(value)

    @property
    def closed(self) -> bool:
        """True once `close` was called: every call raises `StorageError` from then on."""
        return self._closed

    def close(self) -> None:
        """Release the connections; the data stays in the database."""
        with self._write_lock:
            self._closed = True
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if self._owns_engine:
            self.engine.dispose()


def _by_stream(requests: Sequence[AppendRequest]) -> list[int]:
    """The indexes of `requests` ordered by stream: two batches in two processes that lock
    their streams in this order cannot deadlock."""
    return sorted(range(len(requests)), key=lambda i: requests[i].stream_id)


def _window(stream_id: str, after: int, up_to: int | None) -> dict[str, Any]:
    """The parameters of a read of one stream's versions `after < version <= up_to`."""
    return {
        "stream_id": stream_id,
        "after": after,
        "up_to": _MAX_VERSION if up_to is None else up_to,
    }


def _stored_events(
    stream_id: str,
    expected: int,
    first_position: int,
    new_events: Sequence[NewEvent],
    now: datetime,
) -> list[StoredEvent]:
    """The events of one append as stored: versions after `expected`, consecutive positions."""
    return [
        StoredEvent(
            stream_id,
            expected + offset + 1,
            first_position + offset,
            event.event_id,
            event.type,
            event.schema_version,
            event.data,
            event.metadata,
            now,
        )
        for offset, event in enumerate(new_events)
    ]


@contextmanager
def storage_errors(operation: str, aggregate_id: str | None = None) -> Iterator[None]:
    """Raise what the driver or SQLAlchemy raises inside the block as a `StorageError` saying
    what failed: callers of emit's API handle one error type, not every driver's."""
    try:
        yield
    except Exception as error:
        if is_driver_error(error):
            raise StorageError(operation, aggregate_id, error) from error
        raise


class _CommitFailed(Exception):
    """The driver failed while committing: the transaction may or may not be stored."""

    def __init__(self, error: Exception, results: list[AppendResult] | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.results = results  # what each request would have got; None: its events

    def results_for(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        """A `StorageError` saying "maybe stored" for each request that was to store events;
        the others keep their result (a conflict, a resolver's refusal or its "nothing to
        append")."""
        if self.results is None:
            return [self._error(request) for request in requests]
        return [
            self._error(request) if isinstance(result, list) and result else result
            for request, result in zip(requests, self.results, strict=True)
        ]

    def _error(self, request: AppendRequest) -> StorageError:
        return StorageError(
            "commit appended events", request.stream_id, self.error, maybe_stored=True
        )


def _connection_lost(outcome: object) -> bool:
    """True for a `StorageError` of a connection that is gone (refused, reset, closed)."""
    return isinstance(outcome, StorageError) and outcome.kind == StorageErrorKind.UNREACHABLE


def _database_away(error: Exception) -> bool:
    """True for a `StorageError` that no request caused: the database is unreachable or hangs."""
    return isinstance(error, StorageError) and error.kind in (
        StorageErrorKind.UNREACHABLE,
        StorageErrorKind.TIMEOUT,
    )


def is_driver_error(error: BaseException) -> bool:
    """True for errors raised by the database driver (sqlite3, psycopg, and their subclasses
    such as emit's own `NoAnswer`) or SQLAlchemy."""
    if isinstance(error, sa.exc.SQLAlchemyError):
        return True
    return any(cls.__module__.startswith(("sqlite3", "psycopg")) for cls in type(error).__mro__)

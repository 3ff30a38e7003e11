"""Opening a database the way emit needs it: the engine, SQLite's pragmas and transactions,
PostgreSQL's bounded waits (emit/sql/postgres.py), and connections that write.

Durability: SQLite runs in WAL mode with `synchronous=FULL` (a commit is on disk when it
returns) and a busy timeout, so processes sharing a file wait for each other instead of
failing. PostgreSQL uses its default, synchronous commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from emit.sql.errors import storage_error
from emit.sql.sqlite_lock import LockingConnection

DEFAULT_TIMEOUT = 5.0
# Connections a SQLite engine keeps open for reuse. SQLAlchemy's default keeps 5 and closes each
# one opened beyond them as soon as it is returned: with more threads reading than that, W5's
# eight threads opened a new connection (file, pragmas, schema) for about one read in sixty,
# and the churn left 2 MB of freed memory scattered over the threads' malloc arenas. SQLite
# connections are cheap to keep; they are opened only when that many threads read at once.
SQLITE_POOL_SIZE = 16
# Each SQLite connection's own page cache, in kibibytes (SQLite's default is 2,000). The
# operating system caches the file anyway, so a page missing here costs a read from memory, not
# from disk. At the default, SQLite's memory grew by 1.3 MB in W5 as commands reached carts all
# over a 27 MB database: most likely the writer's cache, since a reader's is emptied whenever
# another connection has written.
SQLITE_CACHE_KIB = 256


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
    statement, each lock and each answer bounded by `timeout` (emit/sql/postgres.py). SQLite files
    get WAL, `synchronous=FULL`, a busy timeout (`busy_timeout`, by default `timeout`) and
    explicit transactions; a missing parent folder is created, and up to `SQLITE_POOL_SIZE`
    connections are kept open for reuse (`pool_size` in `options` overrides it). With
    `queue_writers`, write transactions on a SQLite file first queue on a lock file beside it
    (emit/sql/sqlite_lock.py): worth it when several processes write steadily (web workers),
    where SQLite's own busy handler would sleep up to 50 ms between tries; it costs a lone
    writer about a tenth of its rate, so it is off by default.
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
            raise storage_error("create the database's folder", None, error) from error
        options.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        if queue_writers:
            options["connect_args"].setdefault("factory", LockingConnection)
        options.setdefault("pool_timeout", timeout)
        options.setdefault("pool_size", SQLITE_POOL_SIZE)
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
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
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

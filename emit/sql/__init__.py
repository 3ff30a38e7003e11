"""emit's event store in SQLite or PostgreSQL, through SQLAlchemy 2 Core.

One idea per module:

- `tables`: emit's tables on one `metadata` (the subscribers add theirs to it);
- `schema`: `create_schema`, safe from several processes at once;
- `engine`: `make_engine` (SQLite's pragmas, PostgreSQL's bounded waits) and `write_connection`;
- `dialects`: one `Dialect` object behind every difference between SQLite and PostgreSQL;
- `statements`: the store's statements, compiled once for a dialect's driver;
- `append`: one try at a batch of appends in one transaction;
- `store`: `SqlEventStore`, its connections, reads, retries and errors;
- `errors`: driver errors as `StorageError`s and what they mean (`classify`);
- `sqlite_lock`: SQLite's writers queue on a lock file; `postgres`: connections that cannot hang.

Modules outside this package import from here, never from the modules above.
"""

from emit.ids import MAX_ID_LENGTH
from emit.sql.dialects import Dialect, compile_named, dialect_for, dialect_insert
from emit.sql.engine import DEFAULT_TIMEOUT, configure_sqlite, make_engine, write_connection
from emit.sql.errors import classify, is_driver_error, storage_error, storage_errors
from emit.sql.schema import create_schema
from emit.sql.store import SqlEventStore
from emit.sql.tables import commands, events, head, metadata, snapshots, streams

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ID_LENGTH",
    "Dialect",
    "SqlEventStore",
    "classify",
    "commands",
    "compile_named",
    "configure_sqlite",
    "create_schema",
    "dialect_for",
    "dialect_insert",
    "events",
    "head",
    "is_driver_error",
    "make_engine",
    "metadata",
    "snapshots",
    "storage_error",
    "storage_errors",
    "streams",
    "write_connection",
]

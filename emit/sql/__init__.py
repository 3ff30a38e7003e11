"""emit's event store in SQLite or PostgreSQL, through SQLAlchemy 2 Core."""

from emit.sql.errors import classify
from emit.sql.store import (
    MAX_ID_LENGTH,
    SqlEventStore,
    create_schema,
    dialect_insert,
    events,
    is_driver_error,
    make_engine,
    metadata,
    storage_errors,
    write_connection,
)

__all__ = [
    "MAX_ID_LENGTH",
    "SqlEventStore",
    "classify",
    "create_schema",
    "dialect_insert",
    "events",
    "is_driver_error",
    "make_engine",
    "metadata",
    "storage_errors",
    "write_connection",
]

"""Creating emit's tables (emit/sql/tables.py), and read models' tables, where they are missing."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from emit.sql.dialects import dialect_for
from emit.sql.errors import storage_errors
from emit.sql.tables import metadata


def create_schema(engine: sa.Engine, *, tables: Iterable[sa.Table] = ()) -> None:
    """Create emit's tables, and `tables` (read models of projections), where they are missing.
    Safe to call from several processes at once. Raises `StorageError`."""
    dialect = dialect_for(engine)
    write = engine.execution_options(emit_write=True)
    with storage_errors("create the schema"), write.begin() as connection:
        dialect.lock_schema(connection)
        own = dialect.schema_tables(metadata.sorted_tables)
        metadata.create_all(connection, tables=own, checkfirst=True)
        dialect.finish_schema(connection, own)
        for table in sa.schema.sort_tables(tables):
            table.create(connection, checkfirst=True)

"""Creating emit's tables (emit/sql/tables.py), and read models' tables, where they are missing."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from emit.sql.dialects import Dialect, dialect_for
from emit.sql.errors import storage_errors
from emit.sql.tables import events, metadata


def create_schema(engine: sa.Engine, *, tables: Iterable[sa.Table] = ()) -> None:
    """Create emit's tables, and `tables` (read models of projections, policies' tables), where
    they are missing. A table of `tables` whose `info["upgrade"]` is set has it called with the
    connection once the table exists, in the same transaction: to bring a table made by earlier
    code up to date (it must do nothing to one that is). Safe to call from several processes at
    once. Raises `StorageError`."""
    dialect = dialect_for(engine)
    write = engine.execution_options(emit_write=True)
    with storage_errors("create the schema"), write.begin() as connection:
        dialect.lock_schema(connection)
        own = dialect.schema_tables(metadata.sorted_tables)
        metadata.create_all(connection, tables=own, checkfirst=True)
        _rename_columns(connection, dialect, own)
        _add_correlation_column(connection, dialect)
        dialect.finish_schema(connection, own)
        for table in sa.schema.sort_tables(tables):
            table.create(connection, checkfirst=True)
            upgrade = table.info.get("upgrade")
            if upgrade is not None:
                upgrade(connection)


def _rename_columns(
    connection: sa.Connection, dialect: Dialect, tables: Iterable[sa.Table]
) -> None:
    """Rename the columns (and constraints, where the database names them) that a table says
    were renamed (`info["renamed_columns"]`, `info["renamed_constraints"]`: old name -> new
    name) in a database made before: its rows stay."""
    inspector = sa.inspect(connection)
    for table in tables:
        renamed = table.info.get("renamed_columns", {})
        if not renamed or not inspector.has_table(table.name):
            continue
        found = {column["name"] for column in inspector.get_columns(table.name)}
        for old, new in renamed.items():
            if old in found and new not in found:
                connection.exec_driver_sql(
                    f'ALTER TABLE "{table.name}" RENAME COLUMN "{old}" TO "{new}"'
                )
        if dialect.names_constraints:
            names = {c["name"] for c in inspector.get_unique_constraints(table.name)}
            for old, new in table.info.get("renamed_constraints", {}).items():
                if old in names and new not in names:
                    connection.exec_driver_sql(
                        f'ALTER TABLE "{table.name}" RENAME CONSTRAINT "{old}" TO "{new}"'
                    )


def _add_correlation_column(connection: sa.Connection, dialect: Dialect) -> None:
    """Give an `emit_events` made before 2026-12-04 its `correlation_id` column, filled from
    each event's metadata, and its index. One statement over the whole log, once: on a large
    store, upgrading takes as long as reading every event's metadata (and holds the write lock
    meanwhile, so appends wait)."""
    columns = {column["name"] for column in sa.inspect(connection).get_columns(events.name)}
    if "correlation_id" in columns:
        return
    connection.exec_driver_sql(f'ALTER TABLE "{events.name}" ADD COLUMN correlation_id TEXT')
    connection.execute(
        sa.update(events).values(correlation_id=dialect.correlation_of(events.c.metadata))
    )
    for index in events.indexes:
        index.create(connection, checkfirst=True)

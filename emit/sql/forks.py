"""Forks in SQL: the rows of `emit_forks` (emit/sql/tables.py), written in the fork's append
transaction and read by the fork's id or by its origin's (both keys are indexed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from emit.forks import Fork
from emit.sql.dialects import Dialect
from emit.sql.tables import forks
from emit.store import StoredEvent, TransactionHook

_COLUMNS = (forks.c.stream_id, forks.c.origin_id, forks.c.version, forks.c.forked_at)


class ForkStatements:
    """The statements of `emit_forks` for one dialect, and what their rows mean."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        bind = sa.bindparam
        self._insert = dialect.compile(
            sa.insert(forks).values({c.name: bind(c.name) for c in forks.columns})
        )
        self.fork_of = dialect.compile(
            sa.select(*_COLUMNS).where(forks.c.stream_id == bind("stream_id"))
        )
        self.forks_of = dialect.compile(
            sa.select(*_COLUMNS)
            .where(forks.c.origin_id == bind("stream_id"))
            .order_by(forks.c.forked_at, forks.c.stream_id)
        )

    def recording(self, aggregate_id: str, origin_id: str, version: int) -> TransactionHook:
        """The append's hook that inserts the fork's row in the append's transaction."""

        def record(connection: sa.Connection, stored: Sequence[StoredEvent]) -> None:
            params = {
                "stream_id": aggregate_id,
                "origin_id": origin_id,
                "version": version,
                "forked_at": self._dialect.timestamp_param(stored[0].recorded_at),
            }
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(self._insert, params)
            finally:
                cursor.close()

        return record

    def fork(self, row: Any) -> Fork:
        """A row of `fork_of` or `forks_of`."""
        return Fork(row[0], row[1], int(row[2]), self._dialect.timestamp_value(row[3]))

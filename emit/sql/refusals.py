"""The refusal log (emit/refusals.py) in the table `emit_refusals` of the events' database.

Each refusal is its own short transaction, apart from any append: the row, then the rows past
the retention deleted by id (the new id minus `keep`), an index range that holds one row in
the steady state, never a count. Writers of the log take it one at a time (see
`Dialect.lock_refusals`), so ids follow commit order and exactly the newest `keep` remain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emit.refusals import NewRefusal, Refusal, check_keep
from emit.sql.dialects import dialect_for
from emit.sql.engine import write_connection
from emit.sql.errors import storage_errors
from emit.sql.tables import refusals

_COLUMNS = (
    refusals.c.id,
    refusals.c.stream_id,
    refusals.c.command,
    refusals.c.data,
    refusals.c.reason,
    refusals.c.version,
    refusals.c.correlation_id,
    refusals.c.refused_at,
)


class SqlRefusalLog:
    """The `RefusalLog` of a SQL database; every failure is raised as a `StorageError`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._dialect = dialect_for(engine)
        self._clock = sa.literal_column(self._dialect.clock, sa.Float)

    def record(self, refusal: NewRefusal, *, keep: int) -> int:
        check_keep(keep)
        insert = sa.insert(refusals).values(
            stream_id=refusal.stream_id,
            command=refusal.command,
            data=refusal.data,
            reason=refusal.reason,
            version=refusal.version,
            correlation_id=refusal.correlation_id,
            refused_at=self._clock,
        )
        with (
            storage_errors("record a refused command", refusal.stream_id),
            write_connection(self.engine) as connection,
            connection.begin(),
        ):
            self._dialect.lock_refusals(connection)
            inserted = connection.execute(insert).inserted_primary_key
            refusal_id = int(inserted[0]) if inserted is not None else 0
            connection.execute(sa.delete(refusals).where(refusals.c.id <= refusal_id - keep))
        return refusal_id

    def read(
        self,
        *,
        before: int | None = None,
        stream_id: str | None = None,
        versions: tuple[int, int] | None = None,
        limit: int = 50,
    ) -> list[Refusal]:
        query = sa.select(*_COLUMNS).order_by(refusals.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(refusals.c.id < before)
        if stream_id is not None:
            query = query.where(refusals.c.stream_id == stream_id)
        if versions is not None:
            query = query.where(refusals.c.version.between(*versions))
        with storage_errors("read refused commands", stream_id), self.engine.connect() as c:
            return [_refusal(row) for row in c.execute(query)]

    def count(self, *, stream_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(refusals)
        if stream_id is not None:
            query = query.where(refusals.c.stream_id == stream_id)
        with storage_errors("count refused commands", stream_id), self.engine.connect() as c:
            return int(c.execute(query).scalar_one())


def _refusal(row: Any) -> Refusal:
    return Refusal(
        id=int(row[0]),
        stream_id=row[1],
        command=row[2],
        data=row[3],
        reason=row[4],
        version=int(row[5]),
        correlation_id=row[6],
        refused_at=datetime.fromtimestamp(float(row[7]), UTC),
    )

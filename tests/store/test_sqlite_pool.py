"""A SQLite store keeps the connections that threads read on at once, instead of opening a new
one for each read beyond a handful (emit/sql/engine.py, `SQLITE_POOL_SIZE`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from emit import SqlEventStore
from emit.sql.engine import SQLITE_POOL_SIZE


def test_connections_used_at_once_are_kept_for_the_next_reads(sqlite_url: str) -> None:
    store = SqlEventStore(sqlite_url)
    opened: list[Any] = []
    sa.event.listen(store.engine, "connect", lambda connection, _record: opened.append(connection))
    at_once = 12  # more than SQLAlchemy's default of 5 kept, as with a dozen threads reading
    opened_by_round = []
    for _ in range(3):
        held = [store.engine.raw_connection() for _ in range(at_once)]
        for connection in held:
            connection.close()
        opened_by_round.append(len(opened))
    assert opened_by_round[0] > 0
    assert opened_by_round[1:] == [opened_by_round[0]] * 2
    store.close()


def test_beyond_the_pool_connections_are_still_opened_and_closed(sqlite_url: str) -> None:
    store = SqlEventStore(sqlite_url)
    held = [store.engine.raw_connection() for _ in range(SQLITE_POOL_SIZE + 2)]
    for connection in held:
        connection.close()
    pool = store.engine.pool
    assert isinstance(pool, sa.QueuePool)
    assert pool.checkedin() == SQLITE_POOL_SIZE
    store.close()

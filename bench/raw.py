"""The raw limit: the driver itself committing one ~100-byte row per transaction.

On SQLite, the standard library's sqlite3 with the same settings as both event stores: WAL,
`synchronous=FULL`, an explicit `BEGIN IMMEDIATE`. On PostgreSQL, psycopg with the server's
default, synchronous commit. No event store can commit one command per transaction faster than
this on the same disk; group commit (W1c) is how it can beat it.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

ROW = "x" * 100


class OneRowPerTransaction:
    """A table of rows and a connection that commits one row per transaction."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._committed = 0

    def run(self, transactions: int) -> float:
        """Commit `transactions` one-row transactions; the seconds it took."""
        commit_one = self._commit_one
        started = time.perf_counter()
        for _ in range(transactions):
            commit_one()
        elapsed = time.perf_counter() - started
        self._committed += transactions
        return elapsed

    def _commit_one(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Check every committed row is there, and let go of the database."""
        (count,) = self._connection.execute("SELECT count(*) FROM rows").fetchone()
        self._connection.close()
        if count != self._committed:
            raise AssertionError(f"raw: {count} rows stored, {self._committed} committed")


class SqliteRows(OneRowPerTransaction):
    def __init__(self, path: str) -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        super().__init__(connection)
        self._cursor = connection.cursor()

    def _commit_one(self) -> None:
        cursor = self._cursor
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("INSERT INTO rows (data) VALUES (?)", (ROW,))
        cursor.execute("COMMIT")


class PostgresRows(OneRowPerTransaction):
    def __init__(self, conninfo: str, schema: str) -> None:
        import psycopg

        connection: Any = psycopg.connect(conninfo, options=f"-csearch_path={schema}")
        connection.execute("CREATE TABLE rows (id BIGSERIAL PRIMARY KEY, data TEXT NOT NULL)")
        connection.commit()
        super().__init__(connection)

    def _commit_one(self) -> None:
        self._connection.execute("INSERT INTO rows (data) VALUES (%s)", (ROW,))
        self._connection.commit()

"""The raw limit: the driver itself committing one ~100-byte row per transaction.

On SQLite, the standard library's sqlite3 with the same settings as both event stores: WAL,
`synchronous=FULL`, an explicit `BEGIN IMMEDIATE`. On PostgreSQL, psycopg with the server's
default, synchronous commit. No event store can commit one command per transaction faster than
this on the same disk; group commit (W1c) is how it can beat it.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Protocol

ROW = "x" * 100


class OneRowPerTransaction(Protocol):
    def run(self, transactions: int) -> float:
        """Commit `transactions` one-row transactions; the seconds it took."""
        ...

    def close(self) -> None:
        """Check every committed row is there, and let go of the database."""
        ...


class SqliteRows:
    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode = WAL")
        self._connection.execute("PRAGMA synchronous = FULL")
        self._connection.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        self._committed = 0

    def run(self, transactions: int) -> float:
        cursor = self._connection.cursor()
        started = time.perf_counter()
        for _ in range(transactions):
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("INSERT INTO rows (data) VALUES (?)", (ROW,))
            cursor.execute("COMMIT")
        elapsed = time.perf_counter() - started
        self._committed += transactions
        return elapsed

    def close(self) -> None:
        (count,) = self._connection.execute("SELECT count(*) FROM rows").fetchone()
        self._connection.close()
        _check(count, self._committed)


class PostgresRows:
    def __init__(self, conninfo: str, schema: str) -> None:
        import psycopg

        self._connection: Any = psycopg.connect(conninfo, options=f"-csearch_path={schema}")
        self._connection.execute("CREATE TABLE rows (id BIGSERIAL PRIMARY KEY, data TEXT NOT NULL)")
        self._connection.commit()
        self._committed = 0

    def run(self, transactions: int) -> float:
        connection = self._connection
        started = time.perf_counter()
        for _ in range(transactions):
            connection.execute("INSERT INTO rows (data) VALUES (%s)", (ROW,))
            connection.commit()
        elapsed = time.perf_counter() - started
        self._committed += transactions
        return elapsed

    def close(self) -> None:
        (count,) = self._connection.execute("SELECT count(*) FROM rows").fetchone()
        self._connection.close()
        _check(count, self._committed)


def _check(count: int, committed: int) -> None:
    if count != committed:
        raise AssertionError(f"raw: {count} rows stored, {committed} committed")

"""Appending: requests written in one transaction, each stream claimed at its expected version.

`Appender.append` is one try at a batch of `AppendRequest`s: each stream moves from the version
its request expects (or, if it moved on, its resolver decides on the newer events while the
transaction holds the stream), the events take consecutive global positions in the order the
requests arrived, idempotency keys are recorded, and `before_commit` hooks run last, in the same
transaction. A failed commit raises `CommitFailed`: it may have happened. Retrying, connections
and turning driver errors into `StorageError`s are the store's part (emit/sql/store.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emit.errors import ConcurrencyError
from emit.sql.dialects import AloneAppends, Dialect
from emit.sql.errors import CommitFailed
from emit.sql.statements import Statements, stored_event
from emit.store import (
    AppendRequest,
    AppendResult,
    CommandAlreadyRecorded,
    NewEvent,
    StoredCommand,
    StoredEvent,
)


class Appender:
    """The append path of one store: its dialect and its compiled statements."""

    def __init__(self, dialect: Dialect, statements: Statements) -> None:
        self._dialect = dialect
        self._sql = statements

    def append(
        self, writer: sa.Connection, requests: Sequence[AppendRequest]
    ) -> list[AppendResult]:
        """Write `requests` in one transaction on `writer` and commit: each request's result.
        Raises `CommitFailed` if the commit failed, and what the driver or a hook raised before."""
        if (
            requests[0].before_commit is not None
            if len(requests) == 1
            else any(request.before_commit is not None for request in requests)
        ):
            # Hooks get the SQLAlchemy connection, inside this very transaction.
            transaction = writer.begin()
            driver = writer.connection.dbapi_connection
            return self._transact(
                writer, driver, requests, transaction.rollback, transaction.commit
            )
        # Without hooks, the same transaction is run on the driver's connection: SQLAlchemy's
        # bookkeeping around a transaction costs as much Python time as the append itself.
        driver = writer.connection.dbapi_connection
        assert driver is not None
        if self._sql.alone is not None and len(requests) == 1:
            stored = self._append_alone(self._sql.alone, driver, requests[0])
            if stored is not None:
                return [stored]
            # The stream has moved on: the long way resolves or refuses, holding the stream.
        begin = self._dialect.begin_write  # SQLite: the write lock; psycopg begins by itself
        return self._transact(writer, driver, requests, driver.rollback, driver.commit, begin)

    def _transact(
        self,
        writer: sa.Connection,
        driver: Any,
        requests: Sequence[AppendRequest],
        rollback: Callable[[], None],
        commit: Callable[[], None],
        begin: str | None = None,
    ) -> list[AppendResult]:
        """Write `requests` in the transaction that `rollback` or `commit` end."""
        cursor = driver.cursor()
        try:
            if begin is not None:
                cursor.execute(begin)
            results = self._write(writer, cursor, requests)
        except BaseException:
            with suppress(Exception):  # a broken connection is replaced by `_failed`
                rollback()
            raise
        finally:
            cursor.close()
        self._commit(commit, results)
        return results

    @staticmethod
    def _commit(commit: Callable[[], None], results: list[AppendResult]) -> None:
        """Commit; a failure here is ambiguous (the commit may have reached the disk before
        the error), so it is told apart from failures before it: see `append_many`."""
        try:
            commit()
        except Exception as error:
            raise CommitFailed(error, results) from error

    def _append_alone(
        self, alone: AloneAppends, driver: Any, request: AppendRequest
    ) -> list[StoredEvent] | None:
        """One request in one statement (PostgreSQL's `AloneAppends`), committed when it
        returns; None if the stream is not at the expected version, in which case nothing was
        written."""
        now = datetime.now(UTC)
        expected, new_events = request.expected_version, request.events
        params = {
            "stream_id": request.stream_id,
            "expected": expected,
            "version": expected + len(new_events),
            "now": now,
            "count": len(new_events),
            "event_ids": [e.event_id for e in new_events],
            "types": [e.type for e in new_events],
            "schema_versions": [e.schema_version for e in new_events],
            "datas": [e.data for e in new_events],
            "metadatas": [e.metadata for e in new_events],
        }
        key = request.command_key
        if key is not None:
            params["key"] = key.key
            params["fingerprint"] = key.fingerprint
        statement = alone.statement(expected, keyed=key is not None)
        positions = alone.run(driver, statement, params)
        if not positions:
            return None
        return _stored_events(request.stream_id, expected, positions[0], new_events, now)

    def _write(
        self, writer: sa.Connection, cursor: Any, requests: Sequence[AppendRequest]
    ) -> list[AppendResult]:
        now = datetime.now(UTC)
        now_param = self._dialect.timestamp_param(now)
        results: list[AppendResult] = [[] for _ in requests]
        claims: dict[int, tuple[int, Sequence[NewEvent]]] = {}  # index: (expected, events)
        # Lock streams in a fixed order so that two batches in two processes cannot deadlock.
        moved: dict[str, int] = {}  # stream: its version once this batch commits
        order = range(1) if len(requests) == 1 else _by_stream(requests)
        for index in order:
            request = requests[index]
            if request.stream_id in moved:
                # A second request for a stream this batch already moves: the events it would
                # be resolved against are not written yet. It lost the race; the caller retries.
                actual = moved[request.stream_id]
                results[index] = ConcurrencyError(
                    request.stream_id, request.expected_version, actual
                )
                continue
            if self._claim(
                cursor, request.stream_id, request.expected_version, request.events, now_param
            ):
                claims[index] = (request.expected_version, request.events)
            else:
                outcome = self._resolve(cursor, request, now_param)
                if not isinstance(outcome, tuple):
                    results[index] = outcome
                    continue
                claims[index] = outcome
            expected, new_events = claims[index]
            moved[request.stream_id] = expected + len(new_events)
        if not claims:
            return results
        count = sum(len(events) for _, events in claims.values())
        position = self._dialect.reserve_positions(cursor, count)
        uuid_param = self._dialect.uuid_param
        rows: list[dict[str, Any]] = []
        claimed = sorted(claims) if len(claims) > 1 else list(claims)
        for index in claimed:  # positions follow the order the requests arrived in
            stream_id = requests[index].stream_id
            expected, new_events = claims[index]
            stored = _stored_events(stream_id, expected, position + 1, new_events, now)
            position += len(stored)
            rows.extend(
                {
                    "position": event.position,
                    "stream_id": stream_id,
                    "version": event.version,
                    "event_id": uuid_param(event.event_id),
                    "type": event.type,
                    "schema_version": event.schema_version,
                    "data": event.data,
                    "metadata": event.metadata,
                    "recorded_at": now_param,
                }
                for event in stored
            )
            results[index] = stored
        if len(rows) == 1:
            cursor.execute(self._sql.insert_event, rows[0])  # psycopg pipelines executemany:
        else:  # two more round trips for one row
            cursor.executemany(self._sql.insert_event, rows)
        keys = [
            {
                "stream_id": requests[index].stream_id,
                "key": key.key,
                "fingerprint": key.fingerprint,
                "first_version": claims[index][0] + 1,
                "last_version": claims[index][0] + len(claims[index][1]),
            }
            for index in claimed
            if (key := requests[index].command_key) is not None
        ]
        if len(keys) == 1:
            cursor.execute(self._sql.insert_command, keys[0])
        elif keys:
            cursor.executemany(self._sql.insert_command, keys)
        for index in claimed:
            hook = requests[index].before_commit
            if hook is not None:
                hook(writer, results[index])  # type: ignore[arg-type]
        return results

    def _claim(
        self, cursor: Any, stream_id: str, expected: int, new_events: Sequence[NewEvent], now: Any
    ) -> bool:
        """Move the stream from `expected` to its new version; False if it is not at `expected`."""
        version = expected + len(new_events)
        if expected == 0:
            params = {"stream_id": stream_id, "version": version, "now": now}
            cursor.execute(self._sql.create_stream, params)
        else:
            params = {"stream_id": stream_id, "expected": expected, "version": version, "now": now}
            cursor.execute(self._sql.advance_stream, params)
        return bool(cursor.rowcount == 1)

    def _resolve(
        self, cursor: Any, request: AppendRequest, now: Any
    ) -> tuple[int, Sequence[NewEvent]] | AppendResult:
        """After a failed claim: a `ConcurrencyError`, or, if the request has a resolver, its
        decision on the newer events, taken while this transaction holds the stream."""
        cursor.execute(self._sql.lock_stream, {"stream_id": request.stream_id})
        row = cursor.fetchone()
        actual = 0 if row is None else int(row[0])
        if request.command_key is not None:
            # Holding the stream now, so a request with this key that moved it has committed.
            recorded = find_command(cursor, self._sql, request.stream_id, request.command_key.key)
            if recorded is not None:
                return CommandAlreadyRecorded(recorded)
        conflict = ConcurrencyError(request.stream_id, request.expected_version, actual)
        if (
            request.resolve is None
            or actual <= request.expected_version
            or not request.expected_version
        ):
            return conflict
        params = {
            "stream_id": request.stream_id,
            "after": request.expected_version,
            "up_to": actual,
        }
        cursor.execute(self._sql.read_stream, params)
        newer = [stored_event(r, self._dialect) for r in cursor.fetchall()]
        try:
            new_events = request.resolve(newer)
        except Exception as error:
            return error
        if not new_events:
            return []
        if not self._claim(cursor, request.stream_id, actual, new_events, now):
            return conflict  # cannot happen while we hold the stream; refuse rather than guess
        return actual, new_events


def find_command(
    cursor: Any, statements: Statements, stream_id: str, key: str
) -> StoredCommand | None:
    """The command recorded under `key` on `stream_id`, read on the driver's `cursor`."""
    cursor.execute(statements.find_command, {"stream_id": stream_id, "key": key})
    row = cursor.fetchone()
    if row is None:
        return None
    return StoredCommand(stream_id, key, row[0], int(row[1]), int(row[2]))


def _by_stream(requests: Sequence[AppendRequest]) -> list[int]:
    """The indexes of `requests` ordered by stream: two batches in two processes that lock
    their streams in this order cannot deadlock."""
    return sorted(range(len(requests)), key=lambda i: requests[i].stream_id)


def _stored_events(
    stream_id: str,
    expected: int,
    first_position: int,
    new_events: Sequence[NewEvent],
    now: datetime,
) -> list[StoredEvent]:
    """The events of one append as stored: versions after `expected`, consecutive positions."""
    return [
        StoredEvent(
            stream_id,
            expected + offset + 1,
            first_position + offset,
            event.event_id,
            event.type,
            event.schema_version,
            event.data,
            event.metadata,
            now,
        )
        for offset, event in enumerate(new_events)
    ]

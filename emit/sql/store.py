"""The durable event store: SQLite (embedded) or PostgreSQL, through SQLAlchemy 2 Core.

`SqlEventStore` is the `EventStore` (emit/store.py) of a SQL database: the tables are in
tables.py, the statements in statements.py, everything that differs between SQLite and
PostgreSQL in dialects.py, the append path in append.py. The store holds the connections: one
writer connection, behind a lock, for appends and other writes (so appends in one process queue
here rather than in the database), and pooled connections for reads. It turns the driver's
errors into `StorageError`s, and decides what is tried again after a failure.

It is over 400 lines because it is the one object a caller holds for every capability (events,
snapshots, commands, forks, refusals), each a short method delegating to the modules above.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from emit.errors import StorageError
from emit.forks import Fork, ForkRecords
from emit.log import NO_FILTER, LogFilter, check_log_page
from emit.sql.append import Appender, find_command
from emit.sql.dialects import dialect_for
from emit.sql.engine import DEFAULT_TIMEOUT, make_engine, write_connection
from emit.sql.errors import (
    CommitFailed,
    connection_lost,
    database_away,
    is_driver_error,
    storage_error,
)
from emit.sql.forks import ForkStatements
from emit.sql.log import LogReads
from emit.sql.refusals import SqlRefusalLog
from emit.sql.schema import create_schema
from emit.sql.statements import Statements, stored_event
from emit.sql.tables import MAX_VERSION
from emit.store import (
    AppendRequest,
    AppendResult,
    EventData,
    Listener,
    NotifyingStore,
    StoredCommand,
    StoredEvent,
    StoredSnapshot,
    StreamInfo,
    TransactionalStore,
    TransactionHook,
    check_requests,
)

_NO_LIMIT = 2**62
_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")

T = TypeVar("T")


class SqlEventStore:
    """An `EventStore` in SQLite or PostgreSQL; see the module docstring for the design.

    `url_or_engine` is a database URL (`sqlite:///instance/emit.sqlite3`,
    `postgresql://user@host/db`) or an engine made by `make_engine`. The schema is created on
    first use unless `create=False`. Safe to share between threads; several processes (and, on
    PostgreSQL, several hosts) can each open their own store on one database. `timeout` bounds
    every wait for the database (see `make_engine`); `busy_timeout` and `queue_writers` are
    SQLite's settings. Every failure of the database is raised as a `StorageError`.

    `notify` names a channel: on PostgreSQL, every append then sends `NOTIFY` on it with the
    new head position, from the statement that moves the head (no extra round trip; delivered
    when the append commits), and `listen` opens a connection that hears them, on any host.
    Off by default; ignored on SQLite, which has no notifications (readers poll the head).
    """

    def __init__(
        self,
        url_or_engine: str | sa.URL | sa.Engine,
        *,
        create: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        busy_timeout: float | None = None,
        queue_writers: bool = False,
        notify: str | None = None,
    ) -> None:
        if isinstance(url_or_engine, sa.Engine):
            self.engine = url_or_engine
            self._owns_engine = False
        else:
            self.engine = make_engine(
                url_or_engine,
                timeout=timeout,
                busy_timeout=busy_timeout,
                queue_writers=queue_writers,
            )
            self._owns_engine = True
        if notify is not None and not _CHANNEL.fullmatch(notify):
            raise ValueError(
                f"A notification channel is a lower-case name of letters, digits and "
                f"underscores, up to 63 characters, not {notify!r}."
            )
        self.dialect = self.engine.dialect.name  # "sqlite" or "postgresql"
        # SQLite has no NOTIFY: its readers poll the head position.
        self.notify = notify if self.dialect == "postgresql" else None
        self._timeout = timeout
        # Refuses a database emit does not support.
        self._dialect = dialect_for(self.engine, notify=self.notify)
        self._sql = Statements(self._dialect)
        self._appender = Appender(self._dialect, self._sql)
        self._forks = ForkStatements(self._dialect)
        self._log = LogReads(self._dialect)
        self._write_lock = threading.Lock()
        self._writer: sa.Connection | None = None
        self._closed = False
        self.creates_schema = create
        # The refused commands (emit/refusals.py), in `emit_refusals` beside the events.
        self.refusals = SqlRefusalLog(self.engine)
        if create:
            create_schema(self.engine)

    # --- writing -------------------------------------------------------------------------------

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        check_requests(requests)
        with self._write_lock:
            reused = self._writer is not None
            outcome = self._attempt(requests)
            if reused and connection_lost(outcome):
                # The writer's connection died while it waited (the database restarted, the
                # network was cut): nothing that could commit was sent on it, so the batch gets
                # one more try on a new connection, as a fresh start would.
                outcome = self._attempt(requests)
            if not isinstance(outcome, Exception):
                return outcome
            if len(requests) == 1 or database_away(outcome):
                # The database itself failed: trying each request alone would only wait for
                # it once more per request.
                return [outcome] * len(requests)
            # One request spoiled the shared transaction before its commit (nothing of it was
            # stored): give each its own, so that only the culprit fails.
            results: list[AppendResult] = []
            for request in requests:
                alone = self._attempt([request])
                results.extend([alone] if isinstance(alone, Exception) else alone)
            return results

    def _attempt(self, requests: Sequence[AppendRequest]) -> list[AppendResult] | Exception:
        """One try at `requests` in one transaction: each request's result, or the error that
        kept all of them out before their commit. A failed commit is a result, never an error
        to try again on: it may have happened, and a retry could store a command twice, so what
        was to be stored gets a `StorageError` saying it may have been."""
        try:
            return self._appender.append(self._writer_connection(), requests)
        except CommitFailed as failed:
            self._drop_writer()
            return failed.results_for(requests)
        except Exception as error:
            return self._failed(error, requests[0].stream_id)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A write transaction on the store's connection that no append can overtake.

        While it is open, appends through this store wait for it, and appends from other
        processes wait on the head row (PostgreSQL) or the database's write lock (SQLite): what
        it reads of the log is the whole log until it ends. Readers go on seeing the database as
        it was before, until it commits. It commits when the block ends and rolls back if the
        block raises. Projections are rebuilt in one. Never append through `Emit` inside it:
        the append would wait for the transaction, which waits for the append.
        """
        with self._write_lock:
            try:
                writer = self._writer_connection()
                with writer.begin():  # SQLite: BEGIN IMMEDIATE, the write lock
                    self._dialect.lock_log(writer)  # PostgreSQL: the head row
                    yield writer
            except Exception as error:
                if not is_driver_error(error):
                    raise
                self._drop_writer()
                raise storage_error("run a transaction", None, error) from error

    def _writer_connection(self) -> sa.Connection:
        if self._closed:
            raise storage_error("append", None, RuntimeError("the store is closed"))
        if self._writer is None:
            self._writer = write_connection(self.engine)
        return self._writer

    def _drop_writer(self) -> None:
        """Forget the writer connection after a failure: the next append starts clean."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.invalidate()
                writer.close()
            except sa.exc.SQLAlchemyError:
                pass

    def _failed(self, error: Exception, stream_id: str) -> Exception:
        """The error to hand back for a failed append. A driver error may have broken the
        writer connection, so it is replaced; a hook's own error is passed through."""
        if not is_driver_error(error):
            return error
        self._drop_writer()
        return storage_error("append events", stream_id, error)

    def write_snapshot(self, snapshot: StoredSnapshot) -> None:
        params = {
            "stream_id": snapshot.stream_id,
            "key": snapshot.key,
            "version": snapshot.version,
            "state": snapshot.state,
        }
        with self._write_lock:
            try:
                writer = self._writer_connection()
                with writer.begin():
                    cursor = writer.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                    try:
                        cursor.execute(self._sql.write_snapshot, params)
                    finally:
                        cursor.close()
            except Exception as error:
                raise self._failed(error, snapshot.stream_id) from error

    def listen(self) -> Listener | None:
        """A new connection that hears this store's appends (and those of every store on the
        database made with the same `notify`), on PostgreSQL with `notify` set; None otherwise.
        Close it when done. Raises `StorageError`."""
        if self.notify is None:
            return None
        from emit.sql.postgres import Listener as PostgresListener

        try:
            return _Listening(PostgresListener(self.engine, self.notify, self._timeout))
        except Exception as error:
            if not is_driver_error(error):
                raise
            raise storage_error("listen for appends", None, error) from error

    # --- reading -------------------------------------------------------------------------------

    def read_stream(
        self, stream_id: str, *, after: int = 0, up_to: int | None = None
    ) -> list[StoredEvent]:
        params = _window(stream_id, after, up_to)
        rows = self._query("read a stream", stream_id, self._sql.read_stream, params)
        return [stored_event(row, self._dialect) for row in rows]

    def read_stream_data(
        self, stream_id: str, *, after: int = 0, up_to: int | None = None
    ) -> list[EventData]:
        params = _window(stream_id, after, up_to)
        # The driver's rows are already (version, type, schema_version, data) tuples.
        return self._query("read a stream", stream_id, self._sql.read_stream_data, params)

    def read_all(self, *, after: int = 0, limit: int | None = None) -> list[StoredEvent]:
        params = {"after": after, "limit": _NO_LIMIT if limit is None else limit, "offset": 0}
        rows = self._query("read the global log", None, self._sql.read_all, params)
        return [stored_event(row, self._dialect) for row in rows]

    def read_log(
        self,
        log_filter: LogFilter = NO_FILTER,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[StoredEvent]:
        check_log_page(before, after, limit)
        sql, params, ascending = self._log.page(log_filter, before, after, limit)
        rows = self._query("read the log", log_filter.stream_id, sql, params)
        found = [stored_event(row, self._dialect) for row in rows]
        return found[::-1] if ascending else found

    def event_at(self, position: int) -> StoredEvent | None:
        rows = self._query("read an event", None, self._log.event_at, {"position": position})
        return stored_event(rows[0], self._dialect) if rows else None

    def read_all_in(
        self, connection: sa.Connection, *, after: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """`read_all` inside the caller's transaction on `connection`: it sees exactly what that
        transaction sees (see `transaction`)."""
        params = {"after": after, "limit": _NO_LIMIT if limit is None else limit, "offset": 0}
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self._sql.read_all, params)
            return [stored_event(row, self._dialect) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def head_position_in(self, connection: sa.Connection) -> int:
        """`head_position` inside the caller's transaction on `connection` (see `transaction`)."""
        return int(connection.exec_driver_sql(self._sql.head).scalar_one())

    def find_command(self, stream_id: str, key: str) -> StoredCommand | None:
        return self._read(
            "look up an idempotency key",
            stream_id,
            lambda cursor: find_command(cursor, self._sql, stream_id, key),
        )

    def recording_fork(self, aggregate_id: str, origin_id: str, version: int) -> TransactionHook:
        return self._forks.recording(aggregate_id, origin_id, version)

    def fork_of(self, aggregate_id: str) -> Fork | None:
        params = {"stream_id": aggregate_id}
        rows = self._query("look up a fork", aggregate_id, self._forks.fork_of, params)
        return self._forks.fork(rows[0]) if rows else None

    def forks_of(self, aggregate_id: str) -> list[Fork]:
        params = {"stream_id": aggregate_id}
        rows = self._query("list a stream's forks", aggregate_id, self._forks.forks_of, params)
        return [self._forks.fork(row) for row in rows]

    def stream_version(self, stream_id: str) -> int:
        rows = self._query(
            "read a stream's version", stream_id, self._sql.stream_version, {"stream_id": stream_id}
        )
        return int(rows[0][0]) if rows else 0

    def list_streams(self, *, after: str | None = None, limit: int = 100) -> list[StreamInfo]:
        params = {"after": after or "", "limit": limit, "offset": 0}
        rows = self._query("list streams", None, self._sql.list_streams, params)
        timestamp = self._dialect.timestamp_value
        return [StreamInfo(r[0], int(r[1]), timestamp(r[2]), timestamp(r[3])) for r in rows]

    def count_streams(self) -> int:
        return int(self._query("count streams", None, self._sql.count_streams, {})[0][0])

    def head_position(self) -> int:
        rows = self._query("read the head position", None, self._sql.head, {})
        return int(rows[0][0]) if rows else 0

    def read_snapshot(
        self, stream_id: str, key: str, *, up_to: int | None = None
    ) -> StoredSnapshot | None:
        params = _latest_snapshot(stream_id, key, up_to)
        rows = self._query("read a snapshot", stream_id, self._sql.read_snapshot, params)
        return StoredSnapshot(stream_id, int(rows[0][0]), key, rows[0][1]) if rows else None

    def read_from_snapshot(
        self, stream_id: str, key: str, *, up_to: int | None = None
    ) -> tuple[StoredSnapshot | None, list[EventData]]:
        params = _latest_snapshot(stream_id, key, up_to)
        rows = self._query("read a stream", stream_id, self._sql.read_from_snapshot, params)
        if rows and rows[0][1] is None:  # no event has a NULL type: this row is the snapshot
            return StoredSnapshot(stream_id, int(rows[0][0]), key, rows[0][3]), rows[1:]
        return None, rows

    def _query(
        self, operation: str, stream_id: str | None, sql: str, params: dict[str, Any]
    ) -> list[Any]:
        return self._read(operation, stream_id, lambda cursor: _fetch(cursor, sql, params))

    def _read(self, operation: str, stream_id: str | None, work: Callable[[Any], T]) -> T:
        """`work` on a pooled connection's cursor, as one statement's transaction (no BEGIN or
        ROLLBACK sent around it), tried once more on a new connection if the one it had was
        found closed. Nothing is checked before use (no ping): a connection that the server
        closed while it sat in the pool is seen at checkout without a word sent, and one that
        died silently (a firewall forgot it) fails on use; a read changes nothing, so trying it
        again is safe. A timeout is not tried again: it has already waited its limit."""
        outcome = self._read_once(operation, stream_id, work)
        if isinstance(outcome, _Lost):
            # SQLAlchemy's own answer to a lost connection: its pool-mates are likely dead too
            # (the server restarted, the network was cut), so the pool is emptied.
            self.engine.dispose()
            outcome = self._read_once(operation, stream_id, work)
        if isinstance(outcome, _Lost):
            raise outcome.error from outcome.cause
        return outcome

    def _read_once(
        self, operation: str, stream_id: str | None, work: Callable[[Any], T]
    ) -> T | _Lost:
        with self._raw_connection(operation, stream_id) as connection:
            driver = connection.driver_connection
            self._dialect.start_reading(driver)
            try:
                cursor = connection.cursor()
                try:
                    return work(cursor)
                finally:
                    cursor.close()  # before an invalidate: SQLite's refuses a closed connection
            except Exception as error:
                if not is_driver_error(error):
                    raise
                connection.invalidate()
                failure = storage_error(operation, stream_id, error)
                if connection_lost(failure):
                    return _Lost(failure, error)
                raise failure from error
            finally:
                self._dialect.stop_reading(driver)

    @contextmanager
    def _raw_connection(self, operation: str, stream_id: str | None) -> Iterator[Any]:
        if self._closed:
            raise storage_error(operation, stream_id, RuntimeError("the store is closed"))
        try:
            # A failed pool checkout raises the driver's own error, not SQLAlchemy's.
            connection = self.engine.raw_connection()
        except Exception as error:
            if not is_driver_error(error):
                raise
            raise storage_error(operation, stream_id, error) from error
        try:
            yield connection
        except Exception as error:
            if is_driver_error(error):
                connection.invalidate()
                raise storage_error(operation, stream_id, error) from error
            raise
        finally:
            connection.close()

    @property
    def closed(self) -> bool:
        """True once `close` was called: every call raises `StorageError` from then on."""
        return self._closed

    def close(self) -> None:
        """Release the connections; the data stays in the database."""
        with self._write_lock:
            self._closed = True
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if self._owns_engine:
            self.engine.dispose()


class _Lost:
    """A read that failed because its connection was gone: worth one more try."""

    def __init__(self, error: StorageError, cause: Exception) -> None:
        self.error = error
        self.cause = cause


def _fetch(cursor: Any, sql: str, params: dict[str, Any]) -> list[Any]:
    cursor.execute(sql, params)
    return list(cursor.fetchall())


def _latest_snapshot(stream_id: str, key: str, up_to: int | None) -> dict[str, Any]:
    """The parameters of a read of the latest snapshot with `key` at or below `up_to`."""
    return {
        "stream_id": stream_id,
        "key": key,
        "up_to": MAX_VERSION if up_to is None else up_to,
        "limit": 1,
        "offset": 0,
    }


class _Listening:
    """A PostgreSQL listener whose driver errors are `StorageError`s."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener

    def wait(self, timeout: float) -> bool:
        try:
            return self._listener.wait(timeout)
        except Exception as error:
            if not is_driver_error(error):
                raise
            raise storage_error("listen for appends", None, error) from error

    def close(self) -> None:
        with suppress(Exception):  # a broken connection is simply dropped
            self._listener.close()


def _window(stream_id: str, after: int, up_to: int | None) -> dict[str, Any]:
    """The parameters of a read of one stream's versions `after < version <= up_to`."""
    return {
        "stream_id": stream_id,
        "after": after,
        "up_to": MAX_VERSION if up_to is None else up_to,
    }


if TYPE_CHECKING:  # mypy checks that the store has the capabilities subscribers need
    _capable: type[TransactionalStore] = SqlEventStore
    _forks: type[ForkRecords] = SqlEventStore
    _notifying: type[NotifyingStore] = SqlEventStore

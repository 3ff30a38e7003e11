"""The database's failures in emit's words: which errors are the driver's, the `StorageError`
they become, and what each means for whoever must act on it (its kind).

A driver says what failed in its own words (psycopg's SQLSTATE codes and connection messages,
sqlite3's error names, SQLAlchemy's pool errors, the operating system's errno). The person
reading the error wants to know which of a few situations they are in, because each asks for
something else: wait for the server to come back, look at what is slow or locked, free disk
space, or find out why the database is read-only. `classify` maps a driver's error, and the
errors it was raised from, to one of those kinds. (`StorageErrorKind` itself is core
vocabulary, in emit/errors.py: every store's failures have a kind.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa

from emit.errors import ERRNO_KINDS, StorageError, StorageErrorKind
from emit.store import AppendRequest, AppendResult

_SQLSTATE_KINDS = {
    "57014": StorageErrorKind.TIMEOUT,  # query_canceled: statement_timeout
    "55P03": StorageErrorKind.TIMEOUT,  # lock_not_available: lock_timeout
    "53100": StorageErrorKind.FULL,  # disk_full
    "25006": StorageErrorKind.READ_ONLY,  # read_only_sql_transaction (a hot standby)
    "57P01": StorageErrorKind.UNREACHABLE,  # admin_shutdown
    "57P02": StorageErrorKind.UNREACHABLE,  # crash_shutdown
    "57P03": StorageErrorKind.UNREACHABLE,  # cannot_connect_now (starting up)
    "53300": StorageErrorKind.UNREACHABLE,  # too_many_connections
}

_SQLITE_KINDS = {
    "SQLITE_FULL": StorageErrorKind.FULL,
    "SQLITE_BUSY": StorageErrorKind.TIMEOUT,  # waited the busy timeout for another writer
    "SQLITE_LOCKED": StorageErrorKind.TIMEOUT,
    "SQLITE_READONLY": StorageErrorKind.READ_ONLY,
    "SQLITE_CANTOPEN": StorageErrorKind.UNREACHABLE,
}

# Error classes that mean "no answer in time", by name, whichever library raised them:
# psycopg's connect timeout and its wait timeout, SQLAlchemy's pool timeout, Python's own.
_TIMEOUT_CLASSES = {"ConnectionTimeout", "_WaitTimeout", "TimeoutError"}

# Words of the operating system that a driver passes on in its message.
_MESSAGE_KINDS = (
    ("no space left on device", StorageErrorKind.FULL),
    ("disk quota exceeded", StorageErrorKind.FULL),
    ("read-only file system", StorageErrorKind.READ_ONLY),
)


def classify(error: BaseException) -> StorageErrorKind:
    """The kind of failure `error` (a driver's or SQLAlchemy's error, or one raised from one)
    stands for; `OTHER` when none of the others is sure."""
    for link in _chain(error):
        kind = _kind_of(link)
        if kind is not StorageErrorKind.OTHER:
            return kind
    return StorageErrorKind.OTHER


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, the driver error SQLAlchemy wrapped (`orig`), and what each was raised from."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        link = pending.pop(0)
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, link.__cause__]


def _kind_of(error: BaseException) -> StorageErrorKind:
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate in _SQLSTATE_KINDS:
            return _SQLSTATE_KINDS[sqlstate]
        if sqlstate.startswith("08"):  # connection_exception and its kinds
            return StorageErrorKind.UNREACHABLE
    sqlite_name = getattr(error, "sqlite_errorname", None)
    if isinstance(sqlite_name, str):
        primary = "_".join(sqlite_name.split("_")[:2])  # SQLITE_READONLY_DBMOVED: READONLY
        return _SQLITE_KINDS.get(primary, StorageErrorKind.OTHER)
    classes = {cls.__name__ for cls in type(error).__mro__}
    if classes & _TIMEOUT_CLASSES:
        return StorageErrorKind.TIMEOUT
    if isinstance(error, OSError) and error.errno in ERRNO_KINDS:
        return ERRNO_KINDS[error.errno]
    message = str(error).lower()
    for words, kind in _MESSAGE_KINDS:
        if words in message:
            return kind
    if isinstance(error, ConnectionError):
        return StorageErrorKind.UNREACHABLE
    # psycopg's operational errors without a SQLSTATE come from the connection itself, not
    # from the server: it could not connect, or lost the connection.
    from_psycopg = type(error).__module__.startswith("psycopg")
    if sqlstate is None and from_psycopg and "OperationalError" in classes:
        return StorageErrorKind.UNREACHABLE
    return StorageErrorKind.OTHER


def is_driver_error(error: BaseException) -> bool:
    """True for errors raised by the database driver (sqlite3, psycopg, and their subclasses
    such as emit's own `NoAnswer`) or SQLAlchemy."""
    if isinstance(error, sa.exc.SQLAlchemyError):
        return True
    return any(cls.__module__.startswith(("sqlite3", "psycopg")) for cls in type(error).__mro__)


def storage_error(
    operation: str, aggregate_id: str | None, cause: BaseException, *, maybe_stored: bool = False
) -> StorageError:
    """A `StorageError` whose `kind` says what the driver's error means (`classify`)."""
    return StorageError(
        operation, aggregate_id, cause, kind=classify(cause), maybe_stored=maybe_stored
    )


@contextmanager
def storage_errors(operation: str, aggregate_id: str | None = None) -> Iterator[None]:
    """Raise what the driver or SQLAlchemy raises inside the block as a `StorageError` saying
    what failed: callers of emit's API handle one error type, not every driver's."""
    try:
        yield
    except Exception as error:
        if is_driver_error(error):
            raise storage_error(operation, aggregate_id, error) from error
        raise


class CommitFailed(Exception):
    """The driver failed while committing: the transaction may or may not be stored. Raised and
    caught inside the store's append path; never reaches a caller."""

    def __init__(self, error: Exception, results: list[AppendResult] | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.results = results  # what each request would have got; None: its events

    def results_for(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        """A `StorageError` saying "maybe stored" for each request that was to store events;
        the others keep their result (a conflict, a resolver's refusal or its "nothing to
        append")."""
        if self.results is None:
            return [self._error(request) for request in requests]
        return [
            self._error(request) if isinstance(result, list) and result else result
            for request, result in zip(requests, self.results, strict=True)
        ]

    def _error(self, request: AppendRequest) -> StorageError:
        return storage_error(
            "commit appended events", request.stream_id, self.error, maybe_stored=True
        )


def connection_lost(outcome: object) -> bool:
    """True for a `StorageError` of a connection that is gone (refused, reset, closed)."""
    return isinstance(outcome, StorageError) and outcome.kind == StorageErrorKind.UNREACHABLE


def database_away(error: Exception) -> bool:
    """True for a `StorageError` that no request caused: the database is unreachable or hangs."""
    return isinstance(error, StorageError) and error.kind in (
        StorageErrorKind.UNREACHABLE,
        StorageErrorKind.TIMEOUT,
    )

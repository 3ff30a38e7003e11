"""The kind of a `StorageError`, from real failures of both databases (emit/sql/errors.py)."""

from __future__ import annotations

import errno
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from emit import Emit, Projection, SqlEventStore, StorageError, StorageErrorKind, make_engine
from emit.sql.errors import classify
from tests.account import Deposit, Deposited, account


def storage_error(call: Any) -> StorageError:
    with pytest.raises(StorageError) as raised:
        call()
    return raised.value


def test_a_sqlite_file_opened_read_only_is_read_only(tmp_path: Path) -> None:
    database = tmp_path / "emit.sqlite3"
    Emit(account, store=SqlEventStore(f"sqlite:///{database}")).create("acc-1")
    read_only = SqlEventStore(f"sqlite:///file:{database}?mode=ro&uri=true", create=False)
    emit: Emit[Any, Any, Any] = Emit(account, store=read_only)
    assert emit.get_state("acc-1").balance == 0  # reading works
    error = storage_error(lambda: emit.handle_command("acc-1", Deposit(1)))
    assert error.kind is StorageErrorKind.READ_ONLY
    read_only.close()


def test_a_sqlite_writer_that_waits_out_its_busy_timeout_timed_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'emit.sqlite3'}"
    emit: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(url, timeout=0.2))
    emit.create("acc-1")
    holder = sqlite3.connect(tmp_path / "emit.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction, left open
    try:
        error = storage_error(lambda: emit.handle_command("acc-1", Deposit(1)))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert error.kind is StorageErrorKind.TIMEOUT
    emit.handle_command("acc-1", Deposit(1))


def test_a_sqlite_file_that_cannot_be_opened_is_unreachable(tmp_path: Path) -> None:
    (tmp_path / "emit.sqlite3").mkdir()  # a folder where the file should be
    error = storage_error(lambda: SqlEventStore(f"sqlite:///{tmp_path / 'emit.sqlite3'}"))
    assert error.kind is StorageErrorKind.UNREACHABLE


def test_a_sqlite_folder_that_cannot_be_made_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    error = storage_error(lambda: SqlEventStore(f"sqlite:///{tmp_path / 'taken' / 'e.sqlite3'}"))
    assert "folder" in str(error)


@pytest.mark.postgres
def test_a_postgres_statement_over_the_timeout_timed_out(postgres_url: str) -> None:
    store = SqlEventStore(postgres_url, timeout=0.3)
    with store.engine.connect() as connection:
        with pytest.raises(sa.exc.OperationalError) as raised:
            connection.execute(sa.text("SELECT pg_sleep(2)"))
        assert classify(raised.value) is StorageErrorKind.TIMEOUT
    store.close()


@pytest.mark.postgres
def test_a_postgres_append_waiting_for_a_lock_over_the_timeout_timed_out(
    postgres_url: str,
) -> None:
    emit: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(postgres_url, timeout=0.5))
    emit.create("acc-1")
    holder = sa.create_engine(postgres_url)
    locked = threading.Event()
    release = threading.Event()

    def hold_the_head() -> None:
        with holder.begin() as connection:
            connection.execute(sa.text("SELECT position FROM emit_head FOR UPDATE"))
            locked.set()
            release.wait(10)

    thread = threading.Thread(target=hold_the_head)
    thread.start()
    locked.wait(5)
    try:
        error = storage_error(lambda: emit.handle_command("acc-1", Deposit(1)))
    finally:
        release.set()
        thread.join()
        holder.dispose()
    assert error.kind is StorageErrorKind.TIMEOUT
    emit.handle_command("acc-1", Deposit(1))
    emit.close()


@pytest.mark.postgres
def test_a_read_only_postgres_is_read_only(postgres_url: str) -> None:
    with Emit(account, store=SqlEventStore(postgres_url)) as writable:
        writable.create("acc-1")
    engine = make_engine(postgres_url)

    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:  # as on a hot standby
            cursor.execute("SET default_transaction_read_only = on")
        dbapi_connection.commit()

    emit: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(engine, create=False))
    assert emit.get_state("acc-1").balance == 0
    error = storage_error(lambda: emit.handle_command("acc-1", Deposit(1)))
    assert error.kind is StorageErrorKind.READ_ONLY
    engine.dispose()


def test_errors_that_are_none_of_the_kinds_are_other() -> None:
    assert classify(ValueError("a bug")) is StorageErrorKind.OTHER
    assert StorageError("read a stream", None, RuntimeError("closed")).kind == "other"


@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        (TimeoutError("no answer"), StorageErrorKind.TIMEOUT),
        (ConnectionResetError("reset by peer"), StorageErrorKind.UNREACHABLE),
        (OSError(errno.ENOSPC, "No space left on device"), StorageErrorKind.FULL),
        (OSError(errno.EROFS, "Read-only file system"), StorageErrorKind.READ_ONLY),
        (RuntimeError("something else"), StorageErrorKind.OTHER),
    ],
    ids=["timeout", "connection", "disk-full", "read-only", "other"],
)
def test_a_storage_error_any_store_makes_has_the_kind_pythons_errors_say(
    cause: BaseException, kind: StorageErrorKind
) -> None:
    """Another store than emit's raises `StorageError` itself: Python's own errors still tell
    the kind, as they did before the classification moved into the SQL store."""
    assert StorageError("append events", "acc-1", cause).kind is kind
    wrapped = RuntimeError("the store failed")
    wrapped.__cause__ = cause
    assert StorageError("append events", "acc-1", wrapped).kind is kind
    assert StorageError("append", None, cause, kind=StorageErrorKind.OTHER).kind == "other"


def test_a_command_queued_behind_a_stuck_one_gives_up_after_the_queue_timeout(
    tmp_path: Path,
) -> None:
    entered = threading.Event()
    release = threading.Event()

    def stuck(_connection: sa.Connection, recorded: Any) -> None:
        if isinstance(recorded.event, Deposited) and recorded.event.amount == 1:
            entered.set()
            release.wait(10)  # an append that the database does not answer

    emit: Emit[Any, Any, Any] = Emit(
        account,
        store=SqlEventStore(f"sqlite:///{tmp_path / 'emit.sqlite3'}"),
        projections=[Projection("stuck", [], stuck)],
        queue_timeout=0.2,
    )
    emit.create("acc-1")
    first = threading.Thread(target=emit.handle_command, args=("acc-1", Deposit(1)))
    first.start()
    entered.wait(5)
    started = time.monotonic()
    error = storage_error(lambda: emit.handle_command("acc-1", Deposit(2)))
    assert 0.2 <= time.monotonic() - started < 1
    assert error.kind is StorageErrorKind.TIMEOUT
    assert error.aggregate_id == "acc-1"
    release.set()
    first.join()
    emit.handle_command("acc-1", Deposit(2))  # the queue moves again
    assert emit.get_state("acc-1").balance == 3
    emit.close()

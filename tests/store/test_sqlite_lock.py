"""SQLite's writers queue on a lock file (emit/sql/sqlite_lock.py): held for each write transaction
and only then, let go on every way out of it, and never a wait that could not end."""

from __future__ import annotations

import fcntl
import gc
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Iterator
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
import sqlalchemy as sa

from emit import Emit, SqlEventStore
from emit.sql import make_engine
from emit.sql.sqlite_lock import LockingConnection, lock_path
from tests.account import Deposit, account


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "emit.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("CREATE TABLE t (n INTEGER)")
    return path


def connect(database: Path, busy_timeout: float = 30.0) -> LockingConnection:
    connection = sqlite3.connect(
        database, factory=LockingConnection, isolation_level=None, check_same_thread=False
    )
    connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    return connection


def locked(database: Path) -> bool:
    """Whether some open file holds the lock now (asked from a file of our own)."""
    fd = os.open(f"{database}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def rows(database: Path) -> list[int]:
    with sqlite3.connect(database) as connection:
        return [n for (n,) in connection.execute("SELECT n FROM t ORDER BY rowid")]


def test_the_lock_file_sits_next_to_the_database(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "emit.sqlite3") == f"{tmp_path / 'emit.sqlite3'}.lock"
    assert lock_path(":memory:") is None
    assert lock_path("file:emit?mode=memory") is None


def test_held_from_begin_immediate_to_commit_and_no_longer(database: Path) -> None:
    connection = connect(database)
    connection.execute("SELECT count(*) FROM t").fetchall()
    connection.execute("BEGIN")  # a deferred transaction, as readers use: not a writer
    assert not locked(database)
    connection.execute("COMMIT")
    cursor = connection.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    assert connection.holds_write_lock
    assert locked(database)
    cursor.execute("INSERT INTO t VALUES (1)")
    assert locked(database)
    connection.commit()
    assert not connection.holds_write_lock
    assert not locked(database)
    connection.close()
    assert rows(database) == [1]


@pytest.mark.parametrize(
    "end", ["commit()", "rollback()", "COMMIT", "ROLLBACK", "close()", "garbage"]
)
def test_let_go_however_the_transaction_ends(database: Path, end: str) -> None:
    connection = connect(database)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO t VALUES (1)")
    assert locked(database)
    if end.endswith("()"):
        getattr(connection, end[:-2])()
    elif end == "garbage":  # dropped without a close: SQLite rolls back, the lock goes too
        del connection
        gc.collect()
    else:
        connection.execute(end)
    assert not locked(database)


def test_let_go_when_an_error_ends_the_transaction_or_begin_fails(database: Path) -> None:
    connection = connect(database, busy_timeout=0.05)
    connection.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError):
        connection.execute("INSERT INTO no_such_table VALUES (1)")
    assert connection.in_transaction  # SQLite keeps the transaction: so is the lock
    assert locked(database)
    connection.rollback()
    assert not locked(database)

    # A plain connection (no lock file) holds SQLite's write lock: BEGIN IMMEDIATE fails after
    # the busy timeout, and lets the lock file go.
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        connection.execute("BEGIN IMMEDIATE")
    assert not connection.in_transaction
    assert not locked(database)
    other.execute("ROLLBACK")
    other.close()
    connection.close()


def test_a_thread_does_not_queue_behind_itself(database: Path) -> None:
    """Two connections in one thread: the second's BEGIN IMMEDIATE goes straight to SQLite,
    which waits its busy timeout and refuses, as it did without the lock file."""
    first, second = connect(database), connect(database, busy_timeout=0.05)
    first.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("BEGIN IMMEDIATE")
    first.execute("COMMIT")
    assert not locked(database)
    second.execute("BEGIN IMMEDIATE")  # and the thread can write through either afterwards
    assert locked(database)
    second.execute("COMMIT")
    first.close()
    second.close()


def _hold_the_lock_file(database: str, holding: Event, release: Event) -> None:
    """Another process that holds the lock file without writing (as a stuck peer would)."""
    fd = os.open(f"{database}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    holding.set()
    release.wait(60)
    os.close(fd)


def _write_in_a_transaction(database: str, holding: Event, release: Event, n: int) -> None:
    """Another process that opens a write transaction, inserts `n` and commits when told."""
    connection = connect(Path(database))
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO t VALUES (?)", (n,))
    holding.set()
    release.wait(60)
    connection.execute("COMMIT")
    connection.close()


@pytest.fixture
def other_process() -> Iterator[tuple[multiprocessing.context.SpawnContext, list[Event]]]:
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    yield context, [holding, release]
    release.set()


def test_a_writer_in_another_process_waits_for_the_transaction_in_hand(
    database: Path, other_process: tuple[multiprocessing.context.SpawnContext, list[Event]]
) -> None:
    context, (holding, release) = other_process
    child = context.Process(
        target=_write_in_a_transaction, args=(str(database), holding, release, 1)
    )
    child.start()
    try:
        assert holding.wait(60)
        assert locked(database)
        wrote = threading.Event()

        def write() -> None:
            connection = connect(database)
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO t VALUES (2)")
            connection.execute("COMMIT")
            connection.close()
            wrote.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not wrote.wait(0.2)  # queued behind the other process
        release.set()
        writer.join(60)
        assert wrote.is_set()
    finally:
        release.set()
        child.join(60)
    assert child.exitcode == 0
    assert rows(database) == [1, 2]
    assert not locked(database)


def test_a_writer_gives_up_queueing_after_its_busy_timeout_and_asks_sqlite(
    database: Path, other_process: tuple[multiprocessing.context.SpawnContext, list[Event]]
) -> None:
    """The lock file is held by a process that does not write: after the busy timeout the
    writer goes on without it, and SQLite, whose lock is free, lets it write."""
    context, (holding, release) = other_process
    child = context.Process(target=_hold_the_lock_file, args=(str(database), holding, release))
    child.start()
    try:
        assert holding.wait(60)
        connection = connect(database, busy_timeout=0.1)
        connection.execute("BEGIN IMMEDIATE")
        assert not connection.holds_write_lock
        connection.execute("INSERT INTO t VALUES (1)")
        connection.execute("COMMIT")
        connection.close()
    finally:
        release.set()
        child.join(60)
    assert rows(database) == [1]
    assert not locked(database)


def _append(url: str, account_id: str, count: int) -> None:
    emit = Emit(account, store=SqlEventStore(url, queue_writers=True), observers=[])
    try:
        if not emit.exists(account_id):
            emit.create(account_id)
        for _ in range(count):
            emit.handle_command(account_id, Deposit(1))
    finally:
        emit.close()


def test_stores_in_two_processes_and_many_threads_write_through_it(sqlite_url: str) -> None:
    """The store's own lock (one writer per store) and the lock file, taken in that order, with
    the subscribers' and projections' transactions besides: nothing waits forever, nothing is
    lost."""
    engine = make_engine(sqlite_url, queue_writers=True)
    assert isinstance(engine.raw_connection().dbapi_connection, LockingConnection)
    engine.dispose()
    plain = make_engine(sqlite_url)  # off by default: a lone writer does not pay for it
    assert not isinstance(plain.raw_connection().dbapi_connection, LockingConnection)
    plain.dispose()
    SqlEventStore(sqlite_url).close()  # the schema, before two processes race to make it
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_append, args=(sqlite_url, "child", 100))
    child.start()
    threads = [
        threading.Thread(target=_append, args=(sqlite_url, f"thread-{n}", 25)) for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    child.join(120)
    assert child.exitcode == 0
    store = SqlEventStore(sqlite_url)
    try:
        versions = {s.stream_id: s.version for s in store.list_streams()}
        assert versions == {"child": 101, **{f"thread-{n}": 26 for n in range(4)}}
        positions = [e.position for e in store.read_all()]
        assert positions == list(range(1, 206))
    finally:
        store.close()
    database = sa.make_url(sqlite_url).database
    assert database is not None
    assert not locked(Path(database))


def test_a_with_block_lets_the_lock_go_when_it_commits(database: Path) -> None:
    connection = connect(database)
    with connection:  # commits in C, past the connection's own commit()
        connection.execute("BEGIN IMMEDIATE")
        assert locked(database)
    assert not connection.in_transaction
    assert not connection.holds_write_lock
    assert not locked(database)
    connection.close()


def test_a_writer_waits_the_busy_timeout_once_not_twice(database: Path) -> None:
    """After its busy timeout on the lock file, a writer asks SQLite without waiting again."""
    holder = connect(database)
    holder.execute("BEGIN IMMEDIATE")
    waiter = connect(database, busy_timeout=0.2)
    asked: list[str] = []
    waiter.set_trace_callback(asked.append)
    errors: list[Exception] = []

    def write() -> None:  # another thread: it queues on the lock file
        try:
            waiter.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            errors.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(10)
    holder.execute("COMMIT")

    assert [str(e) for e in errors] == ["database is locked"]
    assert asked == [
        "PRAGMA busy_timeout",
        "PRAGMA busy_timeout = 0",  # SQLite's own wait is not added to the lock file's
        "BEGIN IMMEDIATE",
        "PRAGMA busy_timeout = 200",  # and the setting is put back
    ]
    assert not waiter.in_transaction
    waiter.execute("BEGIN IMMEDIATE")  # once the holder is done, the waiter writes
    waiter.execute("COMMIT")
    holder.close()
    waiter.close()

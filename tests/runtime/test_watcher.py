"""`HeadWatcher` follows the head position, whoever appends: another process, another host
(PostgreSQL's NOTIFY), and it wakes the policies' runner. NOTIFY itself: sent on commit only.

Every wait here is a bounded wait for a condition; the timeouts are far above what the watcher
needs (its interval, or a notification), so a slow shared machine does not fail them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from emit import ConcurrencyError, Emit, HeadWatcher, NotifyingStore, Policy, SqlEventStore
from emit.ids import new_id
from emit.store import AppendRequest, NewEvent, append_one
from emit.subscribers import Policies
from tests.account import Deposit, Deposited, account

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "emit_test_watcher"
# Long enough that only a notification can explain a wake within the test's bounded waits.
NEVER = 3600.0


def new_event() -> NewEvent:
    return NewEvent(new_id(), "Noted", 1, "{}", "{}")


def append_elsewhere(url: str, stream_id: str, *, notify: str | None = None) -> None:
    """Append one event to a new stream from another Python process."""
    script = textwrap.dedent(
        f"""
        from emit import SqlEventStore
        from emit.ids import new_id
        from emit.store import AppendRequest, NewEvent, append_one
        store = SqlEventStore({url!r}, notify={notify!r})
        event = NewEvent(new_id(), "Noted", 1, "{{}}", "{{}}")
        append_one(store, AppendRequest({stream_id!r}, 0, [event]))
        store.close()
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)


@pytest.fixture
def store(database_url: str) -> Iterator[SqlEventStore]:
    opened = SqlEventStore(database_url, notify=CHANNEL)
    yield opened
    opened.close()


def test_an_append_by_another_process_moves_the_watchers_position_and_version(
    store: SqlEventStore, database_url: str
) -> None:
    append_one(store, AppendRequest("before", 0, [new_event()]))
    watcher = HeadWatcher(store, interval=0.05)
    watcher.start()
    try:
        assert watcher.position == 1
        assert watcher.version("before") == 1
        assert watcher.version("elsewhere") == 0

        append_elsewhere(database_url, "elsewhere")  # no notification: polling finds it

        assert watcher.wait(1, timeout=30) == 2
        assert watcher.version("elsewhere") == 1
    finally:
        watcher.stop()


@pytest.mark.postgres
def test_notify_on_postgres_wakes_a_listener_when_an_append_commits(postgres_url: str) -> None:
    writer = SqlEventStore(postgres_url, notify=CHANNEL)
    reader = SqlEventStore(postgres_url, notify=CHANNEL)
    assert isinstance(reader, NotifyingStore)
    listener = reader.listen()
    assert listener is not None
    try:
        append_one(writer, AppendRequest("one", 0, [new_event()]))
        assert listener.wait(30)
        # Several requests in one transaction: the other path that moves the head.
        results = writer.append_many(
            [AppendRequest("two", 0, [new_event()]), AppendRequest("three", 0, [new_event()])]
        )
        assert not any(isinstance(r, Exception) for r in results)
        assert listener.wait(30)

        # A refused append moves no head and notifies no one.
        with pytest.raises(ConcurrencyError):
            append_one(writer, AppendRequest("one", 0, [new_event()]))
        assert not listener.wait(0.5)
        assert reader.head_position() == 3
    finally:
        listener.close()
        writer.close()
        reader.close()


def test_a_store_without_notify_or_on_sqlite_has_nothing_to_listen_to(
    database_url: str, sqlite_url: str
) -> None:
    plain = SqlEventStore(database_url)
    on_sqlite = SqlEventStore(sqlite_url, notify=CHANNEL)
    try:
        assert plain.listen() is None
        assert on_sqlite.listen() is None
        assert on_sqlite.notify is None
    finally:
        plain.close()
        on_sqlite.close()


def test_a_channel_that_is_no_plain_name_is_refused(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="channel"):
        SqlEventStore(sqlite_url, notify="emit'; DROP TABLE emit_events; --")


@pytest.mark.postgres
def test_a_watcher_on_postgres_is_woken_by_another_processs_notify_not_its_poll(
    postgres_url: str,
) -> None:
    store = SqlEventStore(postgres_url, notify=CHANNEL)
    watcher = HeadWatcher(store, interval=NEVER)
    watcher.start()
    try:
        start = watcher.position
        append_elsewhere(postgres_url, "noticed", notify=CHANNEL)
        assert watcher.wait(start, timeout=30) == start + 1
        assert watcher.version("noticed") == 1
    finally:
        watcher.stop()
        store.close()


noted = sa.Table(
    "test_watcher_noted",
    sa.MetaData(),
    sa.Column("position", sa.Integer, primary_key=True),
)


def test_the_policies_runner_wakes_when_its_watcher_sees_another_processs_append(
    database_url: str,
) -> None:
    """The runner's own poll is an hour: only the watcher (a notification on PostgreSQL, its
    short poll on SQLite) can wake it for an event another `Emit` appended."""
    is_postgres = database_url.startswith("postgresql")
    emit: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(database_url, notify=CHANNEL))
    other: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(database_url, notify=CHANNEL))
    handled = threading.Event()

    def handle(connection: sa.Connection, recorded: Any) -> None:
        connection.execute(sa.insert(noted).values(position=recorded.position))
        handled.set()

    watcher = HeadWatcher(emit.store, interval=NEVER if is_postgres else 0.05)
    policies = Policies(
        emit,
        [Policy("noting", handle, tables=[noted], types=[Deposited])],
        poll_interval=NEVER,
        watcher=watcher,
    )
    policies.start()
    try:
        # The runner has looked once and gone to sleep for its hour: it holds the lease.
        assert wait_for(lambda: policies.holding == ["noting"])
        other.create("acc-1")
        other.handle_command("acc-1", Deposit(5))
        assert handled.wait(30)
    finally:
        policies.stop()
        watcher.stop()
        other.close()
        emit.close()


def wait_for(condition: Any, timeout: float = 30.0) -> bool:
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not done.is_set():
            if condition():
                return True
            done.wait(0.02)
        return bool(condition())
    finally:
        deadline.cancel()

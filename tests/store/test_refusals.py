"""The refusal log (emit/refusals.py): the same contract for every store's log, and `Emit`
recording what it refuses there, on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from emit import CommandRejected, Emit, EventStore, InMemoryEventStore, SqlEventStore
from emit.refusals import NewRefusal, RefusalLogStore
from tests.account import Deposit, Withdraw, account
from tests.conftest import Factory
from tests.threads import start_and_join


def refusal(stream_id: str = "a-1", n: int = 0) -> NewRefusal:
    return NewRefusal(stream_id, "Withdraw", f'{{"amount":{n}}}', f"no {n}", n, f"corr-{n}")


def log_of(store: EventStore) -> Any:
    assert isinstance(store, RefusalLogStore)
    return store.refusals


# --- the log's contract ---------------------------------------------------------------------


def test_a_log_reads_newest_first_by_keyset_and_by_stream(any_store: EventStore) -> None:
    log = log_of(any_store)
    ids = [log.record(refusal("a-1" if n % 2 else "b-2", n), keep=100) for n in range(7)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 7

    newest = log.read(limit=3)
    assert [r.id for r in newest] == ids[:-4:-1]
    assert [r.id for r in log.read(before=newest[-1].id, limit=3)] == ids[-4:-7:-1]
    assert [r.id for r in log.read(before=ids[0])] == []
    assert [r.version for r in log.read(stream_id="a-1")] == [5, 3, 1]
    assert [r.version for r in log.read(stream_id="a-1", versions=(2, 5))] == [5, 3]
    assert [r.version for r in log.read(versions=(2, 4))] == [4, 3, 2]
    assert [r.version for r in log.read(versions=(4, 5), limit=1)] == [5]
    assert log.count() == 7
    assert log.count(stream_id="b-2") == 4

    first = log.read(stream_id="b-2")[-1]
    assert (first.stream_id, first.command, first.reason, first.correlation_id) == (
        "b-2",
        "Withdraw",
        "no 0",
        "corr-0",
    )
    assert first.fields == {"amount": 0}
    assert first.refused_at.tzinfo is not None


def test_a_log_keeps_the_newest_and_never_reuses_an_id(any_store: EventStore) -> None:
    log = log_of(any_store)
    ids = [log.record(refusal(n=n), keep=3) for n in range(5)]
    assert [r.id for r in log.read()] == ids[:-4:-1]
    assert log.count() == 3
    # A smaller retention trims at once; the ids go on from where they were.
    later = log.record(refusal(n=5), keep=2)
    assert later > ids[-1]
    assert [r.version for r in log.read()] == [5, 4]


def test_a_log_keeps_at_least_one(any_store: EventStore) -> None:
    with pytest.raises(ValueError, match="at least one"):
        log_of(any_store).record(refusal(), keep=0)


def test_threads_recording_at_once_leave_exactly_the_newest(any_store: EventStore) -> None:
    log = log_of(any_store)
    recorded: list[int] = []
    lock = threading.Lock()

    def record(stream: int) -> None:
        for n in range(20):
            refusal_id = log.record(refusal(f"s-{stream}", n), keep=25)
            with lock:
                recorded.append(refusal_id)

    start_and_join([threading.Thread(target=record, args=(s,)) for s in range(6)])
    assert len(set(recorded)) == 120
    kept = [r.id for r in log.read(limit=1000)]
    assert kept == sorted(recorded, reverse=True)[:25]
    assert log.count() == 25


# --- Emit records what it refuses ------------------------------------------------------------


def test_a_refused_command_is_recorded_and_changes_no_version(make_emit: Factory) -> None:
    emit = make_emit()
    emit.create("acc-1")
    emit.handle_command("acc-1", Deposit(10))
    with pytest.raises(CommandRejected) as refused:
        emit.handle_command("acc-1", Withdraw(50), metadata={"correlation_id": "req-7"})
    assert refused.value.version == 2
    assert emit.store.stream_version("acc-1") == 2
    assert emit.aggregate("acc-1", catch_up=True).version == 2

    assert emit.refusals is not None
    (kept,) = emit.refusals.read()
    assert (kept.stream_id, kept.command, kept.version, kept.correlation_id) == (
        "acc-1",
        "Withdraw",
        2,
        "req-7",
    )
    assert kept.reason == "insufficient funds: balance is 10"
    assert kept.fields == {"amount": 50}

    # An accepted command leaves the log as it was.
    emit.handle_command("acc-1", Withdraw(5))
    assert emit.refusals.count() == 1


def test_the_version_recorded_is_the_fresh_one_a_conflict_decided_on(make_emit: Factory) -> None:
    mine, theirs = make_emit(), make_emit()
    mine.create("acc-2")
    mine.handle_command("acc-2", Deposit(10))
    theirs.handle_command("acc-2", Withdraw(10))  # mine still holds version 2, balance 10
    with pytest.raises(CommandRejected, match="balance is 0"):
        mine.handle_command("acc-2", Withdraw(5))
    assert mine.refusals is not None
    assert [r.version for r in mine.refusals.read()] == [3]
    assert mine.store.stream_version("acc-2") == 3


def test_the_log_never_holds_more_than_the_retention(make_emit: Factory) -> None:
    emit = make_emit(refusal_retention=3)
    emit.create("acc-3")
    for amount in range(1, 6):
        with pytest.raises(CommandRejected):
            emit.handle_command("acc-3", Withdraw(amount))
    assert emit.refusals is not None
    assert [r.fields["amount"] for r in emit.refusals.read()] == [5, 4, 3]
    assert emit.refusals.count() == 3


@pytest.mark.parametrize("retention", [0, None])
def test_no_retention_records_nothing(make_emit: Factory, retention: int | None) -> None:
    emit = make_emit(refusal_retention=retention)
    emit.create("acc-4")
    with pytest.raises(CommandRejected):
        emit.handle_command("acc-4", Withdraw(1))
    assert emit.refusals is not None
    assert emit.refusals.count() == 0


def test_a_negative_retention_is_refused() -> None:
    with pytest.raises(ValueError, match="refusal_retention"):
        Emit(account, store=InMemoryEventStore(), refusal_retention=-1)


# --- a log that fails -----------------------------------------------------------------------


def refuse_with_a_broken_log(
    emit: Emit[Any, Any, Any], caplog: pytest.LogCaptureFixture, stream_id: str
) -> CommandRejected:
    """Send a command the account refuses; the refusal, and that the log said why it kept
    nothing."""
    with (
        caplog.at_level(logging.ERROR, logger="emit"),
        pytest.raises(CommandRejected) as refused,
    ):
        emit.handle_command(stream_id, Withdraw(1000))
    (line,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Could not record the refusal of Withdraw" in line.getMessage()
    assert line.exc_info is not None
    return refused.value


def test_a_dropped_table_still_refuses_properly(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqlEventStore(database_url)
    try:
        emit = Emit(account, store=store)
        emit.create("acc-5")
        emit.handle_command("acc-5", Deposit(3))
        with store.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE emit_refusals")
        rejection = refuse_with_a_broken_log(emit, caplog, "acc-5")
        assert rejection.reason == "insufficient funds: balance is 3"
        assert rejection.version == 2
        assert store.stream_version("acc-5") == 2
        # Commands go on as before.
        assert emit.handle_command("acc-5", Withdraw(3)).version == 3
    finally:
        store.close()


def test_a_full_sqlite_file_still_refuses_properly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    setup = SqlEventStore(url)
    Emit(account, store=setup).create("acc-6")
    with setup.engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    setup.close()
    store = SqlEventStore(url, create=False)  # no connection made before the limit is set

    @sa.event.listens_for(store.engine, "connect")
    def _full(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    try:
        emit = Emit(account, store=store)
        # Fill the log's pages until it cannot grow: each refusal adds a row.
        for _ in range(1000):
            try:
                store.refusals.record(refusal("acc-6", 1), keep=1_000_000)
            except Exception:
                break
        else:
            pytest.fail("the file never got full")
        caplog.clear()
        rejection = refuse_with_a_broken_log(emit, caplog, "acc-6")
        assert rejection.version == 1
        assert store.stream_version("acc-6") == 1
    finally:
        store.close()

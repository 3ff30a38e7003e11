"""PostgreSQL connections that die while they sit idle, for real, through the fault proxy
(tests/faultproxy.py), and what a cold load costs in round trips (the proxy counts the requests
that wait for the server's answer).

No connection is pinged before use: one the server closed is seen at checkout without a word
sent, one that died without a word fails on use and a read is tried once more; an append is
tried again only where it cannot have committed. A freeze and a refusal fail as they always
did (tests/store/test_store_failures.py)."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import sqlalchemy as sa

from emit import Emit, SqlEventStore, StorageError, StorageErrorKind
from tests.account import Account, Deposit, account
from tests.balances import balance_projection
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.postgres

AccountEmit = Emit[Any, Any, Account]


@pytest.fixture
def store(pg_proxy: FaultProxy) -> Iterator[SqlEventStore]:
    store = SqlEventStore(pg_proxy.url, timeout=2.0)
    writer: AccountEmit = Emit(account, store=store, snapshot_every=10)
    writer.create("acc-1")
    for n in range(24):  # versions 2..25: snapshots at 10 and 20
        writer.handle_command("acc-1", Deposit(n + 1))
    yield store
    store.close()


def cold(store: SqlEventStore, **options: Any) -> AccountEmit:
    """An `Emit` with nothing loaded, on the open store: its next read of an aggregate goes to
    the database."""
    return Emit(account, store=store, snapshot_every=10, **options)


def round_trips(pg_proxy: FaultProxy, call: Any) -> int:
    before = pg_proxy.round_trips
    call()
    return pg_proxy.round_trips - before


def fill_the_pool(store: SqlEventStore, size: int = 3) -> None:
    """Leave `size` connections idle in the pool, each used once."""
    with ExitStack() as held:
        for _ in range(size):
            connection = store.engine.raw_connection()
            held.callback(connection.close)
            connection.driver_connection.execute("SELECT 1")  # type: ignore[union-attr]
            connection.driver_connection.rollback()  # type: ignore[union-attr]


BALANCE = sum(range(1, 25))


def test_a_cold_load_is_one_round_trip_with_a_snapshot_or_without(
    store: SqlEventStore, pg_proxy: FaultProxy
) -> None:
    cold(store).aggregate("acc-1")  # the pool has a connection now

    assert round_trips(pg_proxy, lambda: cold(store).aggregate("acc-1")) == 1
    plain: AccountEmit = Emit(account, store=store)
    assert round_trips(pg_proxy, lambda: plain.aggregate("acc-1")) == 1
    assert plain.aggregate("acc-1") == cold(store).aggregate("acc-1")
    assert plain.aggregate("acc-1").state.balance == BALANCE


def test_connections_the_server_closed_while_idle_are_replaced_without_a_ping(
    store: SqlEventStore, pg_proxy: FaultProxy
) -> None:
    fill_the_pool(store)
    store.engine.dispose()
    on_a_new_connection = round_trips(pg_proxy, lambda: cold(store).aggregate("acc-1"))
    fill_the_pool(store)
    emit = cold(store)

    pg_proxy.cut()  # every open connection is reset: the pool's and the writer's
    pg_proxy.pass_traffic()
    # Whoever else uses the engine's pool (subscribers, the web app's read models) has no
    # retry of its own: it must not be handed a dead connection.
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    load = round_trips(pg_proxy, lambda: emit.aggregate("acc-1"))
    command = round_trips(pg_proxy, lambda: emit.handle_command("acc-1", Deposit(100)))

    # The load cost what a load on a new connection costs: connecting, then the read.
    assert load == on_a_new_connection
    assert command > 1  # a new writer connection, then the append
    assert cold(store).aggregate("acc-1").state.balance == BALANCE + 100


def test_a_connection_that_died_without_a_word_fails_a_read_that_is_tried_again(
    store: SqlEventStore, pg_proxy: FaultProxy
) -> None:
    fill_the_pool(store)
    accepted = pg_proxy.accepted

    pg_proxy.forget_idle()  # each idle connection is reset when next used

    assert cold(store).aggregate("acc-1").state.balance == BALANCE
    assert store.stream_version("acc-1") == 25
    assert pg_proxy.accepted == accepted + 1  # one new connection served both reads


def test_an_append_that_dies_before_its_commit_is_sent_is_tried_again(
    pg_proxy: FaultProxy, store: SqlEventStore
) -> None:
    # With a projection the append is a transaction: BEGIN, its statements, then COMMIT.
    emit: AccountEmit = Emit(account, store=store, projections=[balance_projection])
    emit.projections.install()
    emit.handle_command("acc-1", Deposit(1))

    pg_proxy.forget_idle()  # the writer's connection dies on its first statement

    assert emit.handle_command("acc-1", Deposit(2)).version == 27
    assert cold(store).aggregate("acc-1").state.balance == BALANCE + 3


def test_an_append_whose_statement_went_out_on_a_dead_connection_may_be_stored(
    store: SqlEventStore, pg_proxy: FaultProxy
) -> None:
    emit = cold(store)
    emit.handle_command("acc-1", Deposit(1))

    # Alone, an append is one statement that commits by itself: once it is sent, a reset
    # leaves its fate unknown, so it is not sent again (it would be stored twice if it was).
    pg_proxy.forget_idle()
    with pytest.raises(StorageError) as raised:
        emit.handle_command("acc-1", Deposit(2))

    assert raised.value.maybe_stored
    assert raised.value.kind is StorageErrorKind.UNREACHABLE
    assert emit.handle_command("acc-1", Deposit(4)).state.balance == BALANCE + 1 + 4


def test_a_writer_whose_session_the_server_ended_is_replaced_though_its_close_lags(
    pg_proxy: FaultProxy, postgres_url: str
) -> None:
    """The server ends the writer's idle session (an operator, a restart): it says so, then
    closes. The check before a one-statement append reads what came without waiting; if the
    close has not come yet, the server's last words must do: else the append is sent on a
    dead connection and answered "may have been stored" (the suite met this under load)."""
    store = SqlEventStore(pg_proxy.url, timeout=2.0)
    emit = cold(store)
    emit.create("acc-9")
    assert store._writer is not None
    backend = store._writer.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]

    pg_proxy.hold_server_close()
    admin = sa.create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(sa.select(sa.func.pg_terminate_backend(backend)))
    admin.dispose()
    assert pg_proxy.wait_for_held_closes(1)  # its words have passed, its close is held
    # ...and reached the client's socket: the case is a client that can read them.
    driver = store._writer.connection.dbapi_connection
    assert select.select([driver.pgconn.socket], [], [], 10.0)[0]  # type: ignore[union-attr]

    result = emit.handle_command("acc-9", Deposit(5), idempotency_key="after-the-end")
    assert result.version == 2
    assert [e.version for e in cold(store).history("acc-9")] == [1, 2]
    store.close()

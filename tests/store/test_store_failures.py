"""A database that fails under a library caller, for real, through the fault proxy
(tests/faultproxy.py): refused, cut or frozen, every call raises `StorageError` and nothing
else, of the right kind, within the store's time limit; when traffic passes again, the same
objects work again without being made anew."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from emit import (
    Emit,
    RecordedEvent,
    SqlEventStore,
    StorageError,
    StorageErrorKind,
)
from emit.subscribers import Policies
from tests.account import Deposit, account
from tests.balances import balance_projection
from tests.faultproxy import FaultProxy
from tests.subscribers.test_subscribers import effect_counts, once_each, policy, write_effect

pytestmark = pytest.mark.postgres

TIMEOUT = 1.0
# The most a call may take on a frozen server: the pool's quick check of a connection, a new
# connection (psycopg waits at least 2 s for one), or a statement's wait and a second of grace.
LIMIT = max(TIMEOUT * 0.5 + 2.0, TIMEOUT + 1.0) + 1.0

Call = Callable[[], object]


@pytest.fixture
def library(pg_proxy: FaultProxy) -> Iterator[tuple[Emit[Any, Any, Any], Policies]]:
    store = SqlEventStore(pg_proxy.url, timeout=TIMEOUT)
    emit: Emit[Any, Any, Any] = Emit(account, store=store, projections=[balance_projection])
    subscribers = Policies(emit, [policy()])
    emit.create("acc-1")
    emit.handle_command("acc-1", Deposit(5))
    subscribers.catch_up()
    yield emit, subscribers
    emit.close()


def calls(emit: Emit[Any, Any, Any], subscribers: Policies) -> dict[str, Call]:
    """Every kind of call a library user makes that reaches the database."""
    store = emit.store
    serial = iter(range(10**6))
    return {
        "create": lambda: emit.create(f"new-{next(serial)}"),
        "handle_command": lambda: emit.handle_command("acc-1", Deposit(1)),
        "aggregate (catch up)": lambda: emit.aggregate("acc-1", catch_up=True),
        "history": lambda: emit.history("acc-1"),
        "read_all": lambda: emit.read_all(),
        "list_aggregates": lambda: emit.list_aggregates(),
        "count_aggregates": lambda: emit.count_aggregates(),
        "metrics": lambda: emit.metrics(),
        "read_stream": lambda: store.read_stream("acc-1"),
        "stream_version": lambda: store.stream_version("acc-1"),
        "head_position": lambda: store.head_position(),
        "read_snapshot": lambda: store.read_snapshot("acc-1", "key"),
        "projections.install": lambda: emit.projections.install(),
        "projections.rebuild": lambda: emit.projections.rebuild("balances"),
        "subscribers.catch_up": lambda: subscribers.catch_up(timeout=5),
        "subscribers.status": lambda: subscribers.status(),
        "subscribers.dead_letters": lambda: subscribers.dead_letters(),
    }


# Calls that go through the store's one writer connection, one at a time: on a frozen server
# each waits for the one before it, so they are timed one after the other.
WRITERS = {"create", "handle_command", "projections.install", "projections.rebuild"}


def failures(
    emit: Emit[Any, Any, Any], subscribers: Policies
) -> dict[str, tuple[StorageErrorKind | str, float]]:
    """Each call's `StorageError` kind (or what else it did) and how long it took. The calls
    that read run at once, each in a thread of its own, to keep the test short."""

    def timed(call: Call) -> tuple[StorageErrorKind | str, float]:
        started = time.monotonic()
        try:
            call()
            outcome: StorageErrorKind | str = "no error"
        except StorageError as error:
            outcome = error.kind
        except Exception as error:
            outcome = f"{type(error).__name__}: {error}"
        return outcome, time.monotonic() - started

    every = calls(emit, subscribers)
    with ThreadPoolExecutor(len(every)) as threads:
        readers = {n: threads.submit(timed, c) for n, c in every.items() if n not in WRITERS}
        seen = {name: timed(call) for name, call in every.items() if name in WRITERS}
        seen.update({name: future.result() for name, future in readers.items()})
    return seen


def assert_all_failed_as(
    seen: dict[str, tuple[StorageErrorKind | str, float]], kind: StorageErrorKind
) -> None:
    """Every call raised a `StorageError` of this kind (and nothing else)."""
    assert {name: outcome for name, (outcome, _) in seen.items()} == dict.fromkeys(seen, kind)


def works_again(pg_proxy: FaultProxy, emit: Emit[Any, Any, Any], subscribers: Policies) -> None:
    """Once traffic passes again, every call works on the same objects."""
    pg_proxy.pass_traffic()
    for call in calls(emit, subscribers).values():
        call()


@pytest.mark.parametrize("fault", ["refuse", "cut"])
def test_a_server_that_is_gone_is_an_unreachable_storage_error_at_once(
    library: tuple[Emit[Any, Any, Any], Policies], pg_proxy: FaultProxy, fault: str
) -> None:
    emit, subscribers = library
    if fault == "refuse":
        pg_proxy.refuse(cut_open=True)
    else:
        pg_proxy.cut()
    seen = failures(emit, subscribers)
    assert_all_failed_as(seen, StorageErrorKind.UNREACHABLE)
    assert max(took for _, took in seen.values()) < 1.0
    works_again(pg_proxy, emit, subscribers)


def test_a_frozen_server_is_a_timeout_storage_error_within_the_limit(
    library: tuple[Emit[Any, Any, Any], Policies], pg_proxy: FaultProxy
) -> None:
    emit, subscribers = library
    pg_proxy.freeze()
    seen = failures(emit, subscribers)
    assert_all_failed_as(seen, StorageErrorKind.TIMEOUT)
    slow = {name: round(took, 2) for name, (_, took) in seen.items() if took > LIMIT}
    assert not slow, f"over {LIMIT} s: {slow}"
    works_again(pg_proxy, emit, subscribers)


def test_a_freeze_in_the_middle_of_an_append_ends_within_the_limit(
    library: tuple[Emit[Any, Any, Any], Policies], pg_proxy: FaultProxy
) -> None:
    emit, _ = library
    emit.handle_command("acc-1", Deposit(1))  # the writer connection is open, and idle
    pg_proxy.freeze()
    started = time.monotonic()
    with pytest.raises(StorageError) as raised:
        emit.handle_command("acc-1", Deposit(1))
    assert time.monotonic() - started < LIMIT
    assert raised.value.kind is StorageErrorKind.TIMEOUT
    pg_proxy.pass_traffic()
    emit.handle_command("acc-1", Deposit(1))


@pytest.mark.parametrize("fault", ["cut", "freeze"])
def test_a_running_policy_runner_rides_out_an_outage(
    library: tuple[Emit[Any, Any, Any], Policies],
    pg_proxy: FaultProxy,
    postgres_url: str,
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emit, _ = library
    direct: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(postgres_url))
    runner = Policies(emit, [policy()], poll_interval=0.05)
    runner.start()
    try:
        getattr(pg_proxy, fault)()
        direct.handle_command("acc-1", Deposit(7))  # appended while the runner is cut off
        time.sleep(TIMEOUT + 1.5)
        assert runner.running  # its thread did not die, and is not stuck for good
        pg_proxy.pass_traffic()
        head = direct.store.head_position()
        deadline = time.monotonic() + LIMIT + 2
        while effect_counts(direct) != once_each(direct):
            assert time.monotonic() < deadline, "the runner did not catch up after the outage"
            time.sleep(0.05)
        assert sum(effect_counts(direct).values()) == head
    finally:
        runner.stop()
        direct.close()
    # Each failed round is one line saying why, with no traceback.
    failed = [r for r in caplog.records if r.name == "emit.subscribers" and r.levelno >= 30]
    assert failed
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in failed)


def test_a_dead_letter_retry_cut_off_by_the_database_counts_no_attempt(
    pg_proxy: FaultProxy,
) -> None:
    cut_off = False

    def handle(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
        if cut_off:
            pg_proxy.cut()  # the policy's connection is cut while it works...
            time.sleep(0.1)
            pg_proxy.pass_traffic()  # ...and the database can be reached again at once
            write_effect(connection, recorded)
        raise RuntimeError("the first try fails")

    emit: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(pg_proxy.url, timeout=TIMEOUT))
    subscribers = Policies(emit, [policy(handle, max_attempts=1)])
    emit.create("acc-1")
    subscribers.catch_up()
    (letter,) = subscribers.dead_letters()
    cut_off = True
    with pytest.raises(StorageError) as raised:
        subscribers.retry_dead_letter(letter.id)
    assert raised.value.kind is StorageErrorKind.UNREACHABLE
    (after,) = subscribers.dead_letters()
    assert (after.id, after.attempts, after.error) == (letter.id, 1, letter.error)
    assert not after.being_retried  # the claim was let go: Retry works again at once
    emit.close()


def test_a_group_commit_on_a_frozen_server_lets_every_waiting_command_go(
    library: tuple[Emit[Any, Any, Any], Policies], pg_proxy: FaultProxy
) -> None:
    emit, _ = library
    for n in range(8):
        emit.create(f"acc-g{n}")
    pg_proxy.freeze()

    def command(n: int) -> tuple[StorageErrorKind | None, float]:
        started = time.monotonic()
        try:
            emit.handle_command(f"acc-g{n}", Deposit(1))
            kind = None
        except StorageError as error:
            kind = error.kind
        return kind, time.monotonic() - started

    with ThreadPoolExecutor(8) as threads:
        seen = list(threads.map(command, range(8)))
    # The leader's batch waits out the timeout; the commands queued behind it then fail in
    # one batch too, on a new connection that cannot be made: two waits, not one each.
    assert [kind for kind, _ in seen] == [StorageErrorKind.TIMEOUT] * 8
    assert max(took for _, took in seen) < LIMIT + 2.0  # a connection takes 2 s to give up
    pg_proxy.pass_traffic()
    emit.handle_command("acc-g0", Deposit(1))

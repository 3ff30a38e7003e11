"""Many writers at once: threads in one process, and separate processes on one database."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest

from emit import Emit, SqlEventStore
from tests.account import Account, Deposit, account
from tests.threads import start_and_join

THREADS = 8
COMMANDS = 200


def _hammer(emit: Emit[Any, Any, Account], aggregate_id: str, threads: int, commands: int) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(commands):
                emit.handle_command(aggregate_id, Deposit(1, f"w{worker}-{n}"))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    start_and_join(pool)
    assert errors == []


def _assert_complete(emit: Emit[Any, Any, Account], aggregate_id: str, deposits: int) -> None:
    history = emit.history(aggregate_id)
    assert [e.version for e in history] == list(range(1, deposits + 2))
    assert len({e.event.by for e in history[1:]}) == deposits  # no command lost or doubled
    replayed = emit.state_at(aggregate_id, deposits + 1)
    assert replayed.balance == deposits
    assert emit.get_state(aggregate_id, catch_up=True) == replayed


def test_threads_on_one_aggregate_lose_and_duplicate_nothing(database_url: str) -> None:
    store = SqlEventStore(database_url)
    emit: Emit[Any, Any, Account] = Emit(account, store=store)
    emit.create("shared")

    _hammer(emit, "shared", THREADS, COMMANDS)

    _assert_complete(emit, "shared", THREADS * COMMANDS)
    assert emit.aggregate("shared").version == THREADS * COMMANDS + 1
    store.close()


def _process_worker(url: str, aggregate_id: str, name: str, commands: int) -> None:
    store = SqlEventStore(url)
    emit: Emit[Any, Any, Account] = Emit(account, store=store)
    threads = 4
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(commands):
                emit.handle_command(aggregate_id, Deposit(1, f"{name}-{worker}-{n}"))
        except BaseException as error:
            errors.append(error)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    start_and_join(pool)
    store.close()
    if errors:
        raise errors[0]


@pytest.mark.slow
def test_two_processes_each_with_its_own_emit_lose_and_duplicate_nothing(database_url: str) -> None:
    store = SqlEventStore(database_url)
    emit: Emit[Any, Any, Account] = Emit(account, store=store)
    emit.create("shared")
    context = multiprocessing.get_context("spawn")
    per_thread = COMMANDS
    workers = [
        context.Process(target=_process_worker, args=(database_url, "shared", name, per_thread))
        for name in ("p1", "p2")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0]

    _assert_complete(emit, "shared", 2 * 4 * per_thread)
    positions = [event.position for event in store.read_all()]
    assert positions == list(range(1, 2 * 4 * per_thread + 2))  # gap-free across processes
    store.close()


def test_a_reader_tailing_the_log_sees_every_event_once_in_order(database_url: str) -> None:
    # Three writers, each with its own store and so its own connection and transactions (on
    # PostgreSQL they truly overlap), and a reader with a fourth.
    writer_stores = [SqlEventStore(database_url) for _ in range(3)]
    emits: list[Emit[Any, Any, Account]] = [
        Emit(account, store=store, observers=[]) for store in writer_stores
    ]
    reader_store = SqlEventStore(database_url)
    streams = [f"s{n}" for n in range(12)]
    for stream in streams:
        emits[0].create(stream)
    writers_done = threading.Event()
    seen: list[int] = []
    per_writer = 60
    writers_count = 6

    def write(emit: Emit[Any, Any, Account], stream_group: list[str]) -> None:
        for n in range(per_writer):
            emit.handle_command(stream_group[n % len(stream_group)], Deposit(1))

    def tail() -> None:
        position = 0
        while True:
            finished = writers_done.is_set()
            batch = reader_store.read_all(after=position, limit=50)
            for event in batch:
                seen.append(event.position)
                position = event.position
            if finished and not batch:
                return

    reader = threading.Thread(target=tail)
    reader.start()
    # Each group of streams has two writers on different stores: they conflict and retry.
    writers = [
        threading.Thread(target=write, args=(emits[i % 3], streams[(i // 2) :: 3]))
        for i in range(writers_count)
    ]
    start_and_join(writers)
    writers_done.set()
    reader.join()

    total = len(streams) + writers_count * per_writer
    assert seen == list(range(1, total + 1))
    assert reader_store.head_position() == total
    balances = [emits[0].get_state(stream, catch_up=True).balance for stream in streams]
    assert sum(balances) == writers_count * per_writer
    for store in [*writer_stores, reader_store]:
        store.close()


def test_threads_on_shared_and_own_aggregates_through_a_small_pool(database_url: str) -> None:
    # A live entry has a lock only while commands have it taken: made by the first, dropped
    # by the last. Threads on one shared aggregate and on their own, through a pool smaller
    # than the aggregates (so entries are evicted and reloaded while others wait on them),
    # must still lose and duplicate nothing, and leave no entry holding a lock.
    store = SqlEventStore(database_url)
    emit: Emit[Any, Any, Account] = Emit(account, store=store, pool_size=3)
    own = [f"own-{w}" for w in range(THREADS)]
    for aggregate_id in ("shared", *own):
        emit.create(aggregate_id)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(COMMANDS // 2):
                emit.handle_command("shared", Deposit(1, f"w{worker}-{n}"))
                emit.handle_command(own[worker], Deposit(1, f"own-{n}"))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    start_and_join([threading.Thread(target=work, args=(w,)) for w in range(THREADS)])

    assert errors == []
    _assert_complete(emit, "shared", THREADS * COMMANDS // 2)
    for aggregate_id in own:
        assert emit.get_state(aggregate_id, catch_up=True).balance == COMMANDS // 2
    for entry in emit.pool.entries():
        assert entry.users == 0
        with pytest.raises(RuntimeError, match="not taken for a command"):
            entry.lock  # noqa: B018
    store.close()

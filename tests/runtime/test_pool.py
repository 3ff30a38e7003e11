"""The pool of live aggregates: bounded, least recently used out first, a cache never the truth."""

from __future__ import annotations

from typing import Any

import pytest

from emit import Aggregate, AggregatePool, Emit, InMemoryEventStore, LiveAggregate, SqlEventStore
from tests.account import Account, Deposit, account


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def entry(name: str) -> LiveAggregate[int]:
    return LiveAggregate(Aggregate(name, 1, 0))


def test_the_least_recently_used_entry_goes_first_and_reads_count_as_use() -> None:
    evicted: list[tuple[str, str]] = []
    pool: AggregatePool[int] = AggregatePool(2, on_evict=lambda e, why: evicted.append((e.id, why)))
    pool.add(entry("a"))
    pool.add(entry("b"))
    pool.get("a")  # "a" is now the most recent

    pool.add(entry("c"))

    assert evicted == [("b", "capacity")]
    assert [e.id for e in pool.entries()] == ["a", "c"]
    assert len(pool) == 2


def test_hits_misses_and_evictions_are_counted() -> None:
    pool: AggregatePool[int] = AggregatePool(1)
    pool.add(entry("a"))
    pool.get("a")
    pool.get("a")
    pool.get("zz")
    pool.add(entry("b"))

    assert (pool.hits, pool.misses, pool.evictions) == (2, 1, 1)
    assert pool.entries()[0].hits == 0
    assert "a" not in pool


def test_idle_entries_expire() -> None:
    clock = Clock()
    evicted: list[tuple[str, str]] = []
    pool: AggregatePool[int] = AggregatePool(
        10, idle_expiry=60, clock=clock, on_evict=lambda e, why: evicted.append((e.id, why))
    )
    pool.add(entry("old"))
    clock.now = 30
    pool.add(entry("young"))
    clock.now = 61

    assert pool.get("young") is not None
    assert evicted == [("old", "idle")]
    clock.now = 200
    assert pool.expire_idle() == 1
    assert len(pool) == 0


def test_a_second_load_of_the_same_aggregate_yields_the_first() -> None:
    pool: AggregatePool[int] = AggregatePool(5)
    first = pool.add(entry("a"))

    assert pool.add(entry("a")) is first


@pytest.mark.parametrize("size", [0, -1])
def test_the_pool_needs_room_for_one(size: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AggregatePool(size)


def test_an_evicted_aggregate_reloads_to_the_same_state_and_version(sqlite_url: str) -> None:
    evicted: list[str] = []
    store = SqlEventStore(sqlite_url)
    emit: Emit[Any, Any, Account] = Emit(
        account, store=store, pool_size=2, on_evict=lambda e, why: evicted.append(e.id)
    )
    for name in ["a", "b", "c"]:
        emit.create(name)
        emit.handle_command(name, Deposit(len(name) + ord(name[0])))
    before = {name: emit.aggregate(name) for name in ["a", "b", "c"]}  # reading "a" evicts again

    assert len(emit.pool) == 2
    assert evicted[:2] == ["a", "b"]
    for name in ["a", "b", "c"]:
        assert emit.aggregate(name) == before[name]
    assert emit.handle_command("a", Deposit(1)).version == 3
    store.close()


def test_the_pool_stays_within_its_size_under_many_aggregates() -> None:
    emit: Emit[Any, Any, Account] = Emit(account, store=InMemoryEventStore(), pool_size=10)
    for n in range(100):
        emit.create(f"acc-{n}")
        emit.get_state(f"acc-{n // 2}")

    assert len(emit.pool) == 10
    assert emit.pool.evictions >= 90


def test_an_entry_in_use_is_kept_until_its_commands_are_done() -> None:
    clock = [0.0]
    gone: list[str] = []
    pool: AggregatePool[int] = AggregatePool(
        1, idle_expiry=5, clock=lambda: clock[0], on_evict=lambda e, reason: gone.append(reason)
    )
    busy = pool.add(LiveAggregate(Aggregate("busy", 1, 0)), use=True)
    pool.add(LiveAggregate(Aggregate("other", 1, 0)))  # full, but "busy" is in use
    assert "busy" in pool
    assert gone == []
    clock[0] = 10.0
    pool.expire_idle()  # idle for long enough, but still in use
    assert "busy" in pool
    assert pool.evict("busy")  # asked while in use: later
    assert "busy" in pool
    pool.done(busy)
    assert "busy" not in pool
    assert gone == ["idle", "requested"]  # "other" expired; "busy" once its command was done

"""Appends that go wrong part-way: a shared transaction spoiled by one request, a commit that
fails after reaching the disk, two requests for one stream in one batch, and an aggregate let
go by the pool while a command runs on it. Each must leave the store and the live state exact:
nothing lost, nothing stored twice, nothing folded twice."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from emit import (
    AppendRequest,
    ConcurrencyError,
    Emit,
    EventStore,
    InMemoryEventStore,
    NewEvent,
    SqlEventStore,
    StorageError,
    StoredEvent,
)
from emit.commit import GroupCommit
from emit.ids import new_id
from emit.observers import Observer
from emit.store import AppendResult, append_one
from tests.account import Account, Deposit, Deposited, account
from tests.conftest import fail_after_commits


def noted(n: int = 0) -> NewEvent:
    return NewEvent(new_id(), "Noted", 1, json.dumps({"n": n}), "{}")


@pytest.fixture
def sql_store(database_url: str) -> Iterator[SqlEventStore]:
    store = SqlEventStore(database_url)
    yield store
    store.close()


def replayed(emit: Emit[Any, Any, Account], account_id: str) -> Account:
    return emit.state_at(account_id, emit.store.stream_version(account_id))


# --- a shared transaction that fails: its requests are retried alone --------------------------


def test_a_resolver_asked_twice_by_a_split_retry_answers_from_the_same_base(
    sql_store: SqlEventStore,
) -> None:
    append_one(sql_store, AppendRequest("late", 0, [noted(1)]))
    append_one(sql_store, AppendRequest("late", 1, [noted(2)]))
    asked: list[list[int]] = []

    def resolve(newer: Sequence[StoredEvent]) -> list[NewEvent]:
        asked.append([event.version for event in newer])
        return [noted(3)]

    def broken_hook(_connection: Any, _stored: Sequence[StoredEvent]) -> None:
        raise RuntimeError("read model is jammed")

    stale = AppendRequest("late", 1, [noted(99)], resolve=resolve)
    spoiler = AppendRequest("other", 0, [noted(1)], before_commit=broken_hook)
    late_result, spoiler_result = sql_store.append_many([stale, spoiler])

    assert asked == [[2], [2]]  # in the shared transaction, then alone: the same newer events
    assert isinstance(late_result, list)
    assert [e.version for e in late_result] == [3]
    assert isinstance(spoiler_result, RuntimeError)
    assert [json.loads(e.data)["n"] for e in sql_store.read_stream("late")] == [1, 2, 3]
    assert sql_store.stream_version("other") == 0


class ResolvesTwice:
    """A store that, like a failed shared transaction followed by a retry alone, asks a stale
    request's resolver once before handing the request to the real store (which asks again)."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        for request in requests:
            newer = self.inner.read_stream(request.stream_id, after=request.expected_version)
            if newer and request.resolve is not None:
                request.resolve(newer)
        return self.inner.append_many(requests)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_command_decided_again_twice_folds_the_newer_events_once(sqlite_url: str) -> None:
    inner = SqlEventStore(sqlite_url)
    other = Emit(account, store=inner, observers=[])  # another process, on the same database
    mine = Emit(account, store=ResolvesTwice(inner), observers=[])
    mine.create("acc")
    mine.handle_command("acc", Deposit(10))
    other.handle_command("acc", Deposit(5))
    other.handle_command("acc", Deposit(7))

    result = mine.handle_command("acc", Deposit(1))

    assert result.version == 5
    assert result.state.balance == 23  # 10 + 5 + 7 + 1: the newer deposits counted once
    assert mine.get_state("acc") == replayed(mine, "acc") == result.state
    assert [e.event for e in result.events] == [Deposited(1, "teller")]
    inner.close()


class ResolvesThenStoresTheOriginal:
    """A store whose first, failed attempt saw the stream moved (by a request that was then
    rolled back with it) and asked the resolver; the attempt that commits stores the
    request's own events after all."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.phantom: list[StoredEvent] = []

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        for request in requests:
            if request.resolve is not None and self.phantom:
                request.resolve(self.phantom)
        return self.inner.append_many(requests)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_when_the_store_keeps_the_first_decision_the_live_state_is_that_one() -> None:
    inner = InMemoryEventStore()
    store = ResolvesThenStoresTheOriginal(inner)
    emit = Emit(account, store=store, observers=[])
    emit.create("acc")
    emit.handle_command("acc", Deposit(10))
    store.phantom = [_phantom_deposit()]  # a deposit of 1,000 that was never committed

    result = emit.handle_command("acc", Deposit(1))

    assert result.state.balance == 11
    assert emit.get_state("acc") == replayed(emit, "acc") == result.state


def _phantom_deposit() -> StoredEvent:
    from datetime import UTC, datetime

    return StoredEvent(
        "acc",
        3,
        99,
        new_id(),
        "Deposited",
        1,
        '{"amount": 1000, "by": "x"}',
        "{}",
        datetime.now(UTC),
    )


# --- a commit that fails: it may have happened, so nothing is retried --------------------------


def test_a_failed_commit_fails_every_request_and_stores_nothing_twice(
    sql_store: SqlEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for stream in ("a", "b", "c"):
        append_one(sql_store, AppendRequest(stream, 0, [noted(1)]))

    fail_after_commits(sql_store, monkeypatch)
    # With resolvers, a retry of a stored request would be resolved and stored a second time.
    requests = [
        AppendRequest("a", 1, [noted(2)], resolve=lambda newer: [noted(2)]),
        AppendRequest("b", 1, [noted(2)], resolve=lambda newer: [noted(2)]),
        AppendRequest("c", 0, [noted(1)]),  # "c" exists: a conflict, which it keeps
    ]
    results = sql_store.append_many(requests)
    monkeypatch.undo()

    assert isinstance(results[0], StorageError)
    assert isinstance(results[1], StorageError)
    assert isinstance(results[2], ConcurrencyError)
    assert "commit" in str(results[0])
    assert isinstance(results[0].__cause__, sqlite3.OperationalError)
    # The commit did reach the disk: each stream holds its event once, never a retry's copy.
    assert [json.loads(e.data)["n"] for e in sql_store.read_stream("a")] == [1, 2]
    assert [json.loads(e.data)["n"] for e in sql_store.read_stream("b")] == [1, 2]
    assert sql_store.head_position() == 5
    # The store still works afterwards, on a new connection.
    append_one(sql_store, AppendRequest("b", 2, [noted(3)]))
    assert sql_store.stream_version("b") == 3


# --- two requests for one stream in one call --------------------------------------------------


def test_a_second_request_for_a_stream_in_one_call_loses_the_race_cleanly(
    any_store: EventStore,
) -> None:
    append_one(any_store, AppendRequest("s", 0, [noted(1)]))
    asked: list[Sequence[StoredEvent]] = []

    def resolve(newer: Sequence[StoredEvent]) -> list[NewEvent]:
        asked.append(newer)
        return [noted(3)]

    first, second = any_store.append_many(
        [
            AppendRequest("s", 1, [noted(2)]),
            AppendRequest("s", 1, [noted(99)], resolve=resolve),
        ]
    )

    assert isinstance(first, list)
    assert [e.version for e in first] == [2]
    assert isinstance(second, ConcurrencyError)
    assert second.actual_version == 2
    assert asked == []
    assert [json.loads(e.data)["n"] for e in any_store.read_stream("s")] == [1, 2]


def test_group_commit_never_puts_two_requests_for_one_stream_in_one_batch() -> None:
    batches: list[list[str]] = []
    release = threading.Event()
    store = InMemoryEventStore()

    def append_many(requests: Sequence[AppendRequest]) -> list[AppendResult]:
        batches.append([r.stream_id for r in requests])
        release.wait(5)
        return store.append_many(requests)

    group = GroupCommit(append_many)
    leader = threading.Thread(target=group.append, args=(AppendRequest("x", 0, [noted()]),))
    leader.start()
    while not batches:  # the leader is flushing; the rest queue behind it
        threading.Event().wait(0.001)
    followers = [
        threading.Thread(target=group.append, args=(AppendRequest(stream, 0, [noted()]),))
        for stream in ("s", "s", "t", "s")
    ]
    for follower in followers:
        follower.start()
    while len(group._queue) < len(followers):
        threading.Event().wait(0.001)
    release.set()
    for thread in [leader, *followers]:
        thread.join(10)

    assert batches[0] == ["x"]
    assert all(len(batch) == len(set(batch)) for batch in batches), batches
    assert sorted(s for batch in batches for s in batch) == ["s", "s", "s", "t", "x"]


# --- the pool lets go of no aggregate while a command runs on it -------------------------------


class Gate:
    """Holds a command inside `decide` until the test lets it go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


def test_an_aggregate_busy_with_a_command_is_not_evicted(sqlite_url: str) -> None:
    gate = Gate()

    def slow_decide(command: object, state: Account) -> list[object]:
        if isinstance(command, Deposit) and command.by == "slow":
            gate.entered.set()
            assert gate.release.wait(10)
        return account.decide(command, state)

    decider = dataclasses.replace(account, decide=slow_decide)
    evicted: list[str] = []
    emit = Emit(decider, store=SqlEventStore(sqlite_url), pool_size=1, observers=[])
    emit.on_evict = lambda entry, reason: evicted.append(f"{entry.id}:{reason}")
    emit.create("busy")
    slow = threading.Thread(target=emit.handle_command, args=("busy", Deposit(1, "slow")))
    slow.start()
    assert gate.entered.wait(10)

    emit.create("other")  # the pool is full: the busy aggregate must stay
    assert "busy" in emit.pool
    second = threading.Thread(target=emit.handle_command, args=("busy", Deposit(2)))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # serialised behind the slow command, on the same entry
    assert emit.evict("busy")  # asked while commands use it: it goes when they are done
    assert "busy" in emit.pool
    assert evicted == ["other:capacity"] or evicted == []

    gate.release.set()
    for thread in (slow, second):
        thread.join(10)
    assert "busy" not in emit.pool
    assert "busy:requested" in evicted
    assert "busy:capacity" not in evicted
    assert emit.get_state("busy").balance == 3
    assert emit.store.stream_version("busy") == 3
    assert emit.metrics().conflicts_retried == 0
    emit.close()


def test_a_handler_may_evict_the_aggregate_whose_command_it_hears_of() -> None:
    store = InMemoryEventStore()
    seen: list[int] = []

    class EvictOnConflict(Observer):
        def conflict_retried(self, aggregate_id: str, expected_version: int, attempt: int) -> None:
            seen.append(attempt)
            mine.evict(aggregate_id)  # called while the command holds the aggregate

    mine = Emit(account, store=store, observers=[EvictOnConflict()])
    other = Emit(account, store=store, observers=[])
    mine.create("acc")
    other.handle_command("acc", Deposit(5))
    done = threading.Thread(target=mine.handle_command, args=("acc", Deposit(1)), daemon=True)
    done.start()
    done.join(10)

    assert not done.is_alive()
    assert seen == [1]
    assert "acc" not in mine.pool
    assert mine.get_state("acc").balance == 6

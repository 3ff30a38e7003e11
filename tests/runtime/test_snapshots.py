"""Snapshots: the states of a full replay from far fewer events, and only from the same code."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emit import (
    AggregateNotFound,
    CodecError,
    CommandRejected,
    Decider,
    Emit,
    EventStore,
    InMemoryEventStore,
    Snapshots,
    StoredEvent,
    StoredSnapshot,
)
from emit.store import EventData
from tests.account import Account, Close, Deposit, Withdraw, account

AccountEmit = Emit[Any, Any, Account]


@pytest.fixture
def store(any_store: EventStore) -> EventStore:
    return any_store


class CountingStore:
    """A store that counts the events it hands out, to see how much was replayed."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.events_read = 0

    def read_stream(self, stream_id: str, **window: Any) -> list[StoredEvent]:
        events = self.inner.read_stream(stream_id, **window)
        self.events_read += len(events)
        return events

    def read_stream_data(self, stream_id: str, **window: Any) -> list[EventData]:
        rows = self.inner.read_stream_data(stream_id, **window)
        self.events_read += len(rows)
        return rows

    def read_from_snapshot(
        self, stream_id: str, key: str, **window: Any
    ) -> tuple[StoredSnapshot | None, list[EventData]]:
        snapshot, rows = self.inner.read_from_snapshot(stream_id, key, **window)
        self.events_read += len(rows)
        return snapshot, rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def deposits(emit: AccountEmit, aggregate_id: str, count: int) -> None:
    emit.create(aggregate_id)
    for n in range(count):
        emit.handle_command(aggregate_id, Deposit(n + 1))


def test_state_at_every_version_equals_a_full_replay(store: EventStore) -> None:
    with_snapshots: AccountEmit = Emit(account, store=store, snapshot_every=4)
    deposits(with_snapshots, "acc-1", 17)
    with_snapshots.handle_command("acc-1", Withdraw(5))
    plain: AccountEmit = Emit(account, store=store)

    for version in range(20):
        assert with_snapshots.state_at("acc-1", version) == plain.state_at("acc-1", version)
    assert store.read_snapshot("acc-1", Snapshots(account, 4).key) is not None


def test_a_cold_load_replays_only_the_events_after_the_latest_snapshot(store: EventStore) -> None:
    deposits(Emit(account, store=store, snapshot_every=10), "acc-1", 24)  # versions 1..25
    counting = CountingStore(store)
    cold: AccountEmit = Emit(account, store=counting, snapshot_every=10)  # type: ignore[arg-type]

    aggregate = cold.aggregate("acc-1")

    assert (aggregate.version, aggregate.state.balance) == (25, sum(range(1, 25)))
    assert counting.events_read == 5  # 21..25, after the snapshot at version 20
    counting.events_read = 0
    assert cold.state_at("acc-1", 19).balance == sum(range(1, 19))
    assert counting.events_read == 9  # 11..19, after the snapshot at version 10


def test_a_load_right_at_a_snapshot_or_of_no_aggregate_reads_no_events(store: EventStore) -> None:
    deposits(Emit(account, store=store, snapshot_every=5), "acc-1", 9)  # snapshot at 10
    counting = CountingStore(store)
    cold: AccountEmit = Emit(account, store=counting, snapshot_every=5)  # type: ignore[arg-type]

    assert cold.aggregate("acc-1").state == Emit(account, store=store).get_state("acc-1")
    assert counting.events_read == 0
    with pytest.raises(AggregateNotFound):
        cold.aggregate("acc-2")


def test_a_long_replay_leaves_a_snapshot_behind(store: EventStore) -> None:
    deposits(Emit(account, store=store), "acc-1", 30)  # written without snapshots
    counting = CountingStore(store)

    first: AccountEmit = Emit(account, store=counting, snapshot_every=10)  # type: ignore[arg-type]
    first.aggregate("acc-1")
    second: AccountEmit = Emit(account, store=counting, snapshot_every=10)  # type: ignore[arg-type]
    counting.events_read = 0
    second.aggregate("acc-1")

    assert counting.events_read == 0  # the first load snapshotted version 31


def test_snapshots_of_other_code_are_never_read(store: EventStore) -> None:
    deposits(Emit(account, store=store, snapshot_every=2), "acc-1", 6)

    def doubling(state: Account, event: object) -> Account:
        state = account.evolve(state, event)
        return dataclasses.replace(state, balance=state.balance * 2)

    changed = dataclasses.replace(account, evolve=doubling)
    new_code: AccountEmit = Emit(changed, store=store, snapshot_every=2)
    bumped: AccountEmit = Emit(account, store=store, snapshot_every=2, snapshot_version=2)

    assert new_code.get_state("acc-1") == Emit(changed, store=store).get_state("acc-1")
    assert new_code.get_state("acc-1").balance != 21
    assert bumped.get_state("acc-1").balance == 21
    assert Snapshots(account, 2).key != Snapshots(changed, 2).key
    assert Snapshots(account, 2).key != Snapshots(account, 2, version=2).key
    assert Snapshots(account, 2).key == Snapshots(account, 7).key  # the interval is not code


def test_a_snapshot_that_does_not_decode_is_skipped(store: EventStore) -> None:
    deposits(Emit(account, store=store), "acc-1", 3)
    key = Snapshots(account, 2).key
    store.write_snapshot(StoredSnapshot("acc-1", 4, key, '{"balance":"lots"}'))

    emit: AccountEmit = Emit(account, store=store, snapshot_every=2)

    assert emit.get_state("acc-1") == Account(6, (1, 2, 3), True)


def test_a_failed_snapshot_write_does_not_fail_the_command() -> None:
    class NoSnapshots(InMemoryEventStore):
        def write_snapshot(self, snapshot: StoredSnapshot) -> None:
            raise OSError("disk full")

    emit: AccountEmit = Emit(account, store=NoSnapshots(), snapshot_every=1)
    emit.create("acc-1")

    assert emit.handle_command("acc-1", Deposit(3)).state.balance == 3
    assert emit.history("acc-1")[-1].version == 2


def test_an_unstorable_state_or_a_bad_interval_is_refused_at_set_up() -> None:
    @dataclasses.dataclass(frozen=True)
    class Opaque:
        handle: Callable[[], None] = print

    opaque = Decider("opaque", Opaque(), lambda c, s: [], lambda s, e: s, events=[])

    with pytest.raises(CodecError, match="cannot store its state"):
        Emit(opaque, store=InMemoryEventStore(), snapshot_every=5)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="snapshot_every"):
            Emit(account, store=InMemoryEventStore(), snapshot_every=bad)  # type: ignore[arg-type]


commands = st.lists(
    st.one_of(
        st.builds(Deposit, st.integers(1, 50)),
        st.builds(Withdraw, st.integers(1, 80)),
        st.just(Close()),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(commands, st.integers(1, 6))
def test_snapshots_never_change_a_state(script: list[object], every: int) -> None:
    store = InMemoryEventStore()
    with_snapshots: AccountEmit = Emit(account, store=store, snapshot_every=every)
    with_snapshots.create("acc")
    for command in script:
        with contextlib.suppress(CommandRejected):  # rejections are part of the script
            with_snapshots.handle_command("acc", command)
    plain: AccountEmit = Emit(account, store=store)
    cold: AccountEmit = Emit(account, store=store, snapshot_every=every)

    latest = plain.aggregate("acc").version
    assert cold.aggregate("acc") == plain.aggregate("acc") == with_snapshots.aggregate("acc")
    for version in range(latest + 1):
        assert cold.state_at("acc", version) == plain.state_at("acc", version)

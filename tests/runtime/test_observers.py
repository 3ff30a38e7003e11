"""Observers on `Emit` (logging, eviction, your own), its metrics, and the view of its pool."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from emit import (
    Aggregate,
    AggregateNotFound,
    CommandRejected,
    CommandResult,
    Emit,
    EventStore,
    InMemoryEventStore,
    LiveAggregate,
    LoggingObserver,
    Observer,
    RecordedEvent,
    SqlEventStore,
    StorageError,
    Timing,
)
from tests.account import Account, Close, Deposit, Withdraw, account
from tests.balances import balance_projection

AccountEmit = Emit[Any, Any, Account]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    opened: EventStore = (
        InMemoryEventStore()
        if request.param == "memory"
        else SqlEventStore(request.getfixturevalue("sqlite_url"))
    )
    yield opened
    opened.close()


class Recorder(Observer):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def command_handled(
        self, aggregate_id: str, command: object, result: CommandResult[Any, Any], duration_ns: int
    ) -> None:
        assert duration_ns > 0
        self.calls.append(("handled", aggregate_id, type(command).__name__, result.version))

    def command_rejected(
        self, aggregate_id: str, command: object, rejection: CommandRejected, duration_ns: int
    ) -> None:
        self.calls.append(("rejected", aggregate_id, rejection.reason))

    def command_failed(
        self, aggregate_id: str, command: object, error: Exception, duration_ns: int
    ) -> None:
        self.calls.append(("failed", aggregate_id, type(error).__name__))

    def events_appended(self, events: Sequence[RecordedEvent[Any]]) -> None:
        self.calls.append(("appended", events[0].aggregate_id, [e.version for e in events]))

    def conflict_retried(self, aggregate_id: str, expected_version: int, attempt: int) -> None:
        self.calls.append(("conflict", aggregate_id, expected_version, attempt))

    def aggregate_loaded(self, aggregate: Aggregate[Any], duration_ns: int) -> None:
        self.calls.append(("loaded", aggregate.id, aggregate.version))

    def aggregate_evicted(self, aggregate: Aggregate[Any], reason: str) -> None:
        self.calls.append(("evicted", aggregate.id, aggregate.version, reason))


def test_observers_hear_of_everything_in_order(store: EventStore) -> None:
    recorder = Recorder()
    mine: AccountEmit = Emit(account, store=store, observers=[recorder])
    theirs: AccountEmit = Emit(account, store=store, observers=[])
    mine.create("acc-1")
    mine.handle_command("acc-1", Deposit(5))
    theirs.handle_command("acc-1", Deposit(1))  # makes mine stale
    mine.handle_command("acc-1", Deposit(2))
    with pytest.raises(CommandRejected):
        mine.handle_command("acc-1", Withdraw(100))
    with pytest.raises(AggregateNotFound):
        mine.handle_command("nobody", Deposit(1))

    assert recorder.calls == [
        ("appended", "acc-1", [1]),
        ("appended", "acc-1", [2]),
        ("handled", "acc-1", "Deposit", 2),
        ("conflict", "acc-1", 2, 1),
        ("appended", "acc-1", [4]),
        ("handled", "acc-1", "Deposit", 4),
        ("rejected", "acc-1", "insufficient funds: balance is 8"),
        ("failed", "nobody", "AggregateNotFound"),
    ]


def test_a_failing_observer_is_logged_and_neither_the_command_nor_others_suffer(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Observer):
        def events_appended(self, events: Sequence[RecordedEvent[Any]]) -> None:
            raise RuntimeError("handler bug")

    recorder = Recorder()
    emit: AccountEmit = Emit(account, store=store, observers=[Broken(), recorder])
    emit.create("acc-1")

    result = emit.handle_command("acc-1", Deposit(5))

    assert result.version == 2
    assert ("handled", "acc-1", "Deposit", 2) in recorder.calls
    assert "handler bug" in caplog.text
    assert "failed in events_appended" in caplog.text


def test_the_default_logging_observer_writes_one_structured_line_per_happening(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="emit")
    emit: AccountEmit = Emit(account, store=store, pool_size=1)
    emit.create("acc-1")
    emit.handle_command("acc-1", Deposit(5, "zoë"))
    with pytest.raises(CommandRejected):
        emit.handle_command("acc-1", Withdraw(9))
    emit.create("acc-2")  # pushes acc-1 out of the pool
    emit.get_state("acc-1")  # and loads it again

    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "events appended aggregate=acc-1 versions=1-1 positions=1-1 types=Opened"
    assert lines[2].startswith("command handled aggregate=acc-1 command=Deposit version=2 events=1")
    assert lines[3].startswith(
        'command rejected aggregate=acc-1 command=Withdraw reason="insufficient funds: balance is'
    )
    assert "aggregate evicted aggregate=acc-1 version=2 reason=capacity" in lines
    assert any(line.startswith("aggregate loaded aggregate=acc-1 version=2 ms=") for line in lines)
    handled = next(r for r in caplog.records if r.getMessage().startswith("command handled"))
    assert handled.emit["event"] == "command handled"  # type: ignore[attr-defined]
    assert handled.emit["version"] == 2  # type: ignore[attr-defined]


def test_logging_can_be_replaced_or_silenced(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    quiet: AccountEmit = Emit(account, store=store, observers=[])
    quiet.create("acc-1")
    quiet.handle_command("acc-1", Deposit(1))
    assert caplog.records == []

    audit = logging.getLogger("audit")
    loud: AccountEmit = Emit(
        account, store=store, observers=[LoggingObserver(audit, logging.DEBUG)]
    )
    loud.handle_command("acc-1", Deposit(1))
    assert {r.name for r in caplog.records} == {"audit"}
    assert {r.levelno for r in caplog.records} == {logging.DEBUG}


def test_the_eviction_handler_gets_each_aggregate_the_pool_lets_go(store: EventStore) -> None:
    evicted: list[tuple[str, int, int, str]] = []
    recorder = Recorder()

    def on_evict(entry: LiveAggregate[Account], reason: str) -> None:
        evicted.append((entry.id, entry.current.version, entry.current.state.balance, reason))

    emit: AccountEmit = Emit(
        account, store=store, pool_size=2, idle_expiry=0.2, on_evict=on_evict, observers=[recorder]
    )
    emit.create("a")
    emit.handle_command("a", Deposit(3))
    emit.create("b")
    emit.get_state("a")  # "b" is now the least recently used
    emit.create("c")
    assert evicted == [("b", 1, 0, "capacity")]

    assert emit.evict("a") is True
    assert emit.evict("a") is False
    assert evicted[-1] == ("a", 2, 3, "requested")

    time.sleep(0.25)
    emit.create("d")  # "c" has been idle too long
    assert evicted[-1] == ("c", 1, 0, "idle")
    assert [c for c in recorder.calls if c[0] == "evicted"] == [
        ("evicted", "b", 1, "capacity"),
        ("evicted", "a", 2, "requested"),
        ("evicted", "c", 1, "idle"),
    ]


def test_metrics_count_what_happened(store: EventStore) -> None:
    emit: AccountEmit = Emit(account, store=store, pool_size=2, observers=[])
    other: AccountEmit = Emit(account, store=store, observers=[])
    emit.create("acc-1")
    emit.create("acc-2")
    for amount in (1, 2, 3):
        emit.handle_command("acc-1", Deposit(amount))
    emit.handle_command("acc-1", Close())  # two events
    other.handle_command("acc-2", Deposit(1))
    emit.handle_command("acc-2", Deposit(1))  # a conflict, decided again
    for _ in range(2):
        with pytest.raises(CommandRejected):
            emit.handle_command("acc-1", Deposit(1))
    with pytest.raises(AggregateNotFound):
        emit.get_state("acc-9")
    emit.get_state("acc-2")
    emit.create("acc-3")  # evicts acc-1, the least recently used
    emit.get_state("acc-1")  # loads it back

    metrics = emit.metrics()

    assert metrics.commands_handled.count == 5
    assert metrics.commands_rejected.count == 2
    assert metrics.commands_failed == 0
    assert metrics.events_appended == 3 + 3 + 2 + 1
    assert metrics.conflicts_retried == 1
    assert metrics.aggregates_loaded.count == 1
    assert (metrics.pool_size, metrics.pool_capacity, metrics.pool_evictions) == (2, 2, 2)
    assert metrics.pool_misses == 2  # acc-9, and acc-1 after its eviction
    assert metrics.pool_hits == 8  # 4 + 1 + 2 commands, 1 read
    assert metrics.head_position == 10
    assert metrics.commands_handled.total_ns > 0
    assert metrics.to_dict()["commands_handled"]["count"] == 5


def test_metrics_show_how_far_each_subscriber_is_behind(sqlite_url: str) -> None:
    projected: AccountEmit = Emit(
        account, store=SqlEventStore(sqlite_url), projections=[balance_projection]
    )
    plain: AccountEmit = Emit(account, store=SqlEventStore(sqlite_url))
    projected.create("acc-1")
    assert projected.metrics().subscriber_lag == {"balances": 0}

    plain.handle_command("acc-1", Deposit(1))
    plain.handle_command("acc-1", Deposit(1))

    assert plain.metrics().subscriber_lag == {"balances": 2}
    projected.close()
    plain.close()


def test_failed_commands_are_counted(store: EventStore) -> None:
    class Failing:
        def __init__(self, inner: EventStore) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def append_many(self, requests: Sequence[Any]) -> list[Any]:
            if requests[0].expected_version:
                return [StorageError("append", "acc-1", OSError("disk gone"))]
            return list(self.inner.append_many(requests))

    emit: AccountEmit = Emit(account, store=Failing(store), observers=[])  # type: ignore[arg-type]
    emit.create("acc-1")
    with pytest.raises(StorageError):
        emit.handle_command("acc-1", Deposit(1))

    metrics = emit.metrics()
    assert (metrics.commands_failed, metrics.commands_handled.count) == (1, 0)


def test_timings_give_percentiles_within_a_factor_of_two() -> None:
    buckets = [0] * 32
    buckets[1] = 90  # below 2 microseconds
    buckets[11] = 10  # below 2048 microseconds
    timing = Timing(100, 90 * 1_500 + 10 * 2_000_000, 2_000_000, tuple(buckets))

    assert timing.percentile_ms(0.5) == 0.002
    assert timing.percentile_ms(0.99) == 2.0  # capped by the maximum seen
    assert timing.mean_ms == pytest.approx(0.20135)
    assert Timing().percentile_ms(0.5) == 0.0
    with pytest.raises(ValueError, match="fraction"):
        timing.percentile_ms(0)


def test_the_pool_can_be_looked_into(store: EventStore) -> None:
    emit: AccountEmit = Emit(account, store=store, observers=[])
    emit.create("a")
    emit.create("b")
    emit.handle_command("a", Deposit(1))
    emit.get_state("a")

    entries = emit.live_aggregates()

    assert [(e.aggregate_id, e.version, e.hits) for e in entries] == [("a", 2, 2), ("b", 1, 0)]
    assert entries[0].last_used_at >= entries[1].last_used_at
    assert entries[0].idle_seconds <= entries[1].idle_seconds
    assert [e.aggregate_id for e in emit.live_aggregates(limit=1)] == ["a"]


def test_the_old_names_of_observers_still_work_and_say_they_are_deprecated(
    store: EventStore,
) -> None:
    import emit as emit_package

    with pytest.deprecated_call(match="use emit.Observer"):
        old_base = emit_package.Handler
    with pytest.deprecated_call(match="use emit.LoggingObserver"):
        assert emit_package.LoggingHandler is LoggingObserver
    assert old_base is Observer
    recorder = Recorder()
    with pytest.deprecated_call(match=r"Emit\(observers=\.\.\.\)"):
        emit: AccountEmit = Emit(account, store=store, handlers=[recorder])
    emit.create("acc-1")
    assert recorder.calls  # the observer given under the old name hears of it
    late = Recorder()
    with pytest.deprecated_call(match="Emit.add_observer"):
        emit.add_handler(late)
    emit.handle_command("acc-1", Deposit(5))
    assert any(call[0] == "handled" for call in late.calls)
    with pytest.deprecated_call(match="Emit.remove_observer"):
        emit.remove_handler(late)
    emit.handle_command("acc-1", Deposit(5))
    assert sum(call[0] == "handled" for call in late.calls) == 1

"""`Emit` on every store: create, command, read, replay, errors, restart."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from emit import (
    AggregateAlreadyExists,
    AggregateNotFound,
    AppendRequest,
    CommandRejected,
    ConcurrencyError,
    Decider,
    Emit,
    EventDecodeError,
    EventStore,
    InMemoryEventStore,
    InvalidAggregateId,
    NewEvent,
    StorageError,
    VersionOutOfRange,
)
from emit.store import AppendResult, append_one
from tests.account import Account, Close, Deposit, Deposited, Opened, Withdraw, account
from tests.conftest import AccountEmit, Factory


@pytest.fixture
def emit(make_emit: Factory) -> AccountEmit:
    return make_emit()


def test_create_records_the_genesis_and_returns_the_aggregate(emit: AccountEmit) -> None:
    created = emit.create("acc-1")

    assert (created.id, created.version, created.state) == ("acc-1", 1, Account(open=True))
    (genesis,) = emit.history("acc-1")
    assert genesis.event == Opened("acc-1")
    assert genesis.metadata.command == "create"


def test_an_id_can_only_be_created_once(emit: AccountEmit) -> None:
    emit.create("acc-1")

    with pytest.raises(AggregateAlreadyExists, match="'acc-1'"):
        emit.create("acc-1")
    assert emit.aggregate("acc-1").version == 1


@pytest.mark.parametrize("bad", ["", " padded ", "x" * 201, "tab\there", 42])
def test_ids_must_be_printable_non_empty_strings(emit: AccountEmit, bad: Any) -> None:
    with pytest.raises(InvalidAggregateId):
        emit.create(bad)
    assert emit.count_aggregates() == 0


def test_a_command_records_events_with_their_metadata(emit: AccountEmit) -> None:
    emit.create("acc-1")
    before = datetime.now(UTC) - timedelta(seconds=1)

    result = emit.handle_command("acc-1", Deposit(5, "ann"), metadata={"user": "ann"})

    assert (result.version, result.state.balance) == (2, 5)
    (recorded,) = result.events
    assert (recorded.aggregate_id, recorded.version, recorded.position) == ("acc-1", 2, 2)
    assert (recorded.type, recorded.schema_version, recorded.event) == (
        "Deposited",
        1,
        Deposited(5, "ann"),
    )
    assert isinstance(recorded.event_id, uuid.UUID)
    assert recorded.metadata.command == "Deposit"
    assert recorded.metadata.extra == {"user": "ann"}
    assert recorded.metadata.correlation_id == recorded.metadata.causation_id
    assert before <= recorded.recorded_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert emit.history("acc-1")[-1] == recorded


def test_events_of_one_command_share_its_metadata(emit: AccountEmit) -> None:
    emit.create("acc-1")
    emit.handle_command("acc-1", Deposit(3))

    result = emit.handle_command(
        "acc-1", Close(), metadata={"correlation_id": "req-7", "causation_id": "click-1"}
    )

    assert [e.version for e in result.events] == [3, 4]
    assert {e.metadata.correlation_id for e in result.events} == {"req-7"}
    assert {e.metadata.causation_id for e in result.events} == {"click-1"}


def test_an_aggregate_value_works_as_a_handle(emit: AccountEmit) -> None:
    created = emit.create("acc-1")
    emit.handle_command(created, Deposit(2))

    assert emit.get_state(created).balance == 2
    assert created.version == 1  # a value: it does not change


def test_a_rejection_records_nothing_and_names_the_aggregate(emit: AccountEmit) -> None:
    emit.create("acc-1")

    with pytest.raises(CommandRejected) as raised:
        emit.handle_command("acc-1", Withdraw(1))

    assert raised.value.reason == "insufficient funds: balance is 0"
    assert raised.value.aggregate_id == "acc-1"
    assert "'acc-1'" in str(raised.value)
    assert raised.value.command == Withdraw(1)
    assert emit.aggregate("acc-1").version == 1
    assert len(emit.history("acc-1")) == 1


def test_a_decision_of_no_events_changes_nothing(make_emit: Factory) -> None:
    quiet = Decider("quiet", 0, lambda c, s: [], lambda s, e: s, events=[])
    emit = make_emit()
    noop: Emit[Any, Any, int] = Emit(quiet, store=emit.store)
    noop.create("q")

    result = noop.handle_command("q", "anything")

    assert (result.version, result.events, result.state) == (1, (), 0)


def test_a_failing_evolve_records_nothing(make_emit: Factory) -> None:
    def evolve(state: int, event: object) -> int:
        if isinstance(event, Deposited):
            raise RuntimeError("bug in evolve")
        return state

    broken = Decider(
        "broken", 0, lambda c, s: [Deposited(1, "x")], evolve, events=[Opened, Deposited]
    )
    emit: Emit[Any, Any, int] = Emit(broken, store=make_emit().store)
    emit.create("b")

    with pytest.raises(RuntimeError, match="bug in evolve"):
        emit.handle_command("b", "go")
    assert emit.store.stream_version("b") == 1


def test_unknown_aggregates_are_reported_everywhere(emit: AccountEmit) -> None:
    for call in [
        lambda: emit.handle_command("nope", Deposit(1)),
        lambda: emit.aggregate("nope"),
        lambda: emit.get_state("nope"),
        lambda: emit.history("nope"),
        lambda: emit.state_at("nope", 0),
    ]:
        with pytest.raises(AggregateNotFound, match="'nope'"):
            call()
    assert not emit.exists("nope")


def test_history_and_replay_to_any_version(emit: AccountEmit) -> None:
    emit.create("acc-1")
    for amount in [1, 2, 3]:
        emit.handle_command("acc-1", Deposit(amount))

    assert [e.version for e in emit.history("acc-1")] == [1, 2, 3, 4]
    assert [e.version for e in emit.history("acc-1", up_to=2)] == [1, 2]
    assert emit.history("acc-1", up_to=0) == []
    # A window of a long stream: versions after `after`, up to `up_to`.
    assert emit.history("acc-1", after=1, up_to=3) == emit.history("acc-1")[1:3]
    assert [e.version for e in emit.history("acc-1", after=2)] == [3, 4]
    assert emit.history("acc-1", after=4) == []
    with pytest.raises(AggregateNotFound):
        emit.history("nope", after=2)
    assert emit.state_at("acc-1", 0) == Account()
    assert emit.state_at("acc-1", 1) == Account(open=True)
    assert emit.state_at("acc-1", 3) == Account(3, (1, 2), True)
    assert emit.state_at("acc-1", 4) == emit.get_state("acc-1")


@pytest.mark.parametrize("version", [-1, 5, 10**12, True, "2"])
def test_replay_outside_the_history_is_refused(emit: AccountEmit, version: Any) -> None:
    emit.create("acc-1")
    for _ in range(3):
        emit.handle_command("acc-1", Deposit(1))

    with pytest.raises(VersionOutOfRange, match="versions 0 to 4"):
        emit.state_at("acc-1", version)
    with pytest.raises(VersionOutOfRange):
        emit.history("acc-1", up_to=version)


def test_replay_leaves_the_live_aggregate_alone(emit: AccountEmit) -> None:
    emit.create("acc-1")
    emit.handle_command("acc-1", Deposit(4))
    live = emit.aggregate("acc-1")

    emit.state_at("acc-1", 1)
    emit.history("acc-1", up_to=1)

    assert emit.aggregate("acc-1") == live
    assert emit.handle_command("acc-1", Deposit(1)).state.balance == 5


def test_the_version_at_a_moment_is_that_of_the_last_event_before_it(emit: AccountEmit) -> None:
    emit.create("acc-1")
    emit.handle_command("acc-1", Deposit(1))
    emit.handle_command("acc-1", Deposit(2))
    times = [e.recorded_at for e in emit.history("acc-1")]

    assert emit.version_at("acc-1", times[0] - timedelta(seconds=1)) == 0
    assert times[0] < times[1] < times[2]
    assert emit.version_at("acc-1", times[1]) == 2
    assert emit.version_at("acc-1", times[2]) == 3
    assert emit.version_at("acc-1", times[2].replace(tzinfo=None) + timedelta(days=1)) == 3
    with pytest.raises(AggregateNotFound):
        emit.version_at("nope", times[0])


def test_aggregates_are_listed_in_pages(emit: AccountEmit) -> None:
    for name in ["c", "a", "d", "b", "e"]:
        emit.create(name)

    first = emit.aggregate_ids(limit=2)
    second = emit.aggregate_ids(after=first[-1], limit=2)
    third = emit.aggregate_ids(after=second[-1], limit=2)

    assert (first, second, third) == (["a", "b"], ["c", "d"], ["e"])
    assert emit.count_aggregates() == 5
    assert [info.version for info in emit.list_aggregates()] == [1] * 5


def test_read_all_decodes_the_global_log(emit: AccountEmit) -> None:
    emit.create("a")
    emit.create("b")
    emit.handle_command("a", Deposit(1))

    log = emit.read_all(after=1)

    assert [(e.aggregate_id, e.position, type(e.event).__name__) for e in log] == [
        ("b", 2, "Opened"),
        ("a", 3, "Deposited"),
    ]


def test_a_restart_finds_everything_as_it_was(make_emit: Factory) -> None:
    first = make_emit()
    first.create("acc-1")
    first.create("acc-2")
    for amount in [5, 7]:
        first.handle_command("acc-1", Deposit(amount))
    history = first.history("acc-1")
    first.close()

    second = make_emit()

    assert second.aggregate("acc-1").version == 3
    assert second.get_state("acc-1") == Account(12, (5, 7), True)
    assert second.history("acc-1") == history
    assert second.aggregate_ids() == ["acc-1", "acc-2"]
    with pytest.raises(AggregateAlreadyExists):
        second.create("acc-1")


def test_reserved_or_unserialisable_metadata_is_refused(emit: AccountEmit) -> None:
    emit.create("acc-1")

    with pytest.raises(ValueError, match="set by emit"):
        emit.handle_command("acc-1", Deposit(1), metadata={"timestamp": "now"})
    with pytest.raises(ValueError, match="JSON"):
        emit.handle_command("acc-1", Deposit(1), metadata={"when": object()})
    assert emit.aggregate("acc-1").version == 1


@pytest.mark.parametrize(
    "value",
    [datetime(2026, 12, 3, tzinfo=UTC), Decimal("1.5"), uuid.uuid4(), {1, 2}, b"x", {(1,): "a"}],
    ids=["datetime", "decimal", "uuid", "set", "bytes", "tuple-key"],
)
def test_metadata_that_would_come_back_as_another_type_is_refused(
    emit: AccountEmit, value: object
) -> None:
    """Metadata has no type to decode to: a datetime stored as text would come back as text."""
    emit.create("acc-1")
    with pytest.raises(ValueError, match="Metadata must be JSON-serialisable"):
        emit.handle_command("acc-1", Deposit(1), metadata={"extra": {"value": [value]}})
    assert emit.aggregate("acc-1").version == 1


def test_plain_json_metadata_reads_back_as_it_was_given(emit: AccountEmit) -> None:
    emit.create("acc-1")
    given = {"who": "ana", "n": 3, "ratio": 0.5, "ok": True, "none": None, "tags": ["a", ("b", 1)]}
    emit.handle_command("acc-1", Deposit(1), metadata=given)
    extra = emit.history("acc-1")[-1].metadata.extra
    assert extra == {**given, "tags": ["a", ["b", 1]]}  # a tuple is a JSON list, as before


def test_bad_metadata_is_refused_before_the_aggregate_is_looked_up(emit: AccountEmit) -> None:
    with pytest.raises(ValueError, match="set by emit"):
        emit.handle_command("no-such-account", Deposit(1), metadata={"command": "x"})


def _append_raw(store: EventStore, stream: str, version: int, type_name: str, data: str) -> None:
    event = NewEvent(uuid.uuid4(), type_name, 1, data, "{}")
    append_one(store, AppendRequest(stream, version, [event]))


def test_an_unknown_stored_event_type_is_an_error_not_a_wrong_state(make_emit: Factory) -> None:
    writer = make_emit()
    writer.create("acc-1")
    _append_raw(writer.store, "acc-1", 1, "Embezzled", '{"amount": 9}')

    reader = make_emit()  # an empty pool: must rebuild from the store
    with pytest.raises(EventDecodeError) as raised:
        reader.get_state("acc-1")

    message = str(raised.value)
    assert "'Embezzled'" in message
    assert "version 2" in message
    assert "'acc-1'" in message
    with pytest.raises(EventDecodeError):
        reader.history("acc-1")


def test_stored_data_that_does_not_fit_is_an_error(make_emit: Factory) -> None:
    writer = make_emit()
    writer.create("acc-1")
    _append_raw(writer.store, "acc-1", 1, "Deposited", '{"amount": "lots", "by": "x"}')

    with pytest.raises(EventDecodeError, match="field 'amount'"):
        make_emit().state_at("acc-1", 2)


def test_catch_up_reads_what_another_writer_stored(make_emit: Factory) -> None:
    mine, theirs = make_emit(), make_emit()
    mine.create("acc-1")
    mine.get_state("acc-1")
    theirs.handle_command("acc-1", Deposit(10))

    assert mine.aggregate("acc-1").version == 1  # the pool does not know yet
    assert mine.aggregate("acc-1", catch_up=True).state.balance == 10


def test_a_stale_aggregate_is_caught_up_and_its_command_decided_again(make_emit: Factory) -> None:
    mine, theirs = make_emit(), make_emit()
    mine.create("acc-1")
    theirs.handle_command("acc-1", Deposit(10))

    # Decided on a stale balance of 0 this would be rejected; on fresh state it succeeds.
    result = mine.handle_command("acc-1", Withdraw(10))

    assert (result.version, result.state.balance) == (3, 0)
    assert [e.version for e in mine.history("acc-1")] == [1, 2, 3]


def test_a_stale_decision_is_taken_again_inside_the_append(make_emit: Factory) -> None:
    mine, theirs = make_emit(), make_emit()
    mine.create("acc-1")
    theirs.handle_command("acc-1", Deposit(10))

    result = mine.handle_command("acc-1", Deposit(5))  # decided first on a balance of 0

    assert (result.version, result.state.balance, result.state.deposits) == (3, 15, (10, 5))
    assert [e.version for e in result.events] == [3]
    assert mine.aggregate("acc-1") == theirs.aggregate("acc-1", catch_up=True)


def test_a_decision_taken_again_can_turn_into_a_rejection(make_emit: Factory) -> None:
    mine, theirs = make_emit(), make_emit()
    mine.create("acc-1")
    theirs.handle_command("acc-1", Close())

    with pytest.raises(CommandRejected, match="closed"):
        mine.handle_command("acc-1", Deposit(5))

    assert mine.aggregate("acc-1").version == 2  # and the pool now knows
    assert mine.store.stream_version("acc-1") == 2


class _NoResolveStore:
    """A store that cannot resolve conflicts, and where another writer is always first."""

    def __init__(self, store: EventStore, rival: AccountEmit) -> None:
        self.store = store
        self.rival = rival

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        if requests[0].expected_version > 0:
            self.rival.handle_command(requests[0].stream_id, Deposit(1))
        plain = [AppendRequest(r.stream_id, r.expected_version, r.events) for r in requests]
        return self.store.append_many(plain)


def test_retries_are_bounded_where_a_store_cannot_resolve_conflicts() -> None:
    shared = InMemoryEventStore()
    rival: AccountEmit = Emit(account, store=shared)
    racing: AccountEmit = Emit(account, store=_NoResolveStore(shared, rival), max_retries=2)  # type: ignore[arg-type]
    racing.create("acc-1")

    with pytest.raises(ConcurrencyError, match="'acc-1'"):
        racing.handle_command("acc-1", Deposit(1, "me"))

    assert [e.event.by for e in racing.history("acc-1")[1:]] == ["teller"] * 3


class _FailingStore:
    """Wraps a store; its next append fails as a storage error, after really committing."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.fail_next = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        results = self.store.append_many(requests)
        if self.fail_next:
            self.fail_next = False
            return [
                StorageError("append events", r.stream_id, OSError("link down")) for r in requests
            ]
        return results


def test_after_a_storage_error_the_aggregate_is_reloaded_from_the_store() -> None:
    failing = _FailingStore(InMemoryEventStore())
    emit: AccountEmit = Emit(account, store=failing)  # type: ignore[arg-type]
    emit.create("acc-1")
    failing.fail_next = True

    with pytest.raises(StorageError, match="link down"):
        emit.handle_command("acc-1", Deposit(3))

    # The deposit did commit; the pool must not keep the state from before it.
    assert "acc-1" not in emit.pool
    assert emit.get_state("acc-1").balance == 3
    assert emit.handle_command("acc-1", Deposit(1)).version == 3


def test_stored_json_is_plain_and_readable(emit: AccountEmit) -> None:
    emit.create("acc-1")
    emit.handle_command("acc-1", Deposit(5, "zoë"), metadata={"ip": "127.0.0.1"})

    stored = emit.store.read_stream("acc-1")[-1]

    assert json.loads(stored.data) == {"amount": 5, "by": "zoë"}
    assert json.loads(stored.metadata)["ip"] == "127.0.0.1"

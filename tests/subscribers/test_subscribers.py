"""Policies run by `Policies`: order, retries, dead letters, crashes, leases, the ops view."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import sqlalchemy as sa

from emit import (
    Backoff,
    DeadLetterBusy,
    DeadLetterNotFound,
    Emit,
    InMemoryEventStore,
    Policy,
    PolicyFailed,
    RecordedEvent,
    SqlEventStore,
    StorageError,
    UnknownSubscriber,
    create_schema,
)
from emit.subscribers import Policies
from emit.subscribers.checkpoints import Checkpoints, LeaseLost
from emit.subscribers.dead_letters import DeadLetters
from tests.account import Account, Deposit, Deposited, Withdraw, Withdrawn, account
from tests.balances import balance_projection

AccountEmit = Emit[Any, Any, Account]
Handle = Callable[[sa.Connection, RecordedEvent[Any]], None]

FAST = Backoff(first=0.001, factor=2, longest=0.01)

effects = sa.Table(
    "test_effects",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("position", sa.Integer, nullable=False),  # no unique key: duplicates must show
    sa.Column("aggregate_id", sa.String(200), nullable=False),
)


def write_effect(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
    connection.execute(
        sa.insert(effects).values(position=recorded.position, aggregate_id=recorded.aggregate_id)
    )


def policy(handle: Handle = write_effect, **options: Any) -> Policy[Any]:
    options.setdefault("backoff", FAST)
    return Policy("effects", handle, tables=[effects], **options)


def engine_of(emit: AccountEmit) -> sa.Engine:
    assert isinstance(emit.store, SqlEventStore)
    return emit.store.engine


def effect_counts(emit: AccountEmit) -> Counter[int]:
    """How many times the policy's effect happened, per event position."""
    with engine_of(emit).connect() as connection:
        return Counter(connection.execute(sa.select(effects.c.position)).scalars())


def once_each(emit: AccountEmit, positions: range | None = None) -> Counter[int]:
    positions = positions or range(1, emit.store.head_position() + 1)
    return Counter(dict.fromkeys(positions, 1))


@pytest.fixture
def make_emit(database_url: str) -> Iterator[Callable[[], AccountEmit]]:
    with ExitStack() as opened:

        def factory() -> AccountEmit:
            emit: AccountEmit = Emit(account, store=SqlEventStore(database_url), observers=[])
            return opened.enter_context(emit)

        yield factory


@pytest.fixture
def emit(make_emit: Callable[[], AccountEmit]) -> AccountEmit:
    return make_emit()


def deposits(emit: AccountEmit, *amounts: int, account_id: str = "acc-1") -> None:
    if not emit.exists(account_id):
        emit.create(account_id)
    for amount in amounts:
        emit.handle_command(account_id, Deposit(amount))


def test_a_policy_sees_every_event_once_in_position_order(emit: AccountEmit) -> None:
    seen: list[int] = []

    def handle(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
        seen.append(recorded.position)
        write_effect(connection, recorded)

    subscribers = Policies(emit, [policy(handle)])
    deposits(emit, 1, 2, 3)
    deposits(emit, 4, account_id="acc-2")

    assert subscribers.catch_up() == 6
    deposits(emit, 5)
    assert subscribers.catch_up() == 1

    assert seen == list(range(1, 8))
    assert effect_counts(emit) == once_each(emit)


def test_a_policy_failing_twice_then_succeeding_is_retried_and_its_effect_happens_once(
    emit: AccountEmit,
) -> None:
    tries: Counter[int] = Counter()
    states: list[tuple[str, int, str | None]] = []

    def flaky(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
        tries[recorded.position] += 1
        if recorded.position == 2 and tries[2] <= 2:
            write_effect(connection, recorded)  # written, then rolled back with the failure
            raise RuntimeError(f"flaky {tries[2]}")
        if recorded.position == 2:
            (status,) = subscribers.status()
            states.append((status.state, status.attempts, status.last_error))
        write_effect(connection, recorded)

    subscribers = Policies(emit, [policy(flaky)])
    deposits(emit, 1, 2)

    subscribers.catch_up()

    assert tries == {1: 1, 2: 3, 3: 1}
    assert states == [("retrying", 2, "RuntimeError: flaky 2")]
    assert effect_counts(emit) == once_each(emit)
    assert subscribers.dead_letters() == []
    (status,) = subscribers.status()
    assert (status.attempts, status.last_error, status.lag) == (0, None, 0)


def fails_on_13(broken: list[bool]) -> Handle:
    def handle(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
        if broken and isinstance(recorded.event, Deposited) and recorded.event.amount == 13:
            raise ValueError("no thirteens today")
        write_effect(connection, recorded)

    return handle


def test_a_policy_that_always_fails_parks_a_dead_letter_and_goes_on(emit: AccountEmit) -> None:
    subscribers = Policies(emit, [policy(fails_on_13([True]), max_attempts=3)])
    deposits(emit, 1, 13, 2, 3)

    subscribers.catch_up()

    letter = subscribers.dead_letters()[0]
    assert (letter.policy, letter.position, letter.aggregate_id, letter.version) == (
        "effects",
        3,
        "acc-1",
        3,
    )
    assert (letter.event_type, letter.attempts) == ("Deposited", 3)
    assert letter.error == "ValueError: no thirteens today"
    assert "in handle" in letter.traceback
    assert effect_counts(emit) == once_each(emit) - Counter({3: 1})  # the ones after it too
    (status,) = subscribers.status()
    assert (status.position, status.lag, status.dead_letters, status.state) == (5, 0, 1, "stopped")


def test_a_dead_letter_retried_after_the_fix_is_processed_once(emit: AccountEmit) -> None:
    broken = [True]
    subscribers = Policies(emit, [policy(fails_on_13(broken), max_attempts=2)])
    deposits(emit, 13, 1)
    subscribers.catch_up()
    letter = subscribers.dead_letters()[0]

    with pytest.raises(PolicyFailed, match=r"'effects' failed again .* position 2: ValueError"):
        subscribers.retry_dead_letter(letter.id)
    assert subscribers.dead_letter(letter.id).attempts == 3

    broken.clear()  # the fault is fixed
    subscribers.retry_dead_letter(letter.id)

    assert effect_counts(emit) == once_each(emit)
    assert subscribers.dead_letters() == []
    with pytest.raises(DeadLetterNotFound):
        subscribers.retry_dead_letter(letter.id)
    subscribers.catch_up()
    assert effect_counts(emit) == once_each(emit)


def test_a_skipped_dead_letter_is_dropped_without_being_handled(emit: AccountEmit) -> None:
    subscribers = Policies(emit, [policy(fails_on_13([True]), max_attempts=1)])
    deposits(emit, 13)
    subscribers.catch_up()
    letter = subscribers.dead_letters()[0]

    skipped = subscribers.skip_dead_letter(letter.id)

    assert skipped.position == 2
    assert subscribers.dead_letters() == []
    assert effect_counts(emit) == once_each(emit) - Counter({2: 1})
    with pytest.raises(DeadLetterNotFound, match=f"no dead letter {letter.id}"):
        subscribers.skip_dead_letter(letter.id)


def test_a_dead_letter_being_retried_elsewhere_is_left_alone(emit: AccountEmit) -> None:
    subscribers = Policies(emit, [policy(fails_on_13([True]), max_attempts=1)])
    deposits(emit, 13)
    subscribers.catch_up()
    letter = subscribers.dead_letters()[0]
    DeadLetters(engine_of(emit)).claim(letter.id, "someone else", ttl=60)

    with pytest.raises(DeadLetterBusy):
        subscribers.retry_dead_letter(letter.id)
    with pytest.raises(DeadLetterBusy):
        subscribers.skip_dead_letter(letter.id)
    assert subscribers.dead_letter(letter.id).being_retried


def test_dead_letters_of_a_policy_this_runner_lacks_cannot_be_retried(emit: AccountEmit) -> None:
    Policies(emit, [policy(fails_on_13([True]), max_attempts=1)]).catch_up()
    deposits(emit, 13)
    Policies(emit, [policy(fails_on_13([True]), max_attempts=1)]).catch_up()
    other = Policies(emit, [Policy("other", write_effect)])
    (letter,) = other.dead_letters()

    with pytest.raises(UnknownSubscriber, match="no policy named 'effects'; known: 'other'"):
        other.retry_dead_letter(letter.id)


def test_a_policy_is_given_only_the_event_types_it_wants(emit: AccountEmit) -> None:
    seen: list[str] = []

    def handle(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
        seen.append(type(recorded.event).__name__)

    subscribers = Policies(emit, [Policy("deposits", handle, types=[Deposited])])
    deposits(emit, 1, 2)
    deposits(emit, account_id="acc-2")

    subscribers.catch_up()

    assert seen == ["Deposited", "Deposited"]
    (status,) = subscribers.status()
    assert status.position == emit.store.head_position() == 4


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds it took for `condition` to hold; fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"still waiting after {timeout}s")
        time.sleep(0.005)
    return time.monotonic() - started


def test_the_runner_wakes_when_its_emit_appends_and_polls_for_other_writers(
    make_emit: Callable[[], AccountEmit],
) -> None:
    emit, other = make_emit(), make_emit()
    runner = Policies(emit, [policy()], poll_interval=0.5)
    runner.install()  # here, not in the runner's thread: the test reads the table at once
    with runner as subscribers:
        deposits(emit, 1)
        assert wait_for(lambda: len(effect_counts(emit)) == 2) < 0.4  # woken, not polled
        deposits(other, 2)  # another process, as far as this runner can tell
        wait_for(lambda: len(effect_counts(emit)) == 3)
        (status,) = subscribers.status()
        assert (status.state, status.owner, status.lag) == ("up to date", subscribers.owner, 0)
    assert effect_counts(emit) == once_each(emit)
    (status,) = subscribers.status()
    assert (status.state, status.owner) == ("stopped", None)
    deposits(emit, 3)
    assert subscribers.catch_up() == 1  # a stopped runner can still catch up by hand


def test_the_runner_sleeps_through_events_no_policy_wants(
    make_emit: Callable[[], AccountEmit], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waking for every append would cost a read and a checkpoint write per event; events no
    policy wants wait for the next poll (or the next wanted event), which moves past them."""
    rounds: list[float] = []
    rested = threading.Event()
    work = Policies._work

    def counted(self: Policies) -> float:
        wait = work(self)
        rounds.append(wait)
        rested.set()
        return wait

    monkeypatch.setattr(Policies, "_work", counted)
    emit = make_emit()
    emit.create("acc-1")
    withdrawals = policy(types=[Withdrawn])
    with Policies(emit, [withdrawals], poll_interval=60.0) as subscribers:
        assert rested.wait(10)  # the first round is done: the runner sleeps until woken
        deposits(emit, 1, 2, 3)  # not wanted: no round
        emit.handle_command("acc-1", Withdraw(1))  # wanted: one round, past all of them
        wait_for(lambda: sum(effect_counts(emit).values()) == 1)
        (status,) = subscribers.status()
        assert (status.position, status.lag) == (5, 0)
    assert len(rounds) == 2
    assert effect_counts(emit) == Counter({5: 1})


class Crash(BaseException):
    """The process dies here (not an error a runner would catch)."""


def test_a_crash_between_handling_and_checkpoint_loses_and_duplicates_nothing(
    emit: AccountEmit, monkeypatch: pytest.MonkeyPatch
) -> None:
    deposits(emit, 1, 2, 3)
    advance = Checkpoints.advance
    crashed: list[bool] = []

    def advance_then_die(self: Checkpoints, connection: sa.Connection, *args: Any) -> None:
        advance(self, connection, *args)  # the effect and the checkpoint written, not committed
        if args[-1] == 3 and not crashed:
            crashed.append(True)
            raise Crash

    monkeypatch.setattr(Checkpoints, "advance", advance_then_die)
    with pytest.raises(Crash):
        Policies(emit, [policy()], lease_ttl=0.2).catch_up()
    assert effect_counts(emit) == once_each(emit, range(1, 3))

    Policies(emit, [policy()]).catch_up()

    assert effect_counts(emit) == once_each(emit)


def run_killable_runner(url: str, hang_at: int, hanging: Any) -> None:
    """A runner process that hangs after handling event `hang_at` and moving the checkpoint
    past it, before the commit: the moment a crash would hurt most."""
    advance = Checkpoints.advance

    def advance_then_hang(self: Checkpoints, connection: sa.Connection, *args: Any) -> None:
        advance(self, connection, *args)
        if args[-1] == hang_at:
            hanging.set()
            time.sleep(3600)

    Checkpoints.advance = advance_then_hang  # type: ignore[method-assign]
    emit: AccountEmit = Emit(account, store=SqlEventStore(url), observers=[])
    Policies(emit, [policy()], poll_interval=0.01, lease_ttl=0.5).start()
    time.sleep(3600)


@pytest.mark.slow
def test_a_killed_runner_process_loses_and_duplicates_nothing(
    emit: AccountEmit, database_url: str
) -> None:
    deposits(emit, *range(1, 30))
    context = multiprocessing.get_context("spawn")
    hanging = context.Event()
    runner = context.Process(target=run_killable_runner, args=(database_url, 20, hanging))
    runner.start()
    try:
        assert hanging.wait(60), "the runner process never reached the event to hang on"
    finally:
        assert runner.pid is not None
        os.kill(runner.pid, signal.SIGKILL)
        runner.join(10)
    assert effect_counts(emit) == once_each(emit, range(1, 20))

    Policies(emit, [policy()]).catch_up()  # takes over once the dead runner's lease expires

    assert effect_counts(emit) == once_each(emit)


def test_two_runners_never_handle_one_policy_at_once(
    make_emit: Callable[[], AccountEmit],
) -> None:
    writer = make_emit()
    active = 0
    overlaps = 0
    handled_by: Counter[str] = Counter()
    lock = threading.Lock()

    def handle_as(owner: str) -> Handle:
        def handle(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
            nonlocal active, overlaps
            with lock:
                active += 1
                overlaps += active > 1
            time.sleep(0.001)
            write_effect(connection, recorded)
            with lock:
                active -= 1
                handled_by[owner] += 1

        return handle

    # Handovers below go through stop(), which gives the lease up at once; the lease's expiry
    # only matters for a runner that dies, so it is long enough here for a loaded machine.
    runners = [
        Policies(make_emit(), [policy(handle_as(n))], poll_interval=0.01, lease_ttl=5, owner=n)
        for n in ("a", "b")
    ]
    for runner in runners:
        runner.start()
    deposits(writer)
    for _ in range(6):  # hand the policy from one runner to the other, and back
        deposits(writer, *range(1, 11))
        wait_for(lambda: any(r.holding for r in runners))
        holder, other = runners if runners[0].holding else runners[::-1]
        holder.stop()
        deposits(writer, *range(1, 11))
        wait_for(lambda: bool(other.holding))  # noqa: B023 (called right here)
        holder.start()
    deposits(writer, *range(1, 11))
    wait_for(lambda: sum(effect_counts(writer).values()) == writer.store.head_position())
    for runner in runners:
        runner.stop()

    assert overlaps == 0
    assert effect_counts(writer) == once_each(writer)
    assert handled_by["a"] > 0
    assert handled_by["b"] > 0


def test_a_lease_expires_and_a_runner_that_lost_it_cannot_commit(emit: AccountEmit) -> None:
    Policies(emit, [policy()]).install()  # makes the policy's checkpoint
    checkpoints = Checkpoints(engine_of(emit))
    assert checkpoints.acquire("effects", "frozen", ttl=0.2) is not None
    assert checkpoints.acquire("effects", "other", ttl=5) is None  # not yet expired
    time.sleep(0.3)
    assert checkpoints.acquire("effects", "other", ttl=5) is not None

    with engine_of(emit).connect() as connection, pytest.raises(LeaseLost, match="frozen"):
        checkpoints.advance(connection, "effects", "frozen", 0, 1)
    assert checkpoints.renew(["effects"], "frozen", 5) == set()
    assert checkpoints.renew(["effects"], "other", 5) == {"effects"}


def test_status_lists_projections_and_policies_with_their_lag(sqlite_url: str) -> None:
    emit: AccountEmit = Emit(
        account, store=SqlEventStore(sqlite_url), projections=[balance_projection], observers=[]
    )
    subscribers = Policies(emit, [policy()])
    subscribers.install()
    deposits(emit, 1, 2)

    before = {s.name: (s.kind, s.position, s.lag, s.state) for s in subscribers.status()}
    subscribers.catch_up()
    after = {s.name: (s.kind, s.position, s.lag, s.state) for s in subscribers.status()}

    assert before == {
        "balances": ("projection", 3, 0, "up to date"),
        "effects": ("policy", 0, 3, "stopped"),
    }
    assert after["effects"] == ("policy", 3, 0, "stopped")
    assert emit.metrics().subscriber_lag == {"balances": 0, "effects": 0}
    emit.close()


def test_making_subscribers_does_no_io_until_they_are_installed(sqlite_url: str) -> None:
    emit: AccountEmit = Emit(account, store=SqlEventStore(sqlite_url, create=False))
    subscribers = Policies(emit, [policy()])  # the database has no tables yet
    emit.store.engine.dispose()  # type: ignore[attr-defined]

    create_schema(engine_of(emit))
    subscribers.install()
    subscribers.install()

    assert [s.name for s in subscribers.status()] == ["effects"]
    assert effect_counts(emit) == Counter()
    emit.close()


def test_subscribers_need_sql_and_names_of_their_own(sqlite_url: str) -> None:
    with pytest.raises(TypeError, match="need a SqlEventStore"):
        Policies(Emit(account, store=InMemoryEventStore()), [policy()])
    emit: AccountEmit = Emit(
        account, store=SqlEventStore(sqlite_url), projections=[balance_projection]
    )
    with pytest.raises(ValueError, match="unique"):
        Policies(emit, [Policy("balances", write_effect)])
    with pytest.raises(ValueError, match="unique"):
        Policies(emit, [policy(), policy()])
    other: AccountEmit = Emit(account, store=SqlEventStore(sqlite_url))
    clashing = Policies(other, [Policy("balances", write_effect)])
    with pytest.raises(ValueError, match=r"\['balances'\] belong to projections"):
        clashing.install()
    emit.close()


def test_a_broken_database_surfaces_as_storage_errors_that_say_what_failed(
    emit: AccountEmit,
) -> None:
    subscribers = Policies(emit, [policy(lambda connection, event: 1 / 0)])
    deposits(emit, 5)
    subscribers.catch_up()
    letter = subscribers.dead_letters()[0]
    with engine_of(emit).begin() as connection:  # a database that lost its tables
        connection.execute(sa.text("DROP TABLE emit_dead_letters"))
        connection.execute(sa.text("DROP TABLE emit_checkpoints"))

    for call, what in [
        (subscribers.status, "checkpoints"),
        (subscribers.dead_letters, "dead letters"),
        (lambda: subscribers.dead_letter(letter.id), "dead letter"),
        (lambda: subscribers.retry_dead_letter(letter.id), "dead letter"),
        (lambda: subscribers.skip_dead_letter(letter.id), "dead letter"),
        (emit.metrics, "checkpoints"),
    ]:
        with pytest.raises(StorageError, match=what):
            call()


def test_a_runner_whose_store_is_closed_under_it_ends_quietly(
    make_emit: Callable[[], AccountEmit], caplog: pytest.LogCaptureFixture
) -> None:
    """A closed store never comes back: the runner ends instead of logging a failure every
    poll for as long as the process lives."""
    emit = make_emit()
    runner = Policies(emit, [policy()], poll_interval=0.05)
    runner.start()
    deposits(emit, 1)
    emit.close()
    wait_for(lambda: not runner._threads[0].is_alive(), timeout=5)
    assert "trying again" not in caplog.text
    runner.stop()

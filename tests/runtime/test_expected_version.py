"""`expected_version`: a command decided on a state someone was shown is decided only on that
state, as it is in the store; otherwise `WrongExpectedVersion`, nothing stored, not decided again.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from emit import (
    CommandRejected,
    ConcurrencyError,
    Decider,
    Emit,
    SqlEventStore,
    WrongExpectedVersion,
)
from tests.account import Account, Deposit, Withdraw, account
from tests.conftest import Factory
from tests.threads import start_and_join


def counting(calls: list[object]) -> Decider[Any, Any, Account]:
    """The account decider, noting every command it decides."""

    def decide(command: object, state: Account) -> Sequence[object]:
        calls.append(command)
        return account.decide(command, state)

    return dataclasses.replace(account, decide=decide)


def test_the_expected_version_is_decided_and_stored(make_emit: Factory) -> None:
    emit = make_emit()
    emit.create("acc")
    result = emit.handle_command("acc", Deposit(10), expected_version=1)
    assert result.version == 2
    assert emit.aggregate("acc").state.balance == 10


def test_a_stale_expected_version_stores_nothing_and_says_both_versions(
    make_emit: Factory,
) -> None:
    emit = make_emit()
    emit.create("acc")
    emit.handle_command("acc", Deposit(10))
    with pytest.raises(WrongExpectedVersion) as caught:
        emit.handle_command("acc", Withdraw(5), expected_version=1)
    assert isinstance(caught.value, ConcurrencyError)
    assert (caught.value.expected_version, caught.value.actual_version) == (1, 2)
    assert "version 2" in str(caught.value)
    assert "expected version 1" in str(caught.value)
    assert len(emit.history("acc")) == 2


def test_another_emit_that_moved_the_aggregate_makes_this_pools_version_stale(
    make_emit: Factory,
) -> None:
    """Our pool says version 2; another process (another `Emit` on the store) moved the
    aggregate to 3. The caller saw 2: refused, though our pool agrees with them."""
    ours, theirs = make_emit(), make_emit()
    ours.create("acc")
    ours.handle_command("acc", Deposit(10))
    theirs.handle_command("acc", Withdraw(10))
    with pytest.raises(WrongExpectedVersion) as caught:
        ours.handle_command("acc", Withdraw(5), expected_version=2)
    assert caught.value.actual_version == 3
    assert [e.version for e in ours.history("acc")] == [1, 2, 3]
    assert ours.aggregate("acc").version == 3  # the pool caught up while finding out


def test_a_stale_command_is_not_decided_again_on_the_fresh_state(
    database_url: str,
) -> None:
    """Without an expected version a command is decided again on the fresh state (the default:
    right for "deposit 5"); with it, never: one decision, on the version the caller saw."""
    decided: list[object] = []
    with (
        Emit(counting(decided), store=SqlEventStore(database_url)) as ours,
        Emit(account, store=SqlEventStore(database_url)) as theirs,
    ):
        ours.create("acc")
        ours.handle_command("acc", Deposit(10))  # ours has it in its pool at version 2
        theirs.handle_command("acc", Deposit(1))
        decided.clear()
        with pytest.raises(WrongExpectedVersion):
            ours.handle_command("acc", Deposit(5), expected_version=2)
        assert decided == [Deposit(5)]
        assert ours.aggregate("acc").state.balance == 11
        theirs.handle_command("acc", Deposit(1))
        decided.clear()
        ours.handle_command("acc", Deposit(5))  # no expected version: decided again, stored
        assert decided == [Deposit(5), Deposit(5)]
        assert ours.aggregate("acc").state.balance == 17


def test_a_newer_expected_version_than_the_aggregate_has_is_refused(make_emit: Factory) -> None:
    emit = make_emit()
    emit.create("acc")
    with pytest.raises(WrongExpectedVersion) as caught:
        emit.handle_command("acc", Deposit(1), expected_version=7)
    assert (caught.value.expected_version, caught.value.actual_version) == (7, 1)
    assert len(emit.history("acc")) == 1


def test_a_rejection_on_the_expected_version_is_a_rejection(make_emit: Factory) -> None:
    emit = make_emit()
    emit.create("acc")
    with pytest.raises(CommandRejected):
        emit.handle_command("acc", Withdraw(5), expected_version=1)


@pytest.mark.parametrize("bad", [-1, True, "2", 1.0])
def test_an_expected_version_that_is_no_version_is_a_value_error(
    make_emit: Factory, bad: Any
) -> None:
    emit = make_emit()
    emit.create("acc")
    with pytest.raises(ValueError, match="expected_version"):
        emit.handle_command("acc", Deposit(1), expected_version=bad)
    assert len(emit.history("acc")) == 1


def test_expected_versions_from_racing_threads_store_exactly_one_winner_per_version(
    make_emit: Factory,
) -> None:
    """Eight threads each read the version and withdraw on it: per version, one wins and the
    others are told their version is stale; the balance never goes below zero through a stale
    decision."""
    emits = [make_emit() for _ in range(2)]
    emits[0].create("acc")
    emits[0].handle_command("acc", Deposit(100))
    wins: list[int] = []
    stale = 0
    lock = threading.Lock()

    def worker(emit: Emit[Any, Any, Any]) -> None:
        nonlocal stale
        for _ in range(200):  # until the account is empty, which refuses the next withdrawal
            seen = emit.aggregate("acc", catch_up=True)
            try:
                result = emit.handle_command("acc", Withdraw(10), expected_version=seen.version)
            except WrongExpectedVersion:
                with lock:
                    stale += 1
            except CommandRejected:
                return
            else:
                with lock:
                    wins.append(result.version)

    threads = [threading.Thread(target=worker, args=(emits[i % 2],)) for i in range(8)]
    start_and_join(threads)
    assert len(wins) == len(set(wins)) == 10  # the balance of 100 withdrawn 10 at a time
    assert emits[0].aggregate("acc", catch_up=True).state.balance == 0

"""Why an event happened and what it set off (emit/causation.py): a policy's command names the
event it reacts to (`Cause`), and `explain` finds it, and the policies' failures, under it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from emit import Backoff, Emit, Policy, RecordedEvent, SqlEventStore
from emit.causation import Effect, explain
from emit.subscribers import Cause, Policies
from tests.account import Close, Deposit, Deposited, Withdraw, account

AccountEmit = Emit[Any, Any, Any]


@pytest.fixture
def emit(database_url: str) -> Iterator[AccountEmit]:
    with Emit(account, store=SqlEventStore(database_url)) as emit:
        emit.create("alice")
        emit.create("bank")
        yield emit


def fee_policy(emit: AccountEmit) -> Policy[Any]:
    """Each deposit makes the bank deposit a fee of 1 to itself, in reaction to it."""

    def charge(_connection: sa.Connection, event: RecordedEvent[Any]) -> None:
        if event.aggregate_id != "bank":
            emit.handle_command("bank", Deposit(1, "fee"), metadata=Cause.of(event).metadata())

    return Policy("fees", charge, types=[Deposited])


def positions(events: Any) -> list[int]:
    return [e.position for e in events]


def test_what_a_policy_sends_in_reaction_is_found_under_the_event(emit: AccountEmit) -> None:
    deposit = emit.handle_command("alice", Deposit(50), metadata={"correlation_id": "req-1"})
    Policies(emit, [fee_policy(emit)]).catch_up()
    (fee,) = emit.history("bank", after=1)

    explained = explain(emit, deposit.events[0].position)
    assert explained is not None
    assert explained.command == "Deposit"
    assert explained.cause is None
    assert explained.command_id == explained.event.metadata.causation_id
    assert positions(explained.same_command) == [deposit.events[0].position]
    (child,) = explained.tree.caused
    assert child.event.position == fee.position
    assert fee.metadata.correlation_id == "req-1"  # the request's correlation goes on

    # Asked from the other end, the fee names the deposit as its cause.
    from_fee = explain(emit, fee.position)
    assert from_fee is not None
    assert from_fee.cause is not None
    assert from_fee.cause.position == deposit.events[0].position
    assert from_fee.command_id is None
    assert not from_fee.tree.caused


def test_the_other_events_of_a_command_are_the_run_with_its_causation_id(
    emit: AccountEmit,
) -> None:
    emit.handle_command("alice", Deposit(5))
    closed = emit.handle_command("alice", Close())  # Withdrawn and Closed, one command
    emit.handle_command("bank", Deposit(7))

    explained = explain(emit, closed.events[1].position)
    assert explained is not None
    assert [type(e.event).__name__ for e in explained.same_command] == ["Withdrawn", "Closed"]
    assert explained.command == "Close"
    assert explain(emit, 999) is None


def test_effects_outside_the_log_hang_under_their_event(emit: AccountEmit) -> None:
    deposit = emit.handle_command("alice", Deposit(50))
    Policies(emit, [fee_policy(emit)]).catch_up()

    def mails(event: RecordedEvent[Any]) -> list[Effect]:
        return [Effect("mail", f"Mailed {event.aggregate_id}", event.aggregate_id)]

    explained = explain(emit, deposit.events[0].position, effects=[mails])
    assert explained is not None
    labels = [[e.label for e in node.effects] for node in explained.tree.walk()]
    assert labels == [["Mailed alice"], ["Mailed bank"]]


def test_a_policys_dead_letter_and_retries_hang_under_the_event_it_failed_on(
    emit: AccountEmit,
) -> None:
    def refuse(_connection: sa.Connection, _event: RecordedEvent[Any]) -> None:
        raise RuntimeError("the mail server is down")

    fast = Backoff(first=0.001, factor=1, longest=0.001)
    giving_up = Policies(emit, [Policy("mailer", refuse, types=[Deposited], backoff=fast)])
    deposit = emit.handle_command("alice", Deposit(50)).events[0]
    giving_up.catch_up()
    (letter,) = giving_up.dead_letters()

    explained = explain(emit, deposit.position, effects=[giving_up.effects_on])
    assert explained is not None
    (effect,) = explained.tree.effects
    assert (effect.kind, effect.key) == ("dead letter", str(letter.id))
    assert "gave up after 5 attempts" in effect.label
    assert effect.details[0] == "RuntimeError: the mail server is down"

    # A policy still trying (a long wait before its next try) shows its attempts so far.
    slow = Backoff(first=3600, factor=1, longest=3600)
    trying = Policies(emit, [Policy("pager", refuse, types=[Deposited], backoff=slow)])
    later = emit.handle_command("alice", Withdraw(1)).events[0]
    with pytest.raises(TimeoutError):
        trying.catch_up(timeout=0.2)  # the first try fails, the next is an hour away
    explained = explain(emit, deposit.position, effects=[trying.effects_on])
    assert explained is not None
    (retry,) = explained.tree.effects
    assert (retry.kind, retry.key) == ("retry", "pager")
    assert "failed 1 time(s)" in retry.label
    # Only the event it is stuck on: not a later one it does not want, nor an earlier one.
    assert trying.effects_on(emit.event_at(later.position)) == []  # type: ignore[arg-type]
    assert trying.effects_on(emit.event_at(1)) == []  # type: ignore[arg-type]

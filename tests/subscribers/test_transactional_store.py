"""Subscribers ask a store for a capability (`TransactionalStore`), never for its class: a store
that has the members is served whatever it is, one that lacks them is refused in words."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from emit import (
    Emit,
    InMemoryEventStore,
    Policy,
    PolicyFailed,
    SqlEventStore,
    TransactionalStore,
)
from emit.subscribers import Policies, Subscribers
from tests.account import Deposit, account
from tests.balances import balance_projection, read_balances


class Wrapped:
    """A store that is no `SqlEventStore`, yet has all it has (say, one that adds tracing)."""

    def __init__(self, store: SqlEventStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_sql_stores_have_the_capability_and_the_memory_store_has_not(sqlite_url: str) -> None:
    store = SqlEventStore(sqlite_url)
    assert isinstance(store, TransactionalStore)
    assert isinstance(Wrapped(store), TransactionalStore)
    assert not isinstance(InMemoryEventStore(), TransactionalStore)
    store.close()


def test_a_store_with_the_capability_serves_projections_policies_and_metrics(
    sqlite_url: str,
) -> None:
    seen: list[int] = []
    emit: Emit[Any, Any, Any] = Emit(
        account, store=Wrapped(SqlEventStore(sqlite_url)), projections=[balance_projection]
    )
    emit.create("acc-1")
    emit.handle_command("acc-1", Deposit(3))
    policies = Policies(emit, [Policy("seen", lambda _c, e: seen.append(e.position))])

    assert policies.catch_up() == 2
    assert seen == [1, 2]
    assert read_balances(emit.store.engine) == {"acc-1": (3, 1, True)}
    assert emit.metrics().subscriber_lag == {"balances": 0, "seen": 0}
    emit.close()


def test_a_store_without_it_is_refused_with_the_reason() -> None:
    emit: Emit[Any, Any, Any] = Emit(account, store=InMemoryEventStore())
    with pytest.raises(TypeError) as refused:
        Policies(emit, [Policy("seen", lambda _c, _e: None)])
    assert str(refused.value) == (
        "Policies keep checkpoints and dead letters next to the events, so they need a "
        "SqlEventStore, not InMemoryEventStore: a store with the TransactionalStore capability "
        "(emit/store.py)."
    )
    with pytest.raises(TypeError, match="need a SqlEventStore, not InMemoryEventStore"):
        Emit(account, store=InMemoryEventStore(), projections=[balance_projection])
    emit.create("acc-1")
    assert emit.metrics().subscriber_lag == {}  # the memory store behaves as before


def test_the_old_names_still_work_and_say_they_are_deprecated(sqlite_url: str) -> None:
    emit: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(sqlite_url))
    emit.create("acc-1")

    def fail(_connection: sa.Connection, _event: Any) -> None:
        raise ValueError("no")

    with pytest.warns(DeprecationWarning, match="use emit.subscribers.Policies"):
        runner = Subscribers(emit, [Policy("failing", fail, max_attempts=1)])
    assert isinstance(runner, Policies)
    runner.catch_up()
    (letter,) = runner.dead_letters()
    with pytest.warns(DeprecationWarning, match="use DeadLetter.policy"):
        assert letter.subscriber == letter.policy == "failing"
    with pytest.warns(DeprecationWarning, match=r"use dead_letters\(policy=...\)"):
        assert runner.dead_letters(subscriber="failing") == [letter]
    with pytest.raises(PolicyFailed) as failed:
        runner.retry_dead_letter(letter.id)
    with pytest.warns(DeprecationWarning, match="use PolicyFailed.policy"):
        assert failed.value.subscriber == failed.value.policy == "failing"
    emit.close()

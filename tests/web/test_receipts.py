"""Receipts' numbers are their own sequence, safe with two runners; a receipt keeps the checkout
it answers; a `receipts` table made before either is upgraded keeping its numbers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from emit import Emit, RecordedEvent, SqlEventStore, create_schema, make_engine
from shop.cart import AddItem, CartCheckedOut, CheckOut, cart_decider
from webapp.db import CartEmit, get_engine, get_policies
from webapp.receipts import (
    find_receipt,
    issue_receipt,
    next_sequence,
    printer,
    receipts,
    store_receipt,
)


def check_out(emit: CartEmit, cart_id: str) -> RecordedEvent[CartCheckedOut]:
    emit.create(cart_id)
    emit.handle_command(cart_id, AddItem("BEAN-250"))
    (checkout,) = emit.handle_command(cart_id, CheckOut()).events
    assert isinstance(checkout.event, CartCheckedOut)
    return checkout  # type: ignore[return-value]


def test_receipts_are_numbered_in_their_own_sequence(app: Flask, emit: CartEmit) -> None:
    checkouts = [check_out(emit, f"cart-{n}") for n in range(3)]
    get_policies(app).catch_up()
    found = [find_receipt(get_engine(app), f"cart-{n}") for n in range(3)]
    assert [r.number for r in found if r] == ["R-000001", "R-000002", "R-000003"]
    assert [r.checkout_position for r in found if r] == [c.position for c in checkouts]
    assert [r.correlation_id for r in found if r] == [c.metadata.correlation_id for c in checkouts]


@pytest.fixture
def emit_on(database_url: str) -> Iterator[CartEmit]:
    engine = make_engine(database_url)
    create_schema(engine, tables=[receipts, printer])
    with Emit(cart_decider, store=SqlEventStore(engine)) as emit:
        yield emit
    engine.dispose()


def test_two_runners_that_take_the_same_number_cannot_both_store_it(emit_on: CartEmit) -> None:
    first_checkout, second_checkout = check_out(emit_on, "cart-a"), check_out(emit_on, "cart-b")
    engine = emit_on.store.engine  # type: ignore[attr-defined]
    with engine.connect() as first, engine.connect() as second:
        # Both runners read the table before either has written: both take number 1.
        taken = (next_sequence(first), next_sequence(second))
        assert taken == (1, 1)
        store_receipt(first, first_checkout, taken[0])
        first.commit()
        with pytest.raises(sa.exc.DBAPIError):  # the unique index (or SQLite's stale read)
            store_receipt(second, second_checkout, taken[1])
        second.rollback()
        # The policy tries again after its backoff, and takes the next number.
        issue_receipt(second, second_checkout)
        second.commit()
    assert [number_of(engine, cart) for cart in ("cart-a", "cart-b")] == ["R-000001", "R-000002"]


def number_of(engine: sa.Engine, cart_id: str) -> str | None:
    receipt = find_receipt(engine, cart_id)
    return None if receipt is None else receipt.number


def test_an_old_receipts_table_keeps_its_numbers_and_goes_on_after_them(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:  # the table as it was made before 2026-12-04
        connection.exec_driver_sql(
            "CREATE TABLE receipts (cart_id VARCHAR(200) PRIMARY KEY, number VARCHAR(20) NOT "
            "NULL UNIQUE, total BIGINT NOT NULL, item_count INTEGER NOT NULL, issued_at "
            "TIMESTAMP NOT NULL)"
        )
        connection.exec_driver_sql(
            "INSERT INTO receipts VALUES ('old-1', 'R-000003', 100, 1, '2026-12-01 10:00:00'),"
            " ('old-2', 'R-000058', 200, 2, '2026-12-01 11:00:00')"
        )
    create_schema(engine, tables=[receipts, printer])
    create_schema(engine, tables=[receipts, printer])  # a second time changes nothing
    with Emit(cart_decider, store=SqlEventStore(engine)) as emit:
        checkout = check_out(emit, "new-1")
        with engine.connect() as connection:
            issue_receipt(connection, checkout)
            connection.commit()
    old = find_receipt(engine, "old-2")
    new = find_receipt(engine, "new-1")
    assert old is not None
    assert new is not None
    assert (old.number, old.checkout_position) == ("R-000058", 58)
    assert (new.number, new.checkout_position) == ("R-000059", checkout.position)
    engine.dispose()

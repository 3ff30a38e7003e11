"""The dashboard's reads, on SQLite and PostgreSQL, answered both ways: from the read models
(what the app uses) and by replaying the events (the reference)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emit import Emit, SqlEventStore
from shop.cart import AddItem, ChangeQuantity, CheckOut, RemoveLine, cart_decider
from webapp.db import CartEmit
from webapp.queries import (
    CartQueries,
    ProductSales,
    ProjectedCartQueries,
    ReplayedCartQueries,
    ShopTotals,
)
from webapp.read_models import PROJECTIONS


@pytest.fixture
def emit(database_url: str) -> Iterator[CartEmit]:
    store = SqlEventStore(database_url)
    with Emit(cart_decider, store=store, projections=PROJECTIONS) as emit:
        yield emit


@pytest.fixture(params=["projected", "replayed"])
def queries(request: pytest.FixtureRequest, emit: CartEmit) -> CartQueries:
    if request.param == "replayed":
        return ReplayedCartQueries(emit)
    assert isinstance(emit.store, SqlEventStore)
    return ProjectedCartQueries(emit.store.engine)


def test_a_page_of_carts_and_the_next(emit: CartEmit, queries: CartQueries) -> None:
    for n in range(5):
        emit.create(f"cart-{n}")
    emit.handle_command("cart-1", AddItem("BEAN-250", 3))
    page = queries.cart_page(limit=2)
    assert [c.cart_id for c in page.carts] == ["cart-0", "cart-1"]
    assert page.next_after == "cart-1"
    one = page.carts[1]
    assert (one.status, one.line_count, one.item_count, one.total) == ("open", 1, 3, 3870)
    assert one.last_activity >= page.carts[0].last_activity

    rest = queries.cart_page(after="cart-1", limit=3)
    assert [c.cart_id for c in rest.carts] == ["cart-2", "cart-3", "cart-4"]
    assert rest.next_after is None
    assert queries.cart_page(after="cart-4", limit=3).carts == ()


def test_totals_count_carts_and_add_up_revenue(emit: CartEmit, queries: CartQueries) -> None:
    assert queries.totals() == ShopTotals(0, 0, 0)
    for cart_id, sku in [("a", "BEAN-250"), ("b", "BEAN-1K"), ("c", "MUG-TRVL")]:
        emit.create(cart_id)
        emit.handle_command(cart_id, AddItem(sku, 2))
    emit.handle_command("a", CheckOut())
    emit.handle_command("b", CheckOut())
    assert queries.totals() == ShopTotals(open_carts=1, checked_out_carts=2, revenue=10980)


def test_totals_scan_past_one_batch(emit: CartEmit) -> None:
    queries = ReplayedCartQueries(emit)
    queries.SCAN_BATCH = 2  # type: ignore[misc]
    for n in range(3):
        emit.create(f"c{n}")
        emit.handle_command(f"c{n}", AddItem("MILK-OAT", 1))
        emit.handle_command(f"c{n}", CheckOut())
    assert queries.totals() == ShopTotals(0, 3, 975)


def test_rows_show_what_another_process_stored(
    database_url: str, emit: CartEmit, queries: CartQueries
) -> None:
    emit.create("cart-a")
    assert queries.cart_page(limit=10).carts[0].item_count == 0  # cart-a now in emit's pool
    store = SqlEventStore(database_url)
    with Emit(cart_decider, store=store, projections=PROJECTIONS) as other:
        other.handle_command("cart-a", AddItem("SCALE-01", 2))
    assert queries.cart_page(limit=10).carts[0].item_count == 2


def test_best_sellers_count_what_checked_out_carts_bought(
    emit: CartEmit, queries: CartQueries
) -> None:
    assert queries.best_sellers(limit=5) == []
    emit.create("a")
    emit.handle_command("a", AddItem("BEAN-250", 2))
    emit.handle_command("a", AddItem("MUG-TRVL", 1))
    emit.handle_command("a", ChangeQuantity("BEAN-250", 3))
    emit.handle_command("a", CheckOut())
    emit.create("b")
    emit.handle_command("b", AddItem("BEAN-250", 1))
    emit.handle_command("b", AddItem("TEA-CHAI", 1))
    emit.handle_command("b", RemoveLine("TEA-CHAI"))
    emit.handle_command("b", CheckOut())
    emit.create("c")  # open: its lines are not sold
    emit.handle_command("c", AddItem("MUG-TRVL", 5))

    assert queries.best_sellers(limit=5) == [
        ProductSales("BEAN-250", "Coffee beans, 250 g", 4, 4 * 1290, 2),
        ProductSales("MUG-TRVL", "Travel mug", 1, 2200, 1),
    ]
    assert queries.best_sellers(limit=1)[0].sku == "BEAN-250"

"""The dashboard's reads, on SQLite and PostgreSQL, answered both ways: from the read models
(what the app uses) and by replaying the events (the reference)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emit import Emit, SqlEventStore
from shop.cart import AddItem, ChangeQuantity, CheckOut, RemoveLine, cart_decider
from webapp.db import CartEmit
from webapp.queries import (
    CartCursor,
    CartFilter,
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
    assert [c.cart_id for c in page.carts] == ["cart-1", "cart-4"]  # newest activity first
    one = page.carts[0]
    assert (one.status, one.line_count, one.item_count, one.total) == ("open", 1, 3, 3870)
    assert one.last_activity >= page.carts[1].last_activity
    assert page.next_after == CartCursor(page.carts[1].last_activity, "cart-4")

    rest = queries.cart_page(after=page.next_after, limit=3)
    assert [c.cart_id for c in rest.carts] == ["cart-3", "cart-2", "cart-0"]
    assert rest.next_after is None
    last = rest.carts[-1]
    after_the_last = CartCursor(last.last_activity, last.cart_id)
    assert queries.cart_page(after=after_the_last, limit=3).carts == ()


def test_carts_by_status_and_by_part_of_their_id(emit: CartEmit, queries: CartQueries) -> None:
    for cart_id in ["Summer-1", "summer-2", "winter-1", "50%-off", "50_off", "a<script>"]:
        emit.create(cart_id)
    emit.handle_command("summer-2", AddItem("BEAN-250"))
    emit.handle_command("summer-2", CheckOut())

    def ids(**only: str) -> list[str]:
        return [c.cart_id for c in queries.cart_page(limit=10, only=CartFilter(**only)).carts]  # type: ignore[arg-type]

    assert ids(search="SUMMER") == ["summer-2", "Summer-1"]  # any case
    assert ids(search="summer", status="open") == ["Summer-1"]
    assert ids(status="checked_out") == ["summer-2"]
    assert ids(search="50%") == ["50%-off"]  # a wildcard is a character like any other
    assert ids(search="50_") == ["50_off"]
    assert ids(search="<script>") == ["a<script>"]
    assert ids(search="nothing") == []
    assert len(ids()) == 6


def test_a_filtered_page_and_the_next(emit: CartEmit, queries: CartQueries) -> None:
    for n in range(5):
        emit.create(f"even-{n}" if n % 2 == 0 else f"odd-{n}")
    only = CartFilter(search="even")
    page = queries.cart_page(limit=2, only=only)
    assert [c.cart_id for c in page.carts] == ["even-4", "even-2"]
    rest = queries.cart_page(after=page.next_after, limit=2, only=only)
    assert [c.cart_id for c in rest.carts] == ["even-0"]
    assert rest.next_after is None


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

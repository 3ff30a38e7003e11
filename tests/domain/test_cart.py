"""The cart's rules, each as given events, when a command, then events or a rejection."""

from __future__ import annotations

import pytest

from emit.testing import given
from shop.cart import (
    MAX_LINES,
    AddItem,
    Cart,
    CartCheckedOut,
    CartOpened,
    ChangeQuantity,
    ChangeQuantityBy,
    CheckOut,
    ItemAdded,
    Line,
    LineRemoved,
    QuantityChanged,
    RemoveLine,
    cart_decider,
)
from shop.catalog import CATALOG

OPENED = CartOpened("c1")
BEANS = ItemAdded("BEAN-250", "Coffee beans, 250 g", 1290, 2, 2)
FILTERS = ItemAdded("FILT-100", "Paper filters, 100", 650, 1, 1)


def test_an_item_is_added_with_its_name_and_price_at_that_time() -> None:
    cart = given(cart_decider, OPENED).when(AddItem("BEAN-250", 2)).then(BEANS)
    assert cart.lines == (Line("BEAN-250", "Coffee beans, 250 g", 1290, 2),)
    assert (cart.total, cart.item_count) == (2580, 2)


def test_adding_a_product_already_in_the_cart_raises_its_quantity() -> None:
    cart = (
        given(cart_decider, OPENED, BEANS)
        .when(AddItem("BEAN-250", 3))
        .then(ItemAdded("BEAN-250", "Coffee beans, 250 g", 1290, 3, 5))
    )
    assert len(cart.lines) == 1
    assert cart.lines[0].quantity == 5


def test_an_unknown_sku_is_rejected() -> None:
    given(cart_decider, OPENED).when(AddItem("NOPE", 1)).then_rejected("no product 'NOPE'")


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_adding_a_quantity_outside_1_to_99_is_rejected(quantity: int) -> None:
    given(cart_decider, OPENED).when(AddItem("BEAN-250", quantity)).then_rejected(
        "between 1 and 99"
    )


@pytest.mark.parametrize("quantity", [-1, 100])
def test_changing_to_a_quantity_outside_0_to_99_is_rejected(quantity: int) -> None:
    """The quantity box allows 0 (it removes the line), so the message says 0 to 99."""
    given(cart_decider, OPENED, BEANS).when(ChangeQuantity("BEAN-250", quantity)).then_rejected(
        "quantity is 0 to 99; 0 removes the line"
    )


def test_a_line_cannot_grow_beyond_99() -> None:
    given(cart_decider, OPENED, BEANS).when(AddItem("BEAN-250", 98)).then_rejected(
        "at most 99 of one product; this one already has 2"
    )


def test_a_cart_holds_at_most_20_products() -> None:
    many = [ItemAdded(f"SKU-{n}", f"Thing {n}", 100, 1, 1) for n in range(MAX_LINES)]
    given(cart_decider, OPENED, *many).when(AddItem("BEAN-250")).then_rejected("at most 20")
    # ...but a product already in it can still be added to.
    given(cart_decider, OPENED, *many[:-1], BEANS).when(AddItem("BEAN-250")).then(
        ItemAdded("BEAN-250", "Coffee beans, 250 g", 1290, 1, 3)
    )


def test_the_catalog_has_a_dozen_products_with_unique_skus() -> None:
    assert len(CATALOG) >= 12
    assert len({p.sku for p in CATALOG}) == len(CATALOG)
    assert all(p.unit_price > 0 for p in CATALOG)


def test_changing_a_quantity_records_from_and_to() -> None:
    cart = (
        given(cart_decider, OPENED, BEANS)
        .when(ChangeQuantity("BEAN-250", 7))
        .then(QuantityChanged("BEAN-250", "Coffee beans, 250 g", 1290, 2, 7))
    )
    assert cart.lines[0].quantity == 7


def test_changing_a_quantity_to_zero_removes_the_line() -> None:
    cart = (
        given(cart_decider, OPENED, BEANS, FILTERS)
        .when(ChangeQuantity("BEAN-250", 0))
        .then(LineRemoved("BEAN-250", "Coffee beans, 250 g", 1290, 2))
    )
    assert [line.sku for line in cart.lines] == ["FILT-100"]


def test_changing_to_the_same_quantity_changes_nothing() -> None:
    given(cart_decider, OPENED, BEANS).when(ChangeQuantity("BEAN-250", 2)).then()


def test_changing_or_removing_a_product_not_in_the_cart_is_rejected() -> None:
    given(cart_decider, OPENED).when(ChangeQuantity("BEAN-250", 1)).then_rejected("not in the cart")
    given(cart_decider, OPENED).when(RemoveLine("BEAN-250")).then_rejected("not in the cart")


def test_removing_a_line() -> None:
    cart = (
        given(cart_decider, OPENED, BEANS)
        .when(RemoveLine("BEAN-250"))
        .then(LineRemoved("BEAN-250", "Coffee beans, 250 g", 1290, 2))
    )
    assert cart.lines == ()


def test_checking_out_records_the_total() -> None:
    cart = (
        given(cart_decider, OPENED, BEANS, FILTERS)
        .when(CheckOut())
        .then(CartCheckedOut(total=3230, item_count=3, line_count=2))
    )
    assert cart.status == "checked_out"


def test_an_empty_cart_cannot_be_checked_out() -> None:
    given(cart_decider, OPENED).when(CheckOut()).then_rejected("empty cart")
    emptied = LineRemoved("BEAN-250", "Coffee beans, 250 g", 1290, 2)
    given(cart_decider, OPENED, BEANS, emptied).when(CheckOut()).then_rejected("empty cart")


@pytest.mark.parametrize(
    "command",
    [AddItem("BEAN-250"), ChangeQuantity("BEAN-250", 1), RemoveLine("BEAN-250"), CheckOut()],
)
def test_a_checked_out_cart_accepts_no_change(command: object) -> None:
    given(cart_decider, OPENED, BEANS, CartCheckedOut(2580, 2, 1)).when(command).then_rejected(
        "checked out"
    )


def test_a_cart_that_was_never_opened_accepts_nothing() -> None:
    given(cart_decider).when(AddItem("BEAN-250")).then_rejected("not been opened")


def test_the_genesis_opens_the_cart() -> None:
    (opened,) = cart_decider.genesis_events("c9")
    assert cart_decider.fold(Cart(), [opened]) == Cart(cart_id="c9", status="open")


def test_one_more_and_one_fewer_change_the_quantity_from_what_it_is_now() -> None:
    """Relative: two people pressing "+" on a line of 2 leave 4, not 3."""
    given(cart_decider, OPENED, BEANS).when(ChangeQuantityBy("BEAN-250", 1)).then(
        QuantityChanged("BEAN-250", "Coffee beans, 250 g", 1290, 2, 3)
    )
    given(
        cart_decider, OPENED, BEANS, QuantityChanged("BEAN-250", "Coffee beans, 250 g", 1290, 2, 3)
    ).when(ChangeQuantityBy("BEAN-250", 1)).then(
        QuantityChanged("BEAN-250", "Coffee beans, 250 g", 1290, 3, 4)
    )
    given(cart_decider, OPENED, BEANS).when(ChangeQuantityBy("BEAN-250", -1)).then(
        QuantityChanged("BEAN-250", "Coffee beans, 250 g", 1290, 2, 1)
    )


def test_one_fewer_of_the_last_one_removes_the_line() -> None:
    given(cart_decider, OPENED, BEANS).when(ChangeQuantityBy("BEAN-250", -2)).then(
        LineRemoved("BEAN-250", "Coffee beans, 250 g", 1290, 2)
    )


def test_a_relative_change_past_the_limits_or_on_no_line_is_rejected() -> None:
    given(cart_decider, OPENED, BEANS).when(ChangeQuantityBy("BEAN-250", -3)).then_rejected(
        "holds 2; it cannot lose 3"
    )
    given(cart_decider, OPENED, BEANS).when(ChangeQuantityBy("BEAN-250", 98)).then_rejected(
        "at most 99 of one product; this one already has 2"
    )
    given(cart_decider, OPENED).when(ChangeQuantityBy("BEAN-250", 1)).then_rejected(
        "not in the cart"
    )

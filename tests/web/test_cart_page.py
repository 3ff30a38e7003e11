"""The cart page and its actions through HTTP: each as a plain form (303 back to the page) and
as an htmx request (only the changed regions), plus the rejections shown next to the action."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shop.cart import AddItem, ChangeQuantity, CheckOut
from tests.web.conftest import HTMX, make_app, open_cart, open_cart_with
from tests.web.html import assert_elements_contain, element, form_fields, has_element
from webapp.db import CartEmit, get_emit


def refused(client: FlaskClient, url: str, data: dict[str, str] | None = None) -> TestResponse:
    """Post a plain form the cart refuses: the answer is `303 See Other` to the cart's own page
    (no #anchor, which would void the alert's autofocus); return that page, loaded (200)."""
    cart_id = url.split("/")[2]
    response = client.post(url, data=data or {})
    assert response.status_code == 303, response.text
    assert response.headers["Location"] == f"/carts/{cart_id}"
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    return page


def test_new_cart_opens_an_empty_cart_and_goes_to_it(client: FlaskClient, emit: CartEmit) -> None:
    response = client.post("/carts")
    assert response.status_code == 303
    cart_id = response.headers["Location"].removeprefix("/carts/")
    assert cart_id.startswith("cart-")
    cart = emit.get_state(cart_id)
    assert (cart.status, cart.lines) == ("open", ())
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Your cart is empty" in page.text


def test_the_cart_page_shows_catalog_and_cart(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart_with(client, emit, AddItem("BEAN-250", 2))
    response = client.get(f"/carts/{cart_id}")
    assert response.status_code == 200
    assert "HX-Request" in response.vary
    page = response.text
    assert page.startswith("<!doctype html>")
    assert has_element(page, "catalog")
    assert_elements_contain(
        page,
        {
            "product-GRIND-HND": "Hand grinder",
            "line-BEAN-250": ["Coffee beans, 250 g", 'value="2"'],
            "cart-panel": "€25.80",
            "cart-badge": "2 items",
        },
    )


def test_the_cart_page_for_htmx_is_the_cart_panel_alone(client: FlaskClient) -> None:
    cart_id = open_cart(client)
    response = client.get(f"/carts/{cart_id}", headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response.vary
    assert response.text.lstrip().startswith('<section id="cart-panel"')
    assert "<html" not in response.text


def test_a_boosted_request_gets_the_whole_page(client: FlaskClient) -> None:
    cart_id = open_cart(client)
    response = client.get(f"/carts/{cart_id}", headers={**HTMX, "HX-Boosted": "true"})
    assert "<html" in response.text


def test_adding_without_javascript_redirects_back_to_the_product(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    response = client.post(f"/carts/{cart_id}/items", data={"sku": "DRIP-V60", "quantity": "2"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/carts/{cart_id}#product-DRIP-V60"
    assert emit.get_state(cart_id).line("DRIP-V60").quantity == 2  # type: ignore[union-attr]
    page = client.get(f"/carts/{cart_id}").text
    assert "2 in cart" in element(page, "product-DRIP-V60")


def test_adding_with_htmx_answers_with_the_changed_regions_only(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    response = client.post(
        f"/carts/{cart_id}/items", data={"sku": "DRIP-V60", "quantity": "1"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "HX-Request" in response.vary
    body = response.text
    assert "<html" not in body
    # The target: the cart panel, with the new line.
    assert "Ceramic dripper" in element(body, "line-DRIP-V60")
    assert "hx-swap-oob" not in element(body, "cart-panel").split(">", 1)[0]
    # Out of band: the header badge and the product's card; not the rest of the catalog.
    assert 'id="cart-badge"' in body
    assert "1 item" in element(body, "cart-badge")
    assert "1 in cart" in element(body, "product-DRIP-V60")
    assert body.count('hx-swap-oob="true"') == 2
    assert not has_element(body, "product-BEAN-250")
    # Old rejections on the page go.
    assert body.startswith('<div hx-swap-oob="innerHTML:.alert-slot"></div>')
    assert emit.aggregate(cart_id).version == 2


def test_a_malformed_page_version_is_refused_before_anything_changes(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    for path, data in [
        (f"/carts/{cart_id}/items", {"sku": "TEA-CHAI", "version": "x"}),
        (f"/carts/{cart_id}/items", {"sku": "TEA-CHAI", "version": "9" * 40}),
    ]:
        response = client.post(path, data=data, headers=HTMX)
        assert response.status_code == 400
        assert "the version of a cart" in response.text
    assert emit.aggregate(cart_id, catch_up=True).version == 1  # only its opening


def test_a_change_to_the_cart_the_page_showed_answers_with_the_line_alone(
    client: FlaskClient, emit: CartEmit
) -> None:
    """htmx sends the version the page shows; when the command changed exactly that version,
    the answer is the line (the target), and out of band the panel's version, total and
    checkout, the badge and the product card."""
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 1))
    add = f"/carts/{cart_id}/items"
    response = client.post(add, data={"sku": "MUG-TRVL", "version": "2"}, headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#cart-lines"
    assert response.headers["HX-Reswap"] == "beforeend"
    body = response.text
    assert body.startswith('<div hx-swap-oob="innerHTML:.alert-slot"></div>')
    assert not has_element(body, "cart-panel")
    assert not has_element(body, "line-TEA-CHAI")
    assert "Travel mug" in element(body, "line-MUG-TRVL")
    assert "hx-swap-oob" not in element(body, "line-MUG-TRVL").split(">", 1)[0]
    assert_elements_contain(
        body,
        {
            "cart-version": "3 events",
            "cart-summary": ["2 items", 'name="version" value="3"'],
            "cart-badge": "2 items",
            "product-MUG-TRVL": "1 in cart",
        },
    )
    assert body.count('hx-swap-oob="true"') == 4

    quantity = f"/carts/{cart_id}/lines/TEA-CHAI/quantity"
    response = client.post(quantity, data={"quantity": "3", "version": "3"}, headers=HTMX)
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == (
        "#line-TEA-CHAI",
        "outerHTML",
    )
    assert 'value="3"' in element(response.text, "line-TEA-CHAI")
    assert "4 events" in element(response.text, "cart-version")


def test_a_page_showing_another_version_gets_the_whole_panel(
    client: FlaskClient, emit: CartEmit
) -> None:
    """Another tab changed the cart since this page was loaded: "+" still means one more, but
    the line alone would leave the page showing a cart that never was."""
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 1))
    emit.handle_command(cart_id, AddItem("MUG-TRVL", 1))  # the other tab
    step = f"/carts/{cart_id}/lines/TEA-CHAI/step"
    response = client.post(step, data={"by": "1", "version": "2"}, headers=HTMX)
    assert "HX-Retarget" not in response.headers
    panel = element(response.text, "cart-panel")
    assert has_element(panel, "line-MUG-TRVL")
    assert "3 items" in panel
    # Every version field of the page now says 4 (out of band).
    assert 'value="4" hx-swap-oob="outerHTML:input.shown-version"' in response.text
    # Removing a line by its quantity also answers with the panel: the line is gone.
    quantity = f"/carts/{cart_id}/lines/TEA-CHAI/quantity"
    response = client.post(quantity, data={"quantity": "0", "version": "4"}, headers=HTMX)
    assert "HX-Retarget" not in response.headers
    assert not has_element(element(response.text, "cart-panel"), "line-TEA-CHAI")


def test_adding_a_product_again_raises_its_quantity(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart(client)
    for _ in range(2):
        client.post(f"/carts/{cart_id}/items", data={"sku": "MUG-TRVL", "quantity": "3"})
    cart = emit.get_state(cart_id)
    assert [(line.sku, line.quantity) for line in cart.lines] == [("MUG-TRVL", 6)]


def test_the_quantity_defaults_to_one(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart(client)
    client.post(f"/carts/{cart_id}/items", data={"sku": "MUG-TRVL"})
    assert emit.get_state(cart_id).item_count == 1


def test_changing_a_quantity(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 2))
    url = f"/carts/{cart_id}/lines/TEA-CHAI/quantity"
    response = client.post(url, data={"quantity": "5"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/carts/{cart_id}#line-TEA-CHAI"
    assert emit.get_state(cart_id).item_count == 5

    response = client.post(url, data={"quantity": "4"}, headers=HTMX)
    assert response.status_code == 200
    assert 'value="4"' in element(response.text, "line-TEA-CHAI")
    assert "4 in cart" in element(response.text, "product-TEA-CHAI")
    assert emit.get_state(cart_id).item_count == 4


def test_the_stepper_offers_one_less_and_one_more(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 2))
    line = element(client.get(f"/carts/{cart_id}").text, "line-TEA-CHAI")
    less, set_to, more = line.split("<form")[1:4]
    assert 'name="by" value="-1"' in less
    assert 'name="quantity" type="number"' in set_to
    assert 'name="by" value="1"' in more
    step = f"/carts/{cart_id}/lines/TEA-CHAI/step"
    assert client.post(step, data={"by": "1"}).status_code == 303
    assert emit.get_state(cart_id).item_count == 3
    assert client.post(step, data={"by": "-1"}).status_code == 303
    assert client.post(step, data={"by": "-1"}).status_code == 303
    assert client.post(step, data={"by": "-1"}).headers["Location"].endswith("#cart-panel")
    assert emit.get_state(cart_id).lines == ()


@pytest.mark.parametrize("by", ["", "0", "x", "100", "-100", "1.5"])
def test_a_step_that_is_no_step_is_a_bad_request(
    client: FlaskClient, emit: CartEmit, by: str
) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 2))
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/step", data={"by": by})
    assert response.status_code == 400
    assert "not a change of quantity" in response.text
    assert emit.aggregate(cart_id).version == 2


def test_the_same_quantity_again_records_nothing(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 2))
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/quantity", data={"quantity": "2"})
    assert response.status_code == 303
    assert emit.aggregate(cart_id).version == 2


def test_quantity_zero_removes_the_line(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 1))
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/quantity", data={"quantity": "0"})
    assert response.headers["Location"] == f"/carts/{cart_id}#cart-panel"  # the line is gone
    assert emit.get_state(cart_id).lines == ()


def test_removing_a_line(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 1), AddItem("MILK-OAT", 1))
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/remove")
    assert response.status_code == 303
    assert [line.sku for line in emit.get_state(cart_id).lines] == ["MILK-OAT"]

    response = client.post(f"/carts/{cart_id}/lines/MILK-OAT/remove", headers=HTMX)
    assert response.status_code == 200
    assert "Your cart is empty" in element(response.text, "cart-panel")
    assert "in cart" not in element(response.text, "product-MILK-OAT")


def test_checking_out_shows_a_receipt_and_closes_the_catalog(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart_with(client, emit, AddItem("SCALE-01", 1), AddItem("FILT-100", 2))
    response = client.post(f"/carts/{cart_id}/checkout")
    assert response.status_code == 303
    assert emit.get_state(cart_id).status == "checked_out"

    page = client.get(f"/carts/{cart_id}").text
    panel = element(page, "cart-panel")
    assert "Receipt" in panel
    assert "Paid <strong>€47.00</strong> for 3 items on" in panel
    assert "Check out" not in panel
    assert "<form" not in element(page, "catalog")  # nothing more can be added
    assert "Checked out" in element(page, "cart-badge")


def test_checking_out_with_htmx_swaps_panel_badge_and_catalog(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart_with(client, emit, AddItem("SCALE-01", 1))
    response = client.post(f"/carts/{cart_id}/checkout", headers=HTMX)
    assert response.status_code == 200
    body = response.text
    assert "Receipt" in element(body, "cart-panel")
    catalog = element(body, "catalog")
    assert catalog.startswith('<section id="catalog"')
    assert 'hx-swap-oob="true"' in catalog
    assert "<form" not in catalog
    # The products inside the catalog are swapped with it, not each on its own.
    assert "hx-swap-oob" not in element(body, "product-SCALE-01").split(">", 1)[0]
    assert "Checked out" in element(body, "cart-badge")


def test_a_second_checkout_from_the_same_page_gets_the_receipt(
    client: FlaskClient, emit: CartEmit
) -> None:
    """A double click without JavaScript, or a resent form, posts the form twice: the second
    carries the same key, and is answered as the first was, not with an error."""
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 1))
    checkout = f"/carts/{cart_id}/checkout"
    form = form_fields(client.get(f"/carts/{cart_id}").text, checkout)
    assert form["version"] == "2"
    assert len(form["key"]) >= 16

    for _ in range(2):
        response = client.post(checkout, data=form)
        assert response.status_code == 303
        assert response.headers["Location"] == f"/carts/{cart_id}#cart-panel"
    fragment = client.post(checkout, data=form, headers=HTMX)
    assert fragment.status_code == 200
    panel = element(fragment.text, "cart-panel")
    assert "Receipt" in panel
    assert 'role="alert"' not in panel
    assert emit.aggregate(cart_id).version == 3  # checked out once


def test_a_checkout_from_a_page_that_showed_another_cart_is_refused_with_what_changed(
    client: FlaskClient, emit: CartEmit
) -> None:
    """Two tabs on one cart: tab B adds a Travel mug; tab A, still showing one chai for €8.90,
    checks out. Not what A's shopper saw: nothing is stored, and the answer is the fresh cart
    with what changed, without JavaScript and with htmx."""
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 1))
    checkout = f"/carts/{cart_id}/checkout"
    tab_a = form_fields(client.get(f"/carts/{cart_id}").text, checkout)
    emit.handle_command(cart_id, AddItem("MUG-TRVL", 1))  # tab B
    expected = (
        "Since you loaded this page: + 1 × Travel mug; total now €30.90. "
        "Check out again to pay that."
    )
    for answer in (
        refused(client, checkout, tab_a),  # without JavaScript: 303 to the page that says it
        client.post(checkout, data=tab_a, headers=HTMX),
    ):
        assert answer.status_code in (200, 409)
        panel = element(answer.text, "cart-panel")
        assert expected in panel.split('id="check-out"', 1)[1]  # next to the button
        assert "€30.90" in element(panel, "cart-summary")  # the fresh cart
        assert emit.aggregate(cart_id).version == 3  # nothing stored
    assert answer.status_code == 409
    assert 'value="3" hx-swap-oob="outerHTML:input.shown-version"' in answer.text
    # Checking out again, from the page as it is now, pays for what it shows.
    fresh = form_fields(client.get(f"/carts/{cart_id}").text, checkout)
    assert client.post(checkout, data=fresh).status_code == 303
    assert emit.get_state(cart_id).status == "checked_out"


def test_a_checkout_from_a_page_of_a_cart_checked_out_since_says_so(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart_with(
        client, emit, AddItem("TEA-CHAI", 1), AddItem("MUG-TRVL", 1), CheckOut()
    )
    response = refused(client, f"/carts/{cart_id}/checkout", {"version": "2"})
    assert (
        "Since you loaded this page: + 1 × Travel mug; the cart was checked out; total now "
        "€30.90." in element(response.text, "cart-panel")
    )
    htmx = client.post(f"/carts/{cart_id}/checkout", data={"version": "2"}, headers=HTMX)
    assert htmx.status_code == 409
    malformed = client.post(f"/carts/{cart_id}/checkout", data={"version": "two"})
    assert malformed.status_code == 400
    assert "is not the version of a cart" in malformed.text


def test_setting_a_quantity_or_removing_a_line_on_a_stale_page_is_refused(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 3))
    page = client.get(f"/carts/{cart_id}").text
    set_to = form_fields(page, f"/carts/{cart_id}/lines/TEA-CHAI/quantity")
    remove = form_fields(page, f"/carts/{cart_id}/lines/TEA-CHAI/remove")
    emit.handle_command(cart_id, ChangeQuantity("TEA-CHAI", 5))  # the other tab
    response = refused(
        client, f"/carts/{cart_id}/lines/TEA-CHAI/quantity", {**set_to, "quantity": "4"}
    )
    line = element(response.text, "line-TEA-CHAI")
    assert "Since you loaded this page: + 2 × Chai" in line
    assert "Make your change again if you still want it." in line
    refused(client, f"/carts/{cart_id}/lines/TEA-CHAI/remove", remove)
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/remove", data=remove, headers=HTMX)
    assert response.status_code == 409
    assert emit.get_state(cart_id).lines[0].quantity == 5
    assert emit.aggregate(cart_id).version == 3


def test_plus_from_two_tabs_loses_no_click(client: FlaskClient, emit: CartEmit) -> None:
    """Both tabs show a quantity of 3 and each clicks "+": one more each, 5 in the end."""
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 3))
    step = f"/carts/{cart_id}/lines/TEA-CHAI/step"
    page = client.get(f"/carts/{cart_id}").text
    tab_b = client.get(f"/carts/{cart_id}").text
    tabs = [form_fields(page, step, by="1"), form_fields(tab_b, step, by="1")]
    for tab, headers in zip(tabs, ({}, HTMX), strict=True):
        assert tab["version"] == "2"
        assert client.post(step, data=tab, headers=headers).status_code in (200, 303)
    assert emit.get_state(cart_id).lines[0].quantity == 5


def test_a_resent_add_form_adds_once(client: FlaskClient, emit: CartEmit) -> None:
    """The same form posted twice (a resent form, a retry after a timeout): one event. Adding
    again from the page drawn after it (new keys) adds again, as the person meant."""
    cart_id = open_cart(client)
    add = f"/carts/{cart_id}/items"
    form = form_fields(client.get(f"/carts/{cart_id}").text, add)  # the first product's form
    for headers in ({}, HTMX, {}):
        assert client.post(add, data=form, headers=headers).status_code in (200, 303)
    assert emit.aggregate(cart_id).version == 2
    again = form_fields(client.get(f"/carts/{cart_id}").text, add)
    assert again["key"] != form["key"]
    client.post(add, data=again)
    assert emit.aggregate(cart_id).version == 3
    assert emit.get_state(cart_id).item_count == 2


def test_a_form_key_sent_again_with_other_values_is_refused(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    add = f"/carts/{cart_id}/items"
    form = form_fields(client.get(f"/carts/{cart_id}").text, add)
    client.post(add, data=form)
    response = client.post(add, data={**form, "quantity": "2"})
    assert response.status_code == 409
    assert "sent before with other values" in response.text
    assert emit.aggregate(cart_id).version == 2


@pytest.mark.parametrize("key", ["short", "has space in it", "k" * 201, "<script>x</script>"])
def test_a_malformed_form_key_is_a_bad_request(
    client: FlaskClient, emit: CartEmit, key: str
) -> None:
    cart_id = open_cart(client)
    response = client.post(f"/carts/{cart_id}/items", data={"sku": "MUG-TRVL", "key": key})
    assert response.status_code == 400
    assert "is not a form key" in response.text
    assert "<script>x" not in response.text
    assert emit.aggregate(cart_id).version == 1


def test_a_resent_new_cart_form_opens_one_cart(client: FlaskClient, emit: CartEmit) -> None:
    form = form_fields(client.get("/").text, "/carts")
    first = client.post("/carts", data=form)
    again = client.post("/carts", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert emit.count_aggregates() == 1
    other = client.post("/carts", data=form_fields(client.get("/").text, "/carts"))
    assert other.headers["Location"] != first.headers["Location"]


# --- rejections: nothing changes, the reason shows next to the action ----------------------


def test_checking_out_an_empty_cart_is_rejected_next_to_the_button(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    page = refused(client, f"/carts/{cart_id}/checkout").text
    assert "<html" in page  # without JavaScript: the whole page, at the cart's address
    panel = element(page, "cart-panel")
    after_button = panel.split('id="check-out"', 1)[1]
    assert '<p class="alert" role="alert" tabindex="-1" autofocus>' in after_button
    assert "An empty cart cannot be checked out." in after_button
    assert emit.aggregate(cart_id).version == 1


def check_out_an_empty_cart_with_htmx(client: FlaskClient) -> tuple[str, TestResponse]:
    """A new cart's checkout, posted by htmx: refused with 422 (nothing to pay for)."""
    cart_id = open_cart(client)
    response = client.post(f"/carts/{cart_id}/checkout", headers=HTMX)
    assert response.status_code == 422
    return cart_id, response


def test_a_rejection_with_htmx_swaps_the_panel_with_the_reason(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id, response = check_out_an_empty_cart_with_htmx(client)
    assert "<html" not in response.text
    panel = element(response.text, "cart-panel")
    assert 'role="alert"' in panel
    assert "autofocus" not in panel  # htmx swaps it in place; the focus stays on the button
    assert "An empty cart cannot be checked out." in panel
    assert "HX-Retarget" not in response.headers  # the panel is the form's own target
    assert emit.aggregate(cart_id).version == 1


def test_adding_too_many_is_rejected_on_the_product_card(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart_with(client, emit, AddItem("BEAN-1K", 99))
    data = {"sku": "BEAN-1K", "quantity": "1"}

    page = refused(client, f"/carts/{cart_id}/items", data)
    card = element(page.text, "product-BEAN-1K")
    assert 'role="alert"' in card
    assert "at most 99 of one product; this one already has 99" in card

    fragment = client.post(
        f"/carts/{cart_id}/items", data={**data, "version": "2"}, headers=HTMX
    )  # the page shows the cart as it is
    assert fragment.status_code == 422
    assert fragment.headers["HX-Retarget"] == "#product-BEAN-1K"
    assert fragment.headers["HX-Reswap"] == "outerHTML"
    assert "at most 99 of one product" in element(fragment.text, "product-BEAN-1K")
    assert not has_element(fragment.text, "cart-panel")
    assert emit.aggregate(cart_id).version == 2


def test_a_refused_add_from_a_stale_page_brings_the_whole_cart(
    client: FlaskClient, emit: CartEmit
) -> None:
    """The page shows version 3; another tab has since set the beans to 5. A refused add from
    this page must not answer with the product card alone: its forms would claim version 4
    while the page still shows one bag of beans, and a checkout sent from it would pass for a
    decision on what it never showed. So the whole cart and catalog come, at version 4."""
    cart_id = open_cart_with(client, emit, AddItem("MUG-TRVL", 98), AddItem("BEAN-250", 1))
    emit.handle_command(cart_id, ChangeQuantity("BEAN-250", 5))  # the other tab: version 4
    data = {"sku": "MUG-TRVL", "quantity": "2", "version": "3"}
    fragment = client.post(f"/carts/{cart_id}/items", data=data, headers=HTMX)
    assert fragment.status_code == 422
    assert "HX-Retarget" not in fragment.headers
    assert 'value="5"' in element(element(fragment.text, "cart-panel"), "line-BEAN-250")
    assert 'value="4" hx-swap-oob="outerHTML:input.shown-version"' in fragment.text
    assert "at most 99 of one product" in element(fragment.text, "product-MUG-TRVL")
    assert "5 in cart" in element(fragment.text, "product-BEAN-250")  # the catalog came too
    assert emit.aggregate(cart_id).version == 4


def test_a_quantity_over_99_is_rejected_on_its_line(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 1))
    url = f"/carts/{cart_id}/lines/TEA-CHAI/quantity"
    assert "quantity is 0 to 99; 0 removes the line" in element(
        refused(client, url, {"quantity": "100"}).text, "line-TEA-CHAI"
    )
    response = client.post(url, data={"quantity": "100"}, headers=HTMX)
    assert response.status_code == 422
    assert "quantity is 0 to 99; 0 removes the line" in element(response.text, "line-TEA-CHAI")
    assert emit.get_state(cart_id).item_count == 1


def test_changing_a_line_that_is_gone_is_rejected_at_the_top_of_the_cart(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    response = client.post(
        f"/carts/{cart_id}/lines/TEA-CHAI/quantity", data={"quantity": "3"}, headers=HTMX
    )
    assert response.status_code == 422
    panel = element(response.text, "cart-panel")
    _head, rest = panel.split("</header>", 1)
    assert rest.lstrip().startswith('<div class="alert-slot"><p class="alert" role="alert"')
    assert "That product is not in the cart." in rest


def test_a_checked_out_cart_rejects_every_change(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 1), CheckOut())
    attempts = [
        (f"/carts/{cart_id}/items", {"sku": "MUG-TRVL", "quantity": "1"}),
        (f"/carts/{cart_id}/lines/TEA-CHAI/quantity", {"quantity": "2"}),
        (f"/carts/{cart_id}/lines/TEA-CHAI/remove", {}),
        (f"/carts/{cart_id}/checkout", {}),
    ]
    for url, data in attempts:
        page = refused(client, url, data)
        assert "checked out and can no longer change" in element(page.text, "cart-panel")
        response = client.post(url, data=data, headers=HTMX)
        assert response.status_code == 422, url
        assert "checked out and can no longer change" in element(response.text, "cart-panel")
        assert "HX-Retarget" not in response.headers
    assert emit.aggregate(cart_id).version == 3


# --- without JavaScript, a refusal answers at the cart's address ---------------------------


def test_a_refusal_without_javascript_is_a_see_other_to_the_cart_shown_once(
    client: FlaskClient, emit: CartEmit
) -> None:
    """Not the page drawn at the form's URL (/items), which a reload would post again: 303 to
    the cart, whose page says why (focused: autofocus) and then forgets it."""
    cart_id = open_cart_with(client, emit, AddItem("MILK-OAT", 60))
    add = f"/carts/{cart_id}/items"
    response = client.post(add, data={"sku": "MILK-OAT", "quantity": "60"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/carts/{cart_id}"
    assert "already has 60" not in response.text
    assert emit.aggregate(cart_id).version == 2  # nothing stored

    # An htmx request for the panel in between (a poll, another tab's) leaves the reason be.
    assert "already has 60" not in client.get(f"/carts/{cart_id}", headers=HTMX).text
    page = client.get(f"/carts/{cart_id}")
    assert page.status_code == 200  # a GET of the cart page, as a reload would be
    card = element(page.text, "product-MILK-OAT")
    assert '<p class="alert" role="alert" tabindex="-1" autofocus>' in card
    assert "A cart holds at most 99 of one product; this one already has 60." in card
    assert page.text.count('role="alert"') == 1

    again = client.get(f"/carts/{cart_id}")  # a reload: the same cart, the reason said once
    assert again.status_code == 200
    assert 'role="alert"' not in again.text
    assert "Set-Cookie" not in again.headers  # no reason kept, none to forget


def test_the_page_after_a_refusal_has_fresh_form_keys_and_the_current_version(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 3))
    checkout = f"/carts/{cart_id}/checkout"
    stale = form_fields(client.get(f"/carts/{cart_id}").text, checkout)
    emit.handle_command(cart_id, AddItem("MUG-TRVL", 1))  # another tab
    page = refused(client, checkout, stale)
    assert "Since you loaded this page: + 1 × Travel mug" in element(page.text, "cart-summary")
    fresh = form_fields(page.text, checkout)
    assert fresh["key"] != stale["key"]
    assert (stale["version"], fresh["version"]) == ("2", "3")
    assert client.post(checkout, data=fresh).status_code == 303  # pays for what it showed
    assert emit.get_state(cart_id).status == "checked_out"


def test_a_kept_refusal_shows_only_on_its_cart_as_it_was(
    client: FlaskClient, emit: CartEmit
) -> None:
    """The reason is for the cart page the 303 loads. Another cart's page drops it, and so does
    the cart's own page once the cart has changed: the reason may no longer hold."""
    cart_id, other = open_cart(client), open_cart(client)
    assert client.post(f"/carts/{cart_id}/checkout").status_code == 303  # an empty cart: refused
    assert 'role="alert"' not in client.get(f"/carts/{other}").text
    assert 'role="alert"' not in client.get(f"/carts/{cart_id}").text

    assert client.post(f"/carts/{cart_id}/checkout").status_code == 303
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 1))
    page = client.get(f"/carts/{cart_id}").text
    assert 'role="alert"' not in page
    assert "An empty cart cannot be checked out." not in page


def test_with_htmx_a_refusal_is_still_drawn_in_place_with_its_status(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id, response = check_out_an_empty_cart_with_htmx(client)
    assert "An empty cart cannot be checked out." in element(response.text, "cart-summary")
    # Nothing is kept for a page to show later.
    assert 'role="alert"' not in client.get(f"/carts/{cart_id}").text


def test_every_process_shows_the_stored_cart(app: Flask, client: FlaskClient) -> None:
    """Each gunicorn worker has its own app and pool: pages show what the others stored."""
    cart_id = open_cart(client)
    client.post(f"/carts/{cart_id}/items", data={"sku": "KETL-GOOSE", "quantity": "1"})
    other = make_app(app.config["EMIT_STORE_URL"])
    try:
        other_client = other.test_client()
        assert "Gooseneck kettle" in element(
            other_client.get(f"/carts/{cart_id}").text, "line-KETL-GOOSE"
        )
        other_client.post(f"/carts/{cart_id}/items", data={"sku": "SCALE-01", "quantity": "1"})
    finally:
        get_emit(other).close()
    # The first app's pool still holds the cart as it left it; the page catches up.
    assert "Coffee scale" in element(client.get(f"/carts/{cart_id}").text, "line-SCALE-01")


def test_a_whole_visit_on_each_database(database_url: str) -> None:
    app = make_app(database_url)
    try:
        client = app.test_client()
        cart_id = open_cart(client)
        client.post(f"/carts/{cart_id}/items", data={"sku": "BEAN-250", "quantity": "2"})
        client.post(f"/carts/{cart_id}/items", data={"sku": "FILT-100"}, headers=HTMX)
        client.post(f"/carts/{cart_id}/lines/BEAN-250/quantity", data={"quantity": "3"})
        client.post(f"/carts/{cart_id}/lines/FILT-100/remove", headers=HTMX)
        assert client.post(f"/carts/{cart_id}/checkout").status_code == 303
        assert "€38.70" in element(client.get(f"/carts/{cart_id}").text, "cart-panel")
        totals = element(client.get("/").text, "totals")
        assert totals.count("€38.70") == 2  # revenue and average order
    finally:
        get_emit(app).close()

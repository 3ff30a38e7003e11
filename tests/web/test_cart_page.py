"""The cart page and its actions through HTTP: each as a plain form (303 back to the page) and
as an htmx request (only the changed regions), plus the rejections shown next to the action."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.web.conftest import HTMX, make_app, open_cart
from tests.web.html import element, has_element
from webapp.cart import AddItem, CheckOut
from webapp.store import CartEmit, get_emit


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
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("BEAN-250", 2))
    response = client.get(f"/carts/{cart_id}")
    assert response.status_code == 200
    assert "HX-Request" in response.vary
    page = response.text
    assert page.startswith("<!doctype html>")
    assert has_element(page, "catalog")
    assert "Hand grinder" in element(page, "product-GRIND-HND")
    line = element(page, "line-BEAN-250")
    assert "Coffee beans, 250 g" in line
    assert 'value="2"' in line
    assert "€25.80" in element(page, "cart-panel")
    assert "2 items" in element(page, "cart-badge")


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
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 1))
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
    assert "3 events" in element(body, "cart-version")
    summary = element(body, "cart-summary")
    assert "2 items" in summary
    assert 'name="version" value="3"' in summary
    assert "2 items" in element(body, "cart-badge")
    assert "1 in cart" in element(body, "product-MUG-TRVL")
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
    """Another tab changed the cart since this page was loaded: the line alone would leave the
    page showing a cart that never was."""
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 1))
    emit.handle_command(cart_id, AddItem("MUG-TRVL", 1))  # the other tab
    quantity = f"/carts/{cart_id}/lines/TEA-CHAI/quantity"
    response = client.post(quantity, data={"quantity": "2", "version": "2"}, headers=HTMX)
    assert "HX-Retarget" not in response.headers
    panel = element(response.text, "cart-panel")
    assert has_element(panel, "line-MUG-TRVL")
    assert "3 items" in panel
    # Removing a line by its quantity also answers with the panel: the line is gone.
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
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 2))
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
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 2))
    line = element(client.get(f"/carts/{cart_id}").text, "line-TEA-CHAI")
    less, set_to, more = line.split("<form")[1:4]
    assert 'name="quantity" value="1"' in less
    assert 'name="quantity" type="number"' in set_to
    assert 'name="quantity" value="3"' in more


def test_the_same_quantity_again_records_nothing(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 2))
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/quantity", data={"quantity": "2"})
    assert response.status_code == 303
    assert emit.aggregate(cart_id).version == 2


def test_quantity_zero_removes_the_line(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 1))
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/quantity", data={"quantity": "0"})
    assert response.headers["Location"] == f"/carts/{cart_id}#cart-panel"  # the line is gone
    assert emit.get_state(cart_id).lines == ()


def test_removing_a_line(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 1))
    emit.handle_command(cart_id, AddItem("MILK-OAT", 1))
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
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("SCALE-01", 1))
    emit.handle_command(cart_id, AddItem("FILT-100", 2))
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
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("SCALE-01", 1))
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
    """A double click without JavaScript, or the same page in two tabs, posts the form twice:
    the second finds that page's checkout done and answers as the first did, not with an error."""
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 1))
    form = element(client.get(f"/carts/{cart_id}").text, "cart-panel").split('id="check-out"')[0]
    assert '<input type="hidden" name="version" value="2">' in form
    checkout = f"/carts/{cart_id}/checkout"

    for _ in range(2):
        response = client.post(checkout, data={"version": "2"})
        assert response.status_code == 303
        assert response.headers["Location"] == f"/carts/{cart_id}#cart-panel"
    fragment = client.post(checkout, data={"version": "2"}, headers=HTMX)
    assert fragment.status_code == 200
    panel = element(fragment.text, "cart-panel")
    assert "Receipt" in panel
    assert 'role="alert"' not in panel
    assert emit.aggregate(cart_id).version == 3  # checked out once


def test_a_checkout_from_a_page_that_showed_another_cart_is_rejected(
    client: FlaskClient, emit: CartEmit
) -> None:
    """The page showed version 2; another tab added a mug and checked out: not what this
    page's shopper saw, so not their checkout."""
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 1))
    emit.handle_command(cart_id, AddItem("MUG-TRVL", 1))
    emit.handle_command(cart_id, CheckOut())
    response = client.post(f"/carts/{cart_id}/checkout", data={"version": "2"})
    assert response.status_code == 422
    assert "checked out and can no longer change" in element(response.text, "cart-panel")
    malformed = client.post(f"/carts/{cart_id}/checkout", data={"version": "two"})
    assert malformed.status_code == 400
    assert "is not the version of a cart" in malformed.text


# --- rejections: nothing changes, the reason shows next to the action ----------------------


def test_checking_out_an_empty_cart_is_rejected_next_to_the_button(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    response = client.post(f"/carts/{cart_id}/checkout")
    assert response.status_code == 422
    page = response.text
    assert "<html" in page  # without JavaScript: the whole page again
    panel = element(page, "cart-panel")
    after_button = panel.split('id="check-out"', 1)[1]
    assert '<p class="alert" role="alert" tabindex="-1" autofocus>' in after_button
    assert "An empty cart cannot be checked out." in after_button
    assert emit.aggregate(cart_id).version == 1


def test_a_rejection_with_htmx_swaps_the_panel_with_the_reason(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    response = client.post(f"/carts/{cart_id}/checkout", headers=HTMX)
    assert response.status_code == 422
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
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("BEAN-1K", 99))
    data = {"sku": "BEAN-1K", "quantity": "1"}

    page = client.post(f"/carts/{cart_id}/items", data=data)
    assert page.status_code == 422
    card = element(page.text, "product-BEAN-1K")
    assert 'role="alert"' in card
    assert "at most 99 of one product; this one already has 99" in card

    fragment = client.post(f"/carts/{cart_id}/items", data=data, headers=HTMX)
    assert fragment.status_code == 422
    assert fragment.headers["HX-Retarget"] == "#product-BEAN-1K"
    assert fragment.headers["HX-Reswap"] == "outerHTML"
    assert "at most 99 of one product" in element(fragment.text, "product-BEAN-1K")
    assert not has_element(fragment.text, "cart-panel")
    assert emit.aggregate(cart_id).version == 2


def test_a_quantity_over_99_is_rejected_on_its_line(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 1))
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/quantity", data={"quantity": "100"})
    assert response.status_code == 422
    assert "between 1 and 99" in element(response.text, "line-TEA-CHAI")
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
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("TEA-CHAI", 1))
    emit.handle_command(cart_id, CheckOut())
    attempts = [
        (f"/carts/{cart_id}/items", {"sku": "MUG-TRVL", "quantity": "1"}),
        (f"/carts/{cart_id}/lines/TEA-CHAI/quantity", {"quantity": "2"}),
        (f"/carts/{cart_id}/lines/TEA-CHAI/remove", {}),
        (f"/carts/{cart_id}/checkout", {}),
    ]
    for url, data in attempts:
        for headers in ({}, HTMX):
            response = client.post(url, data=data, headers=headers)
            assert response.status_code == 422, url
            assert "checked out and can no longer change" in element(response.text, "cart-panel")
            assert "HX-Retarget" not in response.headers
    assert emit.aggregate(cart_id).version == 3


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

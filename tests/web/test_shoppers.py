"""Shoppers and operators told apart (`CARTS_PUBLIC`): the demo shows everything and says so;
in production a shopper sees and changes only the carts their browser session opened, and an
operator sees them all."""

from __future__ import annotations

from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shop.cart import AddItem
from tests.web.conftest import HTMX, AppFactory, add_operator, open_cart, sign_in
from tests.web.html import element
from webapp.db import get_emit
from webapp.shoppers import KEPT


@pytest.fixture
def private(app_with: AppFactory) -> Flask:
    """The app as in production: the carts are not public."""
    return app_with(CARTS_PUBLIC=False)


# --- the demo: public ----------------------------------------------------------------------------


def test_the_demo_dashboard_says_everything_is_public(client: FlaskClient) -> None:
    note = element(client.get("/").text, "demo-note")
    assert "This is a demo, and everything in it is public" in note
    assert "CARTS_PUBLIC = False" in note


def test_in_the_demo_anyone_sees_and_changes_any_cart(app: Flask) -> None:
    cart_id = open_cart(app.test_client())
    stranger = app.test_client()

    assert stranger.get(f"/carts/{cart_id}").status_code == 200
    assert stranger.get(f"/carts/{cart_id}/history").status_code == 200
    assert stranger.post(f"/carts/{cart_id}/items", data={"sku": "BEAN-250"}).status_code == 303
    assert cart_id in stranger.get("/").text


# --- production: private ---------------------------------------------------------------------


def test_a_shopper_sees_only_the_carts_their_session_opened(private: Flask) -> None:
    get_emit(private).create("cart-someone")
    shopper = private.test_client()
    first, second = open_cart(shopper), open_cart(shopper)
    shopper.post(f"/carts/{first}/items", data={"sku": "BEAN-250", "quantity": "2"})

    page = shopper.get("/").text

    assert "<h1>Your carts</h1>" in page
    assert "demo-note" not in page
    own = element(page, "own-carts")
    assert own.index(second) < own.index(first)  # the newest first
    assert "€25.80" in element(page, f"own-{first}")
    assert "cart-someone" not in page
    assert 'id="cart-table"' not in page  # nor the shop's totals and best sellers
    assert 'id="best-sellers"' not in page
    for url in (f"/carts/{first}", f"/carts/{first}/history", f"/carts/{first}/events.json"):
        assert shopper.get(url).status_code == 200, url


def test_another_shoppers_cart_is_403_and_unchanged(private: Flask) -> None:
    cart_id = open_cart(private.test_client())
    stranger = private.test_client()
    open_cart(stranger)  # a session of its own, with a cart of its own

    for url in (
        f"/carts/{cart_id}",
        f"/carts/{cart_id}/receipt",
        f"/carts/{cart_id}/history",
        f"/carts/{cart_id}/events.json",
        "/carts/cart-nobody-has",  # the same answer whether the cart exists or not
    ):
        response = stranger.get(url)
        assert response.status_code == 403, url
        assert "was not opened in this browser" in response.text
        assert "The dashboard lists the carts you opened here." in response.text
    for url, data in [
        (f"/carts/{cart_id}/items", {"sku": "BEAN-250"}),
        (f"/carts/{cart_id}/lines/BEAN-250/quantity", {"quantity": "3"}),
        (f"/carts/{cart_id}/lines/BEAN-250/remove", {}),
        (f"/carts/{cart_id}/checkout", {}),
    ]:
        assert stranger.post(url, data=data).status_code == 403, url
    htmx = stranger.post(f"/carts/{cart_id}/items", data={"sku": "BEAN-250"}, headers=HTMX)
    assert htmx.status_code == 403
    assert htmx.headers["HX-Retarget"] == "#page-alert"
    assert "Not for you to see" in htmx.text
    assert get_emit(private).aggregate(cart_id, catch_up=True).version == 1  # only opened
    assert stranger.get("/carts/%20bad%20").status_code == 400  # malformed stays malformed


def test_the_read_models_rows_are_not_shown_to_a_shopper(private: Flask) -> None:
    # Their rows are every cart's id, lines and total: what the dashboard keeps from shoppers.
    cart_id = open_cart(private.test_client())
    get_emit(private).handle_command(cart_id, AddItem("BEAN-250"))
    shopper = private.test_client()
    open_cart(shopper)

    page = shopper.get("/read-models")

    assert page.status_code == 200
    assert cart_id not in page.text
    assert "BEAN-250" not in page.text
    assert "Projection <code>carts</code>" in page.text  # what they are and how, all the same
    for query in ("table=read_carts", "table=read_open_lines", "table=read_product_sales"):
        paged = shopper.get(f"/read-models?{query}")
        assert paged.status_code == 403, query
        assert "only the shop's operators may see them" in unescape(paged.text)
    add_operator(private)
    operator = private.test_client()
    assert sign_in(operator).status_code == 303
    assert cart_id in operator.get("/read-models").text
    assert cart_id in operator.get("/read-models?table=read_open_lines", headers=HTMX).text


def test_an_operator_sees_every_cart(private: Flask) -> None:
    emit = get_emit(private)
    cart_id = open_cart(private.test_client())
    emit.handle_command(cart_id, AddItem("BEAN-250"))
    add_operator(private)
    operator = private.test_client()
    assert sign_in(operator).status_code == 303

    page = operator.get("/").text

    assert "<h1>Carts</h1>" in page
    assert cart_id in element(page, "cart-table")
    assert 'id="best-sellers"' in page
    assert "demo-note" not in page  # not the demo
    for url in (f"/carts/{cart_id}", f"/carts/{cart_id}/history", f"/carts/{cart_id}/events.json"):
        assert operator.get(url).status_code == 200, url

    operator.post("/sign-out")
    assert operator.get(f"/carts/{cart_id}").status_code == 403
    assert cart_id not in operator.get("/").text


def test_a_cart_opened_from_the_dashboards_form_is_the_shoppers(private: Flask) -> None:
    shopper = private.test_client()
    form = shopper.get("/").text
    key = form.split('name="key" value="', 1)[1].split('"', 1)[0]

    first = shopper.post("/carts", data={"key": key})
    again = shopper.post("/carts", data={"key": key})  # the form sent twice: one cart

    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    cart_id = first.headers["Location"].rsplit("/", 1)[1]
    assert shopper.get(f"/carts/{cart_id}").status_code == 200
    assert cart_id in element(shopper.get("/").text, "own-carts")
    assert private.test_client().get(f"/carts/{cart_id}").status_code == 403


def test_a_session_remembers_its_newest_carts(private: Flask) -> None:
    shopper = private.test_client()
    opened = [open_cart(shopper) for _ in range(KEPT + 1)]

    assert shopper.get(f"/carts/{opened[0]}").status_code == 403  # the oldest was let go
    assert shopper.get(f"/carts/{opened[1]}").status_code == 200
    assert shopper.get(f"/carts/{opened[-1]}").status_code == 200

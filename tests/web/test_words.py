"""Words a newcomer reads: counts in the singular when there is one, what a figure is, and the
event count as the way to the cart's history."""

from __future__ import annotations

import html

from flask.testing import FlaskClient

from shop.cart import AddItem
from tests.web.conftest import open_cart_with
from tests.web.html import element, tags
from webapp.db import CartEmit


def test_one_cart_loaded_is_one_cart(operator_client: FlaskClient, emit: CartEmit) -> None:
    emit.create("cart-1")
    emit.evict("cart-1")
    emit.aggregate("cart-1")  # loaded from its events: one
    page = operator_client.get("/ops").text
    assert "1 cart loaded from events" in page
    assert "1 carts" not in page
    assert "0 conflicts retried" in page
    assert "1 miss," in page


def test_best_sellers_say_they_are_a_top_five(client: FlaskClient) -> None:
    title = element(client.get("/").text, "best-sellers-title")
    assert "top 5, by items sold" in title


def test_the_event_count_links_to_the_history(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 1))
    label = element(client.get(f"/carts/{cart_id}").text, "cart-version")
    assert label.startswith("<a ")
    assert "2 events" in label
    (link,) = [attrs for tag, attrs in tags(label) if tag == "a"]
    assert link["href"] == f"/carts/{cart_id}/history"
    assert client.get(f"/carts/{cart_id}/history").status_code == 200


def test_a_line_quantity_below_zero_says_zero_is_allowed(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 2))
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/quantity", data={"quantity": "-1"})
    assert response.status_code == 303  # without JavaScript, back to the cart, which says why
    page = client.get(response.headers["Location"]).text
    assert "A line's quantity is 0 to 99; 0 removes the line." in html.unescape(page)

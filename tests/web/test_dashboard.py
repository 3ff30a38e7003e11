"""The dashboard through HTTP: every cart, its figures, the shop's totals, keyset paging."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from shop.cart import AddItem, CheckOut, RemoveLine
from tests.web.conftest import HTMX
from tests.web.html import element
from webapp.db import CartEmit


def rows(html: str) -> list[str]:
    return re.findall(r'<a class="cart-id" href="/carts/([^"]+)">', html)


def test_an_empty_shop(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "No carts yet." in response.text
    totals = element(response.text, "totals")
    assert "€0.00" in totals
    assert 'aria-label="none yet"' in totals  # no average order without orders


def test_every_cart_with_its_status_lines_items_total_and_activity(
    client: FlaskClient, emit: CartEmit
) -> None:
    emit.create("cart-a")
    emit.handle_command("cart-a", AddItem("BEAN-250", 2))
    emit.handle_command("cart-a", AddItem("FILT-100", 1))
    emit.create("cart-b")
    emit.handle_command("cart-b", AddItem("KETL-GOOSE", 1))
    emit.handle_command("cart-b", CheckOut())
    emit.create("cart-c")

    page = client.get("/").text
    assert rows(page) == ["cart-a", "cart-b", "cart-c"]
    table = element(page, "cart-table")
    row_a = table.split("cart-a</a>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">\s*(\d+)', row_a) == ["2", "3"]  # lines, items
    assert "€32.30" in row_a
    assert "Open" in row_a
    assert "just now" in row_a
    assert 'href="/carts/cart-a">View cart' in row_a
    row_b = table.split("cart-b</a>", 1)[1].split("</tr>", 1)[0]
    assert "Checked out" in row_b
    assert "€59.00" in row_b

    totals = element(page, "totals")
    assert re.findall(r'stat__value">\s*([^<\s]+)', totals) == ["2", "1", "€59.00", "€59.00"]


def test_revenue_adds_up_every_checkout(client: FlaskClient, emit: CartEmit) -> None:
    for cart_id, sku in [("c1", "BEAN-250"), ("c2", "BEAN-1K"), ("c3", "MUG-TRVL")]:
        emit.create(cart_id)
        emit.handle_command(cart_id, AddItem(sku, 1))
    emit.handle_command("c1", CheckOut())
    emit.handle_command("c2", CheckOut())
    emit.handle_command("c3", RemoveLine("MUG-TRVL"))
    totals = element(client.get("/").text, "totals")
    assert re.findall(r'stat__value">\s*([^<\s]+)', totals) == ["1", "2", "€54.90", "€27.45"]


def test_carts_come_a_page_at_a_time(app: Flask, client: FlaskClient, emit: CartEmit) -> None:
    app.config["CARTS_PER_PAGE"] = 2
    for n in range(5):
        emit.create(f"cart-{n}")

    first = client.get("/").text
    assert rows(first) == ["cart-0", "cart-1"]
    assert 'href="/?after=cart-1"' in first
    assert "First page" not in first

    second = client.get("/?after=cart-1").text
    assert rows(second) == ["cart-2", "cart-3"]
    assert 'href="/?after=cart-3"' in second
    assert "First page" in second

    last = client.get("/?after=cart-3").text
    assert rows(last) == ["cart-4"]
    assert "Next page" not in last

    assert "No carts after cart-4" in client.get("/?after=cart-4").text


def test_the_pager_fetches_only_the_table_with_htmx(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    app.config["CARTS_PER_PAGE"] = 2
    for n in range(3):
        emit.create(f"cart-{n}")
    page = client.get("/")
    assert "HX-Request" in page.vary
    pager_link = re.search(r'<a class="button" href="([^"]+)" hx-get="([^"]+)"', page.text)
    assert pager_link is not None
    assert pager_link[1] == pager_link[2] == "/?after=cart-1"
    assert 'hx-target="#cart-table"' in page.text
    assert 'hx-push-url="true"' in page.text

    response = client.get("/?after=cart-1", headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response.vary
    assert response.text.lstrip().startswith('<section id="cart-table"')
    assert rows(response.text) == ["cart-2"]
    assert "totals" not in response.text
    assert "<html" not in response.text


def test_a_history_restore_gets_the_whole_page(client: FlaskClient) -> None:
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    assert "<html" in client.get("/", headers=headers).text


def test_the_dashboard_shows_what_other_processes_stored(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    from emit import Emit, SqlEventStore
    from shop.cart import cart_decider
    from webapp.read_models import PROJECTIONS

    emit.create("cart-a")
    assert "€0.00" in element(client.get("/").text, "cart-table")  # now in this app's pool
    url = app.config["EMIT_STORE_URL"]
    with Emit(cart_decider, store=SqlEventStore(url), projections=PROJECTIONS) as other:
        other.handle_command("cart-a", AddItem("GRIND-HND", 1))
    assert "€69.00" in element(client.get("/").text, "cart-table")

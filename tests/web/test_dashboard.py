"""The dashboard through HTTP: every cart, its figures, the shop's totals, keyset paging."""

from __future__ import annotations

import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shop.cart import AddItem, CheckOut, RemoveLine
from tests.web.conftest import HTMX, make_app
from tests.web.html import element, has_element
from webapp.db import CartEmit, get_emit


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
    assert rows(page) == ["cart-c", "cart-b", "cart-a"]  # newest activity first
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


def pager_links(html: str) -> dict[str, str]:
    """The pager's links, by label ("First page", "Next page"), unescaped."""
    table = element(html, "cart-table")
    links = re.findall(r'<a class="button" href="([^"]+)"[^>]*>([^<]+)<', table)
    return {label.strip(" ←→"): unescape(href) for href, label in links}


def test_carts_come_a_page_at_a_time(app: Flask, client: FlaskClient, emit: CartEmit) -> None:
    app.config["CARTS_PER_PAGE"] = 2
    for n in range(5):
        emit.create(f"cart-{n}")

    first = client.get("/").text
    assert rows(first) == ["cart-4", "cart-3"]
    assert "First page" not in first

    second = client.get(pager_links(first)["Next page"]).text
    assert rows(second) == ["cart-2", "cart-1"]
    assert "First page" in second
    assert pager_links(second)["First page"] == "/"

    # cart-4 changes in between: it moves to the top, and the pages after stay as they were.
    emit.handle_command("cart-4", AddItem("BEAN-250"))
    last = client.get(pager_links(second)["Next page"]).text
    assert rows(last) == ["cart-0"]
    assert "Next page" not in last
    assert rows(client.get("/").text) == ["cart-4", "cart-3"]


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
    assert pager_link[1] == pager_link[2]
    assert pager_link[1].startswith("/?after=cart-1&amp;after_activity=")
    assert 'hx-target="#cart-table"' in page.text
    assert 'hx-push-url="true"' in page.text

    response = client.get(unescape(pager_link[1]), headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response.vary
    assert response.text.lstrip().startswith('<section id="cart-table"')
    assert rows(response.text) == ["cart-0"]
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


def test_carts_filtered_by_status_and_searched_by_id(client: FlaskClient, emit: CartEmit) -> None:
    for cart_id in ["Summer-1", "summer-2", "winter-1", "50%-off", "50-off", "a<script>x"]:
        emit.create(cart_id)
    emit.handle_command("summer-2", AddItem("BEAN-250"))
    emit.handle_command("summer-2", CheckOut())

    assert rows(client.get("/?status=open&search=sum").text) == ["Summer-1"]
    assert rows(client.get("/?status=checked_out").text) == ["summer-2"]
    assert len(rows(client.get("/?status=all").text)) == 6
    assert rows(client.get("/?search=50%25").text) == ["50%25-off"]  # `%`, not a wildcard

    page = client.get("/?search=%3Cscript%3E").text
    assert rows(page) == ["a%3Cscript%3Ex"]  # the link's path, escaped
    assert "<script>x" not in page
    assert 'value="&lt;script&gt;"' in element(page, "cart-filter")
    assert "“&lt;script&gt;”" in element(page, "cart-table-title")

    none = client.get("/?search=autumn").text
    assert "No carts match" in element(none, "cart-table")


def test_the_filter_is_a_get_form_that_htmx_upgrades(client: FlaskClient, emit: CartEmit) -> None:
    emit.create("cart-1")
    form = element(client.get("/?status=open").text, "cart-filter")
    assert 'method="get" action="/"' in form
    assert 'hx-get="/" hx-target="#cart-table"' in form
    assert 'hx-push-url="true"' in form
    assert '<option value="open" selected>' in form
    response = client.get("/?status=checked_out", headers=HTMX)
    assert response.text.lstrip().startswith('<section id="cart-table"')
    assert "No carts match" in response.text


def test_a_filtered_page_keeps_its_filter_in_the_pager(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    app.config["CARTS_PER_PAGE"] = 1
    for cart_id in ["even-0", "odd-1", "even-2"]:
        emit.create(cart_id)
    first = client.get("/?search=even").text
    assert rows(first) == ["even-2"]
    second = client.get(pager_links(first)["Next page"]).text
    assert rows(second) == ["even-0"]
    assert pager_links(second)["First page"] == "/?search=even"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=closed", "'closed' is not a status to filter by: choose all, open, checked_out"),
        ("search=" + "x" * 201, "A search is part of a cart id, at most 200 characters"),
        ("after=cart-1", "send both `after` and `after_activity`"),
        ("after=cart-1&after_activity=yesterday", "“yesterday” is not a time"),
    ],
)
def test_a_malformed_filter_is_a_400_that_says_why(
    client: FlaskClient, query: str, message: str
) -> None:
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    assert message in unescape(response.text)


@pytest.mark.parametrize("search", ["ab%00c", "%00", "tab%09bed"])
def test_a_search_with_a_control_character_is_a_400_on_every_database(
    database_url: str, search: str
) -> None:
    # No cart id holds one, and PostgreSQL's text cannot hold a NUL at all: it failed there as
    # an event store failure (503) rather than the searcher's mistake.
    app = make_app(database_url)
    try:
        get_emit(app).create("cart-1")
        response = app.test_client().get(f"/?search={search}")
        assert response.status_code == 400
        assert "cart ids have no control characters" in unescape(response.text)
        assert rows(app.test_client().get("/").text) == ["cart-1"]
    finally:
        get_emit(app).close()


def test_every_figure_links_to_how_it_is_computed(client: FlaskClient, emit: CartEmit) -> None:
    emit.create("cart-1")
    dashboard = client.get("/").text
    anchors = re.findall(r'class="figure-how" href="/read-models#([\w-]+)"', dashboard)
    assert set(anchors) == {
        "how-open-carts",
        "how-checked-out",
        "how-revenue",
        "how-average-order",
        "how-best-sellers",
        "how-cart-rows",
    }
    read_models = client.get("/read-models").text
    for anchor in anchors:
        assert has_element(read_models, anchor)

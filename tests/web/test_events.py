"""The event explorer's pages: the log (`/events`) with its filters and keyset pages, one event
(`/events/<position>`) with its command and what it caused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emit import CommandRejected, LogFilter
from shop.cart import AddItem, CheckOut
from tests.web.conftest import HTMX, AppFactory, add_operator, sign_in
from tests.web.html import element, has_element
from webapp.db import CartEmit, get_engine, get_policies
from webapp.receipts import jam_printer


def rows(html: str) -> list[int]:
    """The positions the log's list shows, in order."""
    return [int(p) for p in re.findall(r'id="log-(\d+)" data-position', html)]


def older(html: str) -> str | None:
    found = re.search(r'id="log-older-top" href="([^"]+)"', html)
    return None if found is None else found.group(1).replace("&amp;", "&")


def newer(html: str) -> str | None:
    found = re.search(r'id="log-newer-top" href="([^"]+)"', html)
    return None if found is None else found.group(1).replace("&amp;", "&")


@pytest.fixture
def two_carts(emit: CartEmit) -> CartEmit:
    """cart-a: 1 opened, 3 beans, 5 checked out; cart-b: 2 opened, 4 a mug (correlation
    `req-b`)."""
    emit.create("cart-a")
    emit.create("cart-b")
    emit.handle_command("cart-a", AddItem("BEAN-250", 2))
    emit.handle_command("cart-b", AddItem("MUG-TRVL"), metadata={"correlation_id": "req-b"})
    emit.handle_command("cart-a", CheckOut())
    return emit


def test_the_log_lists_every_carts_events_newest_first(
    client: FlaskClient, two_carts: CartEmit
) -> None:
    page = client.get("/events").text
    assert rows(page) == [5, 4, 3, 2, 1]
    row = element(page, "log-4")
    assert "Added 1 × Travel mug" in row
    assert 'href="/events/4"' in row
    assert 'href="/carts/cart-b/history?version=2"' in row  # the cart at that version
    assert ">cart-b@2<" in row
    assert "<code>ItemAdded</code>" in row
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[\d:]+Z"', row)
    assert has_element(page, "explain-events")
    assert newer(page) is None
    assert older(page) is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=ItemAdded", [4, 3]),
        ("type=CartCheckedOut", [5]),
        ("cart=cart-a", [5, 3, 1]),
        ("cart=cart-b&type=ItemAdded", [4]),
        ("correlation=req-b", [4]),
        ("correlation=nothing-here", []),
    ],
)
def test_each_filter_keeps_its_events(
    client: FlaskClient, two_carts: CartEmit, query: str, expected: list[int]
) -> None:
    page = client.get(f"/events?{query}").text
    assert rows(page) == expected
    if not expected:
        assert has_element(page, "log-empty")


def test_the_time_filters_take_a_date_or_a_moment(client: FlaskClient, two_carts: CartEmit) -> None:
    third = two_carts.event_at(3)
    assert third is not None
    moment = third.recorded_at
    everything = two_carts.log()
    since = [e.position for e in everything if e.recorded_at >= moment]
    until = [e.position for e in everything if e.recorded_at < moment]
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert rows(client.get(f"/events?since={stamp}").text) == since
    assert rows(client.get(f"/events?until={stamp}").text) == until
    day = moment.date()
    assert rows(client.get(f"/events?since={day}&until={day}").text) == [5, 4, 3, 2, 1]
    assert rows(client.get(f"/events?until={day - timedelta(days=1)}").text) == []
    assert rows(client.get(f"/events?since={day + timedelta(days=1)}").text) == []


@pytest.mark.parametrize(
    ("query", "field", "why"),
    [
        ("type=Shipped", "type", "there is no event type “Shipped”"),
        ("cart=%20%01x", "cart", "is not a cart id"),
        ("since=yesterday", "since", "is not a time"),
        ("until=2026-13-01", "until", "is not a date"),
        ("since=2026-12-05&until=2026-12-04", "until", "must be after its since"),
        ("before=-3", "before", "is not a position"),
        ("after=x1", "after", "is not a position"),
        ("before=5&after=2", "after", "not both"),
        ("correlation=" + "c" * 201, "correlation", "at most 200 characters"),
    ],
)
def test_a_malformed_filter_is_a_400_that_names_it_and_changes_nothing(
    client: FlaskClient, two_carts: CartEmit, query: str, field: str, why: str
) -> None:
    head = two_carts.store.head_position()
    response = client.get(f"/events?{query}")
    assert response.status_code == 400
    assert f"The filter “{field}” is not valid" in response.text
    assert why in response.text
    assert two_carts.store.head_position() == head


def test_paging_without_javascript_follows_older_then_newer_links_through_the_log(
    client: FlaskClient, emit: CartEmit
) -> None:
    for n in range(17):
        emit.create(f"cart-{n}")
        for sku in ("BEAN-250", "FILT-100", "MUG-TRVL"):
            emit.handle_command(f"cart-{n}", AddItem(sku))
    added = [e.position for e in emit.log(LogFilter("ItemAdded"), limit=1000)]
    assert len(added) == 51  # two pages: 50 and 1

    first = client.get("/events?type=ItemAdded").text  # a filter the links must keep
    seen, page, pages = rows(first), first, 1
    while (link := older(page)) is not None:
        assert "type=ItemAdded" in link
        page = client.get(link).text
        seen += rows(page)
        pages += 1
    assert seen == added  # every one once, newest first
    assert pages == 2

    while (link := newer(page)) is not None:
        assert "type=ItemAdded" in link
        page = client.get(link).text
    assert rows(page) == rows(first)  # back at the newest page


def test_htmx_swaps_the_list_and_pushes_a_shareable_url(
    client: FlaskClient, two_carts: CartEmit
) -> None:
    response = client.get("/events?cart=cart-a", headers=HTMX)
    assert response.headers["HX-Push-Url"] == "/events?cart=cart-a"
    assert response.text.lstrip().startswith('<section id="log"')
    assert rows(response.text) == [5, 3, 1]
    page = client.get("/events").text
    assert 'hx-target="#log"' in element(page, "log-filters")
    assert 'hx-push-url="true"' in element(page, "log-filters")


def test_a_cart_id_with_markup_is_escaped(client: FlaskClient, emit: CartEmit) -> None:
    emit.create("<script>alert(1)</script>")
    for url in ("/events", "/events/1", "/events?cart=%3Cscript%3Ealert(1)%3C/script%3E"):
        page = client.get(url).text
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_every_page_links_to_the_log(client: FlaskClient, two_carts: CartEmit) -> None:
    for url in ("/", "/carts/cart-a", "/carts/cart-a/history", "/events", "/events/1"):
        assert 'id="nav-events"' in client.get(url).text


def test_the_log_is_for_those_who_may_see_every_cart(app_with: AppFactory) -> None:
    app = app_with(CARTS_PUBLIC=False)
    client = app.test_client()
    for url in ("/events", "/events/1"):
        response = client.get(url)
        assert response.status_code == 403
        assert "operators may read it" in response.text
    add_operator(app)
    sign_in(client)
    assert client.get("/events").status_code == 200


# --- one event ----------------------------------------------------------------------------------


def test_an_unknown_position_is_a_404_that_says_so(
    client: FlaskClient, two_carts: CartEmit
) -> None:
    response = client.get("/events/99")
    assert response.status_code == 404
    assert "There is no event at position 99" in response.text


def test_an_event_shows_its_payload_metadata_and_command(
    client: FlaskClient, two_carts: CartEmit
) -> None:
    page = client.get("/events/4").text
    payload = element(page, "event-payload")
    assert "&#34;sku&#34;: &#34;MUG-TRVL&#34;" in payload
    assert "&#34;correlation_id&#34;: &#34;req-b&#34;" in payload
    assert "<code>AddItem</code>" in element(page, "event-command")
    assert has_element(page, "same-command-alone")
    assert 'href="/events?correlation=req-b"' in element(page, "event-correlated")
    assert 'href="/carts/cart-b/history?version=2"' in element(page, "event-cart")


def test_a_checkouts_tree_holds_its_receipt(
    app: Flask, client: FlaskClient, two_carts: CartEmit
) -> None:
    get_policies(app).catch_up()
    tree = element(client.get("/events/5").text, "causation-tree")
    assert 'href="/events/5" aria-current="page"' in tree
    assert '<a href="/carts/cart-a/receipt">Receipt R-000001 issued</a>' in tree


def test_a_failed_receipts_tree_holds_its_dead_letter_and_its_attempts(
    app: Flask, client: FlaskClient, two_carts: CartEmit
) -> None:
    jam_printer(get_engine(app), True)
    get_policies(app).catch_up()  # 4 attempts, then a dead letter
    (letter,) = get_policies(app).dead_letters()
    tree = element(client.get("/events/5").text, "causation-tree")
    assert f'href="/ops/dead-letters/{letter.id}"' in tree
    assert "gave up after 4 attempts" in tree
    assert "PrinterJammed: The receipt printer is jammed" in tree
    assert "Receipt" not in tree

    with pytest.raises(Exception, match="jammed"):  # an operator's retry fails too
        get_policies(app).retry_dead_letter(letter.id)
    assert "gave up after 5 attempts" in element(client.get("/events/5").text, "causation-tree")


def _refuse(emit: CartEmit, cart_id: str, quantity: int) -> None:
    with pytest.raises(CommandRejected):
        emit.handle_command(cart_id, AddItem("MILK-OAT", quantity))


def test_refused_commands_are_listed_instead_of_events_and_change_no_version(
    client: FlaskClient, two_carts: CartEmit
) -> None:
    head = two_carts.store.head_position()
    _refuse(two_carts, "cart-b", 100)
    _refuse(two_carts, "cart-a", 2)  # cart-a is checked out: it takes no change
    assert two_carts.store.head_position() == head
    assert two_carts.store.stream_version("cart-b") == 2

    page = client.get("/events?refused=1").text
    assert rows(page) == []  # no events: refusals only
    assert "Not events: a refused command changed nothing" in page
    listed = re.findall(r'id="refusal-(\d+)"', page)
    assert len(listed) == 2
    newest, oldest = (element(page, f"refusal-{n}") for n in listed)
    assert "cart-a" in newest
    assert "Refused: add 100 × Oat milk" in oldest
    assert 'href="/carts/cart-b/history?version=2"' in oldest  # the version it was decided on
    assert 'id="filter-refused" checked' in page

    by_cart = client.get("/events?refused=1&cart=cart-b").text
    assert len(re.findall(r'id="refusal-\d+"', by_cart)) == 1
    assert "cart-a" not in element(by_cart, "refused-rows")


def test_refused_commands_page_older_without_javascript(app_with: AppFactory) -> None:
    app = app_with(EMIT_REFUSAL_RETENTION=1000)
    client = app.test_client()
    with app.app_context():
        from webapp.db import get_emit

        emit = get_emit()
        emit.create("cart-r")
        for quantity in range(100, 100 + 55):
            _refuse(emit, "cart-r", quantity)
    seen: list[str] = []
    url: str | None = "/events?refused=1"
    while url is not None:
        page = client.get(url).text
        seen += re.findall(r'id="refusal-(\d+)"', page)
        found = re.search(r'id="log-older" href="([^"]+)"', page)
        url = None if found is None else found.group(1).replace("&amp;", "&")
        assert url is None or "refused=1" in url
    assert len(seen) == 55 == len(set(seen))
    assert [int(n) for n in seen] == sorted((int(n) for n in seen), reverse=True)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("refused=yes", "write refused=1"),
        ("refused=1&type=ItemAdded", "filtered by cart only, not by type"),
        ("refused=1&after=3", "paged from the newest"),
    ],
)
def test_a_malformed_refused_filter_is_a_400(
    client: FlaskClient, two_carts: CartEmit, query: str, why: str
) -> None:
    response = client.get(f"/events?{query}")
    assert response.status_code == 400
    assert why in response.text


def test_only_the_newest_page_follows_the_log(client: FlaskClient, two_carts: CartEmit) -> None:
    newest = element(client.get("/events?type=ItemAdded").text, "log")
    assert 'hx-trigger="live"' in newest
    assert 'data-live="/live/log" data-live-seen="5"' in newest
    assert 'hx-get="/events?type=ItemAdded"' in newest
    for older_page in ("/events?before=3", "/events?after=1", "/events?refused=1"):
        assert "data-live" not in element(client.get(older_page).text, "log")
    # Its own refresh keeps the address; the pager and the form push theirs.
    refresh = client.get("/events", headers={**HTMX, "HX-Trigger": "log"})
    assert "HX-Push-Url" not in refresh.headers or refresh.headers["HX-Push-Url"] == "false"
    assert client.get("/events", headers=HTMX).headers["HX-Push-Url"] == "/events"

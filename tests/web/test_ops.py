"""Receipts (a policy) and the operations page: subscribers, dead letters with Retry and Skip,
the pool with Evict, the counters, and the demo's receipt-printer switch."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from emit import Emit
from emit.subscribers.dead_letters import DeadLetters
from shop.cart import AddItem, CheckOut
from tests.web.conftest import HTMX, add_operator, open_cart, sign_in
from tests.web.html import element
from webapp.db import CartEmit, get_engine, get_policies
from webapp.receipts import find_receipt, jam_printer, receipts


@pytest.fixture
def client(operator_client: FlaskClient) -> FlaskClient:
    """Every test here works the operations page, so as a signed-in operator (what anonymous
    visitors get is in test_auth.py)."""
    return operator_client


def checked_out(emit: CartEmit, cart_id: str = "cart-1") -> str:
    emit.create(cart_id)
    emit.handle_command(cart_id, AddItem("BEAN-250", 2))
    emit.handle_command(cart_id, CheckOut())
    return cart_id


def receipt_count(app: Flask) -> int:
    with get_engine(app).connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(receipts)).scalar())


def parked(app: Flask, emit: CartEmit) -> int:
    """Check a cart out with the printer jammed, until its receipt is a dead letter; its id."""
    jam_printer(get_engine(app), True)
    checked_out(emit)
    get_policies(app).catch_up()
    (letter,) = get_policies(app).dead_letters()
    return letter.id


# --- receipts ----------------------------------------------------------------------------------


def test_a_checkout_gets_one_receipt_once_the_policy_has_run(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = checked_out(emit)
    pending = client.get(f"/carts/{cart_id}").text
    assert "Your receipt is being issued." in pending
    assert f'hx-get="/carts/{cart_id}/receipt" hx-trigger="load delay:2s"' in pending

    get_policies(app).catch_up()
    get_policies(app).catch_up()

    receipt = find_receipt(get_engine(app), cart_id)
    assert receipt is not None
    # The first receipt: its own sequence, not the checkout's position (3), which it keeps.
    assert (receipt.number, receipt.total, receipt.item_count) == ("R-000001", 2580, 2)
    assert receipt.checkout_position == 3
    assert receipt_count(app) == 1
    fragment = client.get(f"/carts/{cart_id}/receipt", headers=HTMX).text
    assert fragment.lstrip().startswith('<p id="receipt-number"')
    assert 'Receipt <strong class="receipt__number">R-000001</strong>' in fragment
    assert "hx-get" not in fragment  # no more asking
    page = client.get(f"/carts/{cart_id}/receipt").text  # a plain browser gets the page
    assert "<h1>" in page
    assert "R-000001" in page


def test_with_the_printer_jammed_a_receipt_is_retried_then_parked(
    app: Flask, emit: CartEmit
) -> None:
    letter_id = parked(app, emit)

    letter = get_policies(app).dead_letter(letter_id)
    assert (letter.policy, letter.event_type, letter.aggregate_id) == (
        "receipts",
        "CartCheckedOut",
        "cart-1",
    )
    assert letter.attempts == app.config["RECEIPTS_MAX_ATTEMPTS"]
    assert letter.error.startswith("PrinterJammed: The receipt printer is jammed")
    assert find_receipt(get_engine(app), "cart-1") is None
    checked_out(emit, "cart-2")  # later checkouts still go through the policy (and park too)
    get_policies(app).catch_up()
    assert len(get_policies(app).dead_letters()) == 2


# --- the operations page ----------------------------------------------------------------------


def test_the_page_shows_subscribers_pool_counters_and_the_switch(
    client: FlaskClient, emit: CartEmit
) -> None:
    open_cart(client)
    checked_out(emit)

    page = client.get("/ops").text

    subscribers = element(page, "ops-subscribers")
    for name, kind in [("best_sellers", "projection"), ("carts", "projection")]:
        row = element(subscribers, f"subscriber-{name}")
        assert kind in row
        assert "up to date" in row
    receipts_row = element(subscribers, "subscriber-receipts")
    assert "stopped" in receipts_row  # no runner in the test app
    # Its checkpoint and the head (each cell labelled for a phone: data-label).
    assert re.search(
        r'<td class="num"[^>]*>\s*0\s*</td>\s*<td class="num"[^>]*>\s*4\s*</td>', receipts_row
    )
    assert "No dead letters" in page
    assert element(page, "live-cart-1")
    assert 'id="printer-switch"' in page
    assert "Jam the printer" in page
    assert "Commands handled" in page
    # Live: each part asks for itself again when an event is appended, and every 10 s.
    assert 'hx-trigger="live, every 10s"' in page
    assert 'data-live="/live/log"' in page


def test_htmx_refreshes_each_part_only_when_it_changed(client: FlaskClient) -> None:
    page = client.get("/ops").text
    refresh = re.search(r'hx-get="(/ops\?part=live&amp;seen=[0-9a-f]+)"', page)
    assert refresh is not None
    url = refresh[1].replace("&amp;", "&")
    response = client.get(url.replace("seen=", "seen=x"), headers=HTMX)
    assert response.text.lstrip().startswith('<section id="ops-live"')
    assert "<html" not in response.text
    assert "HX-Request" in response.headers["Vary"]
    refresh = re.search(r'hx-get="(/ops\?part=live&amp;seen=[0-9a-f]+)"', response.text)
    assert refresh is not None
    assert refresh[1].replace("&amp;", "&") == url  # the same content, the same digest

    unchanged = client.get(url, headers=HTMX)
    assert (unchanged.status_code, unchanged.text) == (204, "")

    open_cart(client)
    changed = client.get(url, headers=HTMX)
    assert changed.status_code == 200
    assert 'id="live-cart-' in changed.text
    assert client.get(url).status_code == 200  # a plain browser always gets the page
    assert client.get("/ops?part=nope", headers=HTMX).status_code == 400


def test_retrying_a_dead_letter_after_the_fix_issues_the_receipt_once(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    letter_id = parked(app, emit)
    assert f'id="retry-{letter_id}"' in client.get("/ops").text

    still = client.post(f"/ops/dead-letters/{letter_id}/retry")  # the printer is still jammed
    # Without JavaScript: back to /ops, which says it once, focused; a reload retries nothing.
    assert still.status_code == 303
    assert still.headers["Location"] == "/ops"
    page = client.get("/ops")
    assert page.status_code == 200
    assert "failed again" in element(page.text, "ops-subscribers")
    assert '<p class="alert" role="alert" tabindex="-1" autofocus>' in page.text
    assert 'role="alert"' not in client.get("/ops").text
    htmx = client.post(f"/ops/dead-letters/{letter_id}/retry", headers=HTMX)
    assert htmx.status_code == 422
    assert "failed again" in element(htmx.text, "ops-subscribers")

    fixed = client.post("/ops/receipt-printer", data={"jammed": "0"})
    assert fixed.status_code == 303
    assert "The receipt printer works again" in client.get("/ops").text
    done = client.post(f"/ops/dead-letters/{letter_id}/retry", headers=HTMX)

    assert done.status_code == 200
    assert done.text.lstrip().startswith('<section id="ops-subscribers"')
    assert f"Dead letter {letter_id} was handled" in done.text
    assert "No dead letters" in done.text
    assert receipt_count(app) == 1
    assert client.post(f"/ops/dead-letters/{letter_id}/retry").status_code == 404
    get_policies(app).catch_up()
    assert receipt_count(app) == 1


def test_skipping_a_dead_letter_drops_it(app: Flask, client: FlaskClient, emit: CartEmit) -> None:
    letter_id = parked(app, emit)

    response = client.post(f"/ops/dead-letters/{letter_id}/skip")

    assert response.status_code == 303
    page = client.get("/ops").text
    assert f"Dead letter {letter_id} was skipped" in page
    assert "No dead letters" in page
    assert receipt_count(app) == 0
    assert client.post(f"/ops/dead-letters/{letter_id}/skip").status_code == 404


def test_a_dead_letter_being_retried_elsewhere_is_a_409(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    letter_id = parked(app, emit)
    DeadLetters(get_engine(app)).claim(letter_id, "another process", ttl=60)

    for action in ("retry", "skip"):
        response = client.post(f"/ops/dead-letters/{letter_id}/{action}", headers=HTMX)
        assert response.status_code == 409
        assert "being retried elsewhere" in response.text
        plain = client.post(f"/ops/dead-letters/{letter_id}/{action}")
        assert (plain.status_code, plain.headers["Location"]) == (303, "/ops")
        alert = element(client.get("/ops").text, "ops-subscribers").split('role="alert"')[1]
        assert "being retried elsewhere" in alert
    assert "being retried" in client.get("/ops").text


def test_a_dead_letter_page_shows_its_traceback(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    letter_id = parked(app, emit)
    page = client.get(f"/ops/dead-letters/{letter_id}").text
    assert "Traceback (most recent call last)" in page
    assert "PrinterJammed" in page
    assert client.get("/ops/dead-letters/999").status_code == 404


def test_evict_lets_the_pool_drop_a_cart(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart(client)
    assert cart_id in emit.pool

    response = client.post(f"/ops/pool/{cart_id}/evict", headers=HTMX)

    assert response.status_code == 200
    assert f"{cart_id} left the pool" in response.text
    assert cart_id not in emit.pool
    again = client.post(f"/ops/pool/{cart_id}/evict")
    assert again.status_code == 303
    assert f"{cart_id} was not in the pool" in client.get("/ops").text
    assert client.post("/ops/pool/%20bad%20/evict").status_code == 400


def test_the_printer_switch_is_shared_and_checked(app: Flask, client: FlaskClient) -> None:
    assert client.post("/ops/receipt-printer", data={"jammed": "1"}).status_code == 303
    assert "Fix the printer" in client.get("/ops").text
    assert client.post("/ops/receipt-printer", data={"jammed": "maybe"}).status_code == 400


@pytest.mark.parametrize("url", ["/ops", "/ops/dead-letters/1"])
def test_what_a_policy_said_is_escaped(
    app: Flask, client: FlaskClient, emit: CartEmit, url: str
) -> None:
    cart_id = checked_out(emit)
    letters = DeadLetters(get_engine(app))
    stored = emit.store.read_all()[-1]
    with get_engine(app).begin() as connection:
        letters.park(
            connection,
            "receipts",
            stored,
            error="<script>alert(1)</script>",
            traceback="<b>bold</b>",
            attempts=1,
        )
    page = client.get(url).text
    assert "<script>alert" not in page
    assert "<b>bold" not in page
    assert cart_id in page


def test_the_runner_starts_with_the_first_request_when_asked(sqlite_url: str) -> None:
    from tests.web.conftest import make_app
    from webapp.db import get_emit

    app = make_app(sqlite_url, EMIT_RUN_POLICIES=True, EMIT_POLICIES_POLL_INTERVAL=0.05)
    subscribers = get_policies(app)
    try:
        assert not subscribers.running  # making the app started nothing
        client = app.test_client()
        cart_id = open_cart(client)
        assert subscribers.running
        client.post(f"/carts/{cart_id}/items", data={"sku": "TEA-CHAI"})
        client.post(f"/carts/{cart_id}/checkout")
        subscribers.stop()
        subscribers.catch_up(timeout=5)  # whatever the thread had not done yet
        assert find_receipt(get_engine(app), cart_id) is not None
    finally:
        subscribers.stop()
        emit: Emit[object, object, object] = get_emit(app)  # type: ignore[assignment]
        emit.close()


def test_a_refresh_ignores_the_forms_fresh_csrf_tokens(sqlite_url: str) -> None:
    import time

    from tests.web.conftest import make_app
    from webapp.db import get_emit

    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    add_operator(app)
    client = app.test_client()
    assert sign_in(client).status_code == 303
    page = client.get("/ops").text
    refresh = re.search(r'hx-get="(/ops\?part=subscribers&amp;seen=[0-9a-f]+)"', page)
    assert refresh is not None
    time.sleep(1.1)  # tokens are signed with the time in seconds
    response = client.get(refresh[1].replace("&amp;", "&"), headers=HTMX)
    assert response.status_code == 204
    get_emit(app).close()

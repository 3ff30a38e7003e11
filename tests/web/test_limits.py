"""Rate limits (webapp/limits.py): new carts and actions per client, commands per cart, on every
POST route; 429 with Retry-After and a message, as a page or in the alert region with htmx; a
refused request stores nothing. The limits are turned down here, never off."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.web.conftest import HTMX, add_operator, make_app, sign_in
from webapp.db import get_emit


@pytest.fixture
def limited(sqlite_url: str) -> Iterator[Flask]:
    app = make_app(
        sqlite_url,
        RATE_LIMIT_NEW_CARTS="2 per minute",
        RATE_LIMIT_ACTIONS="4 per minute",
        RATE_LIMIT_CART_COMMANDS="3 per minute",
    )
    yield app
    get_emit(app).close()


def client_at(app: Flask, address: str) -> FlaskClient:
    """A client seen from `address`: the limits count per client address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def assert_refused(response: TestResponse, message: str) -> None:
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 61
    text = response.text
    assert "Too many requests." in text or "Too many requests</h1>" in text
    assert message in text
    assert "Nothing was changed; try again in" in text


def test_a_client_opens_so_many_carts_a_minute(limited: Flask) -> None:
    shopper = client_at(limited, "10.0.0.1")
    assert [shopper.post("/carts").status_code for _ in range(2)] == [303, 303]
    refused = shopper.post("/carts")
    assert_refused(refused, "Too many new carts from your address: at most 2 per minute.")
    assert "<html" in refused.text  # without JavaScript: a whole page
    assert re.search(r"try again in \d+ seconds\.", refused.text)
    assert get_emit(limited).count_aggregates() == 2

    # Another address is another client.
    assert client_at(limited, "10.0.0.2").post("/carts").status_code == 303
    assert get_emit(limited).count_aggregates() == 3


def test_with_htmx_the_message_goes_to_the_alert_region(limited: Flask) -> None:
    shopper = client_at(limited, "10.0.0.1")
    shopper.post("/carts")
    shopper.post("/carts")
    refused = shopper.post("/carts", headers=HTMX)
    assert_refused(refused, "Too many new carts from your address")
    assert refused.headers["HX-Retarget"] == "#page-alert"
    assert refused.text.lstrip().startswith('<div class="alert alert--page" role="alert"')
    assert "<html" not in refused.text


def test_a_client_sends_so_many_actions_a_minute_on_any_cart(limited: Flask) -> None:
    emit = get_emit(limited)
    for cart_id in ("cart-a", "cart-b", "cart-c"):
        emit.create(cart_id)
    shopper = client_at(limited, "10.0.0.1")
    sent = [
        shopper.post("/carts/cart-a/items", data={"sku": "BEAN-250"}),
        shopper.post("/carts/cart-a/items", data={"sku": "MUG-TRVL"}),
        shopper.post("/carts/cart-b/items", data={"sku": "BEAN-250"}),
        shopper.post("/carts/cart-c/items", data={"sku": "BEAN-250"}),
    ]
    assert [response.status_code for response in sent] == [303] * 4
    refused = shopper.post("/carts/cart-c/lines/BEAN-250/quantity", data={"quantity": "7"})
    assert_refused(refused, "Too many changes from your address: at most 4 per minute.")
    assert emit.get_state("cart-c").line("BEAN-250").quantity == 1  # type: ignore[union-attr]

    # Others go on meanwhile.
    other = client_at(limited, "10.0.0.2")
    response = other.post("/carts/cart-c/lines/BEAN-250/quantity", data={"quantity": "7"})
    assert response.status_code == 303
    assert emit.get_state("cart-c").line("BEAN-250").quantity == 7  # type: ignore[union-attr]


def test_a_cart_takes_so_many_commands_a_minute_from_everyone_together(limited: Flask) -> None:
    emit = get_emit(limited)
    emit.create("cart-busy")
    emit.create("cart-calm")
    for number in range(3):
        response = client_at(limited, f"10.0.1.{number}").post(
            "/carts/cart-busy/items", data={"sku": "BEAN-250"}
        )
        assert response.status_code == 303
    late = client_at(limited, "10.0.1.9")
    refused = late.post("/carts/cart-busy/items", data={"sku": "BEAN-250"}, headers=HTMX)
    assert_refused(
        refused, "Too many changes to this cart, from everyone together: at most 3 per minute."
    )
    assert refused.headers["HX-Retarget"] == "#page-alert"
    assert emit.get_state("cart-busy").item_count == 3
    assert emit.aggregate("cart-busy").version == 4

    # The same client may still change another cart.
    assert late.post("/carts/cart-calm/items", data={"sku": "BEAN-250"}).status_code == 303


def test_every_post_route_is_limited_and_no_get_is(sqlite_url: str) -> None:
    app = make_app(
        sqlite_url, RATE_LIMIT_NEW_CARTS="1 per minute", RATE_LIMIT_ACTIONS="1 per minute"
    )
    get_emit(app).create("cart-x")
    samples = {"cart_id": "cart-x", "sku": "BEAN-250", "dead_letter_id": "1"}
    posts = [rule for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())]
    assert len(posts) >= 9  # the cart's five actions and the four of /ops, at least
    for number, rule in enumerate(posts):
        built = rule.build({name: samples.get(name, "x") for name in rule.arguments})
        assert built is not None
        url = built[1]
        client = client_at(app, f"10.0.2.{number}")
        client.post(url, data={"sku": "BEAN-250", "quantity": "1", "jammed": "0"})
        second = client.post(url, data={"sku": "BEAN-250", "quantity": "1", "jammed": "0"})
        assert second.status_code == 429, rule.rule
        assert "Retry-After" in second.headers

    reader = client_at(app, "10.0.3.1")
    for _ in range(5):
        assert reader.get("/").status_code == 200
        assert reader.get("/carts/cart-x").status_code == 200
    assert "Retry-After" not in reader.get("/").headers
    get_emit(app).close()


def test_a_forged_forwarded_address_does_not_dodge_the_limit(limited: Flask) -> None:
    """Without a trusted proxy (TRUSTED_PROXY_COUNT = 0), X-Forwarded-For is the client's own
    claim: it is not believed."""
    shopper = client_at(limited, "10.0.0.1")
    for number in range(2):
        shopper.post("/carts", headers={"X-Forwarded-For": f"192.0.2.{number}"})
    response = shopper.post("/carts", headers={"X-Forwarded-For": "192.0.2.99"})
    assert response.status_code == 429


def test_behind_a_trusted_proxy_each_client_is_counted_on_its_own(sqlite_url: str) -> None:
    app = make_app(sqlite_url, RATE_LIMIT_NEW_CARTS="1 per minute", TRUSTED_PROXY_COUNT=1)
    proxy = client_at(app, "10.0.0.254")  # every request comes from the proxy's address
    first = proxy.post("/carts", headers={"X-Forwarded-For": "192.0.2.1"})
    second = proxy.post("/carts", headers={"X-Forwarded-For": "192.0.2.2"})
    again = proxy.post("/carts", headers={"X-Forwarded-For": "192.0.2.1"})
    assert (first.status_code, second.status_code, again.status_code) == (303, 303, 429)
    get_emit(app).close()


def test_a_mistyped_limit_fails_at_start_up(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="RATE_LIMIT_ACTIONS = 'lots' is not a rate limit"):
        make_app(sqlite_url, RATE_LIMIT_ACTIONS="lots")


def test_a_client_tries_to_sign_in_so_many_times_a_minute(sqlite_url: str) -> None:
    """Guessing an operator's password is slow: after the limit even the right one waits."""
    app = make_app(sqlite_url, RATE_LIMIT_SIGN_IN="3 per minute")
    try:
        add_operator(app)
        guesser = client_at(app, "10.0.0.9")
        wrong = [sign_in(guesser, password=f"guess-{n}").status_code for n in range(3)]
        assert wrong == [401, 401, 401]
        refused = sign_in(guesser)  # the right password, too late
        assert_refused(refused, "Too many tries to sign in from your address: at most 3 per")
        assert guesser.get("/ops").status_code == 303  # still not signed in
        assert sign_in(client_at(app, "10.0.0.10")).status_code == 303  # another client
    finally:
        get_emit(app).close()


def test_a_strangers_refused_requests_do_not_use_up_a_carts_limit(sqlite_url: str) -> None:
    """Carts private: a stranger who knows a cart's id gets 403 for each POST, and these do
    not count against the cart, so its shopper can still act."""
    app = make_app(sqlite_url, CARTS_PUBLIC=False, RATE_LIMIT_CART_COMMANDS="3 per minute")
    try:
        shopper = client_at(app, "10.0.0.1")
        cart_id = shopper.post("/carts").headers["Location"].rsplit("/", 1)[1]
        stranger = client_at(app, "10.0.0.2")
        add = f"/carts/{cart_id}/items"
        assert [stranger.post(add, data={"sku": "BEAN-250"}).status_code for _ in range(5)] == [
            403
        ] * 5
        assert shopper.post(add, data={"sku": "BEAN-250"}).status_code == 303
        assert get_emit(app).aggregate(cart_id).version == 2
    finally:
        get_emit(app).close()

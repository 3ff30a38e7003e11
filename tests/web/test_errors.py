"""Every error path: malformed input is a 400 with a message and changes nothing, unknown carts
and pages are 404, wrong methods 405, oversized bodies 413; our own failures are 500 and 503
pages that reveal nothing. No input produces a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop.cart import AddItem
from tests.web.conftest import HTMX, make_app, open_cart_with
from webapp.db import CartEmit, get_emit


@pytest.fixture
def cart_id(client: FlaskClient, emit: CartEmit) -> str:
    cart_id = open_cart_with(client, emit, AddItem("TEA-CHAI", 2))
    return cart_id


BAD_QUANTITIES = [
    ("abc", "is not a quantity"),
    ("1.5", "is not a quantity"),
    ("1e3", "is not a quantity"),
    ("0x10", "is not a quantity"),
    ("+1", "is not a quantity"),
    ("٣", "is not a quantity"),  # an Arabic-Indic digit: int() would take it, we do not
    ("1 2", "is not a quantity"),
    ("9999", "far too large"),
    ("-9999", "far too large"),
    ("1" * 5000, "far too large"),
    ("<script>alert(1)</script>", "is not a quantity"),
]


@pytest.mark.parametrize(("quantity", "message"), BAD_QUANTITIES)
def test_a_malformed_quantity_is_a_400_and_changes_nothing(
    client: FlaskClient, emit: CartEmit, cart_id: str, quantity: str, message: str
) -> None:
    for url, data in [
        (f"/carts/{cart_id}/items", {"sku": "BEAN-250", "quantity": quantity}),
        (f"/carts/{cart_id}/lines/TEA-CHAI/quantity", {"quantity": quantity}),
    ]:
        response = client.post(url, data=data)
        assert response.status_code == 400
        assert message in response.text
        assert "<script>alert" not in response.text
    assert emit.aggregate(cart_id).version == 2


def test_a_missing_quantity_is_a_400_when_setting_one(client: FlaskClient, cart_id: str) -> None:
    response = client.post(f"/carts/{cart_id}/lines/TEA-CHAI/quantity", data={})
    assert response.status_code == 400
    assert "The quantity is missing." in response.text


@pytest.mark.parametrize(
    ("sku", "message"),
    [
        ("", "is not a product code"),
        ("bean-250", "is not a product code"),
        ("<b>BEAN</b>", "is not a product code"),
        ("B" * 41, "is not a product code"),
        ("NOPE-1", "There is no product NOPE-1 in the catalog."),
    ],
)
def test_a_bad_sku_to_add_is_a_400(
    client: FlaskClient, emit: CartEmit, cart_id: str, sku: str, message: str
) -> None:
    response = client.post(f"/carts/{cart_id}/items", data={"sku": sku, "quantity": "1"})
    assert response.status_code == 400
    assert message in response.text
    assert "<b>BEAN" not in response.text
    assert emit.aggregate(cart_id).version == 2


@pytest.mark.parametrize("sku", ["tea-chai", "%3Cscript%3E", "X" * 300])
def test_a_malformed_sku_in_the_url_is_a_400(client: FlaskClient, cart_id: str, sku: str) -> None:
    for action in ("quantity", "remove"):
        response = client.post(f"/carts/{cart_id}/lines/{sku}/{action}", data={"quantity": "1"})
        assert response.status_code == 400
        assert "is not a product code" in response.text
        assert "<script>" not in response.text


@pytest.mark.parametrize(
    ("cart_id", "reason"),
    [
        ("%00", "control or unprintable"),
        ("%20padded", "surrounding spaces"),
        ("c" * 201, "longer than 200"),
    ],
)
def test_a_malformed_cart_id_is_a_400(client: FlaskClient, cart_id: str, reason: str) -> None:
    for method, url in [
        ("GET", f"/carts/{cart_id}"),
        ("POST", f"/carts/{cart_id}/items"),
        ("POST", f"/carts/{cart_id}/checkout"),
        ("GET", f"/?after={cart_id}"),
    ]:
        response = client.open(url, method=method, data={"sku": "BEAN-250"})
        assert response.status_code == 400, url
        assert "is not a cart id" in response.text
        assert reason in response.text
        assert "\x00" not in response.text


def test_an_unknown_cart_is_a_404_page(client: FlaskClient) -> None:
    for method, url in [
        ("GET", "/carts/cart-nope"),
        ("POST", "/carts/cart-nope/items"),
        ("POST", "/carts/cart-nope/lines/BEAN-250/quantity"),
        ("POST", "/carts/cart-nope/lines/BEAN-250/remove"),
        ("POST", "/carts/cart-nope/checkout"),
    ]:
        response = client.open(url, method=method, data={"sku": "BEAN-250", "quantity": "1"})
        assert response.status_code == 404, url
        assert "There is no cart “cart-nope”." in response.text
        assert "<html" in response.text


def test_errors_for_htmx_land_in_the_page_alert_area(client: FlaskClient) -> None:
    response = client.get("/carts/cart-nope", headers=HTMX)
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#page-alert"
    assert response.headers["HX-Reswap"] == "innerHTML"
    assert response.headers["HX-Push-Url"] == "false"  # the page, and so its URL, stay
    assert "<html" not in response.text
    # tabindex: static/js/alerts.js gives it the focus
    assert '<div class="alert alert--page" role="alert" tabindex="-1">' in response.text
    assert "There is no cart" in response.text


def test_an_unknown_page_is_a_404(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Not found" in response.text
    assert "Go to the dashboard" in response.text


def test_a_wrong_method_is_a_405_that_says_what_is_allowed(
    client: FlaskClient, cart_id: str
) -> None:
    response = client.get(f"/carts/{cart_id}/checkout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "Not allowed" in response.text
    assert client.delete("/").status_code == 405


def test_an_oversized_request_is_a_413(client: FlaskClient, cart_id: str) -> None:
    response = client.post(f"/carts/{cart_id}/items", data={"sku": "B" * 20_000})
    assert response.status_code == 413
    assert "Too much data" in response.text


def test_a_bug_is_a_500_page_that_reveals_nothing(sqlite_url: str) -> None:
    app = make_app(sqlite_url, TESTING=False)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    try:
        client = app.test_client()
        for headers in ({}, HTMX):
            response = client.get("/boom", headers=headers)
            assert response.status_code == 500
            assert "Something went wrong on our side" in response.text
            assert "secret internals" not in response.text
        assert response.headers["HX-Retarget"] == "#page-alert"
    finally:
        get_emit(app).close()


@pytest.fixture
def app_without_tables(sqlite_url: str) -> Iterator[Flask]:
    from webapp import create_app

    app = create_app(
        {
            "TESTING": True,
            "EMIT_STORE_URL": sqlite_url,
            "WTF_CSRF_ENABLED": False,
            "EMIT_RUN_POLICIES": False,
        }
    )
    yield app
    get_emit(app).close()


def test_an_unreachable_store_is_a_503_that_says_what_to_do(app_without_tables: Flask) -> None:
    response = app_without_tables.test_client().get("/")
    assert response.status_code == 503
    assert "flask --app webapp init-db" in response.text
    assert "no such table" not in response.text  # the driver's words go to the log


ANY_TEXT = st.text(max_size=300) | st.sampled_from(["", "1", "99", "100", "-1", "0", "BEAN-250"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sku=ANY_TEXT, quantity=ANY_TEXT, path_sku=ANY_TEXT, htmx=st.booleans())
def test_no_input_produces_a_500(
    client: FlaskClient, cart_id: str, sku: str, quantity: str, path_sku: str, htmx: bool
) -> None:
    headers = HTMX if htmx else {}
    data = {"sku": sku, "quantity": quantity}
    for url in [
        f"/carts/{cart_id}/items",
        f"/carts/{cart_id}/lines/{path_sku}/quantity",
        f"/carts/{cart_id}/lines/{path_sku}/remove",
        f"/carts/{path_sku}/items",
    ]:
        response = client.post(url, data=data, headers=headers)
        # 308: Werkzeug's redirect for a doubled slash in the path, e.g. a sku of "0/".
        assert response.status_code in {200, 303, 308, 400, 404, 405, 413, 422}, (url, data)
    assert client.get(f"/?after={path_sku}", headers=headers).status_code in {200, 400}


NUMBERS = st.integers().map(str) | st.sampled_from(["99999999999999999999999", "-1", "0", "1"])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(number=NUMBERS | ANY_TEXT, text=ANY_TEXT, htmx=st.booleans())
def test_no_input_to_the_operations_page_produces_a_500(
    operator_client: FlaskClient, number: str, text: str, htmx: bool
) -> None:
    client = operator_client  # signed in: the input reaches the views
    headers = HTMX if htmx else {}
    for method, url, data in [
        ("get", f"/ops/dead-letters/{number}", None),
        ("post", f"/ops/dead-letters/{number}/retry", None),
        ("post", f"/ops/dead-letters/{number}/skip", None),
        ("post", f"/ops/pool/{text}/evict", None),
        ("post", "/ops/receipt-printer", {"jammed": text}),
        ("get", f"/ops?part={text}&seen={text}", None),
    ]:
        response = getattr(client, method)(url, data=data, headers=headers)
        assert response.status_code < 500, (method, url, data, response.status_code)


def test_the_page_escapes_what_users_typed(client: FlaskClient, emit: CartEmit) -> None:
    nasty = '<img src=x onerror="alert(1)">'
    response = client.get(f"/carts/{nasty}")
    assert response.status_code == 404
    assert nasty not in response.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in response.text
    # An id emit accepts, shown on every page that lists it.
    emit.create(nasty)
    for url in ("/", f"/carts/{nasty}"):
        page = client.get(url).text
        assert nasty not in page
        assert "&lt;img src=x" in page
    fragment = client.get(f"/carts/{nasty}", headers=HTMX).text
    assert nasty not in fragment
    assert "/carts/%3Cimg%20src=x%20onerror=%22alert(1)%22%3E/checkout" in fragment  # quoted

"""CSRF protection (on, as in production), the security headers, and pages that fit the
Content-Security-Policy: no inline script, style or event handler anywhere. Then what the app
trusts of a request: only its own host names, only bodies with a length, and HTTPS when told."""

from __future__ import annotations

import http.client
import json
import re

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, TestResponse

from shop.cart import AddItem, CheckOut
from tests.web.conftest import HTMX, AppFactory, make_app
from tests.web.html import element, tags
from webapp.db import get_emit
from webapp.live_server import LiveServer


@pytest.fixture
def guarded(app_with: AppFactory) -> Flask:
    """The app with CSRF checks on."""
    return app_with(WTF_CSRF_ENABLED=True)


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    header = json.loads(re.search(r"hx-headers='([^']+)'", page)[1])  # type: ignore[index]
    assert header == {"X-CSRFToken": match[1]}  # htmx sends the same token as a header
    return match[1]


def test_a_post_without_the_token_is_refused(guarded: Flask) -> None:
    client = guarded.test_client()
    client.get("/")
    response = client.post("/carts")
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert "It is out of date or did not come from this site" in response.text
    assert "The CSRF token is missing." in response.text
    assert get_emit(guarded).count_aggregates() == 0


def test_a_post_with_a_forged_token_is_refused(guarded: Flask) -> None:
    client = guarded.test_client()
    client.get("/")
    response = client.post("/carts", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert get_emit(guarded).count_aggregates() == 0


def test_a_token_from_another_session_is_refused(guarded: Flask) -> None:
    token = csrf_token(guarded.test_client())
    response = guarded.test_client().post("/carts", data={"csrf_token": token})
    assert response.status_code == 400
    assert get_emit(guarded).count_aggregates() == 0


def test_a_form_with_the_token_is_accepted(guarded: Flask) -> None:
    client = guarded.test_client()
    response = client.post("/carts", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 303
    assert get_emit(guarded).count_aggregates() == 1


def test_htmx_with_the_token_header_is_accepted(guarded: Flask) -> None:
    client = guarded.test_client()
    token = csrf_token(client)
    cart_id = client.post("/carts", data={"csrf_token": token}).headers["Location"][7:]
    headers = {**HTMX, "X-CSRFToken": token}
    response = client.post(f"/carts/{cart_id}/items", data={"sku": "CUP-ESP2"}, headers=headers)
    assert response.status_code == 200
    assert get_emit(guarded).get_state(cart_id).item_count == 1


def test_htmx_without_the_token_gets_the_message_in_the_alert_area(guarded: Flask) -> None:
    client = guarded.test_client()
    token = csrf_token(client)
    cart_id = client.post("/carts", data={"csrf_token": token}).headers["Location"][7:]
    response = client.post(f"/carts/{cart_id}/checkout", headers=HTMX)
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#page-alert"
    assert "Reload the page and try again." in response.text


def test_every_form_carries_the_token(client: FlaskClient, operator_client: FlaskClient) -> None:
    assert client.get("/sign-in").text.count('name="csrf_token"') == 1
    client = operator_client  # the operations page, and the header's sign-out form
    cart_id = client.post("/carts").headers["Location"][7:]
    get_emit(client.application).handle_command(cart_id, AddItem("BEAN-250"))
    for url in ("/", f"/carts/{cart_id}", "/ops", "/read-models"):
        page = client.get(url).text
        forms = [attrs for tag, attrs in tags(page) if tag == "form"]
        posted = [form for form in forms if form.get("method") == "post"]
        assert posted
        assert page.count('name="csrf_token"') == len(posted), url
        # A GET form (the dashboard's filter) carries none: it would land in the URL.
        assert len(forms) - len(posted) == (1 if url == "/" else 0), url


def test_every_response_carries_the_security_headers(client: FlaskClient) -> None:
    for url in ("/", "/carts/cart-nope", "/static/css/app.css"):
        headers = client.get(url).headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_style_or_handler(
    client: FlaskClient, operator_client: FlaskClient
) -> None:
    sign_in_page = client.get("/sign-in").text
    client = operator_client
    emit = get_emit(client.application)
    open_id = client.post("/carts").headers["Location"][7:]
    emit.handle_command(open_id, AddItem("BEAN-250"))
    done_id = client.post("/carts").headers["Location"][7:]
    emit.handle_command(done_id, AddItem("BEAN-250"))
    emit.handle_command(done_id, CheckOut())
    pages = [
        client.get("/").text,
        client.get(f"/carts/{open_id}").text,
        client.get(f"/carts/{done_id}").text,
        client.get("/carts/cart-nope").text,
        client.post(f"/carts/{open_id}/items", data={"sku": "BEAN-250"}, headers=HTMX).text,
        client.post(f"/carts/{done_id}/checkout").text,
        client.get(f"/carts/{done_id}/history").text,
        client.get(f"/carts/{done_id}/history?version=2&compare=0", headers=HTMX).text,
        client.get("/ops").text,
        client.get("/ops", headers=HTMX).text,
        sign_in_page,
    ]
    for page in pages:
        assert "<style" not in page
        for tag, attributes in tags(page):
            assert "style" not in attributes, tag
            assert not [name for name in attributes if name.startswith(("on", "hx-on"))], tag
            if tag == "script":
                assert attributes.get("src", "").startswith("/static/"), attributes


def test_htmx_is_configured_for_the_policy(client: FlaskClient) -> None:
    page = client.get("/").text
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert meta is not None
    config = json.loads(meta[1])
    assert config["includeIndicatorStyles"] is False  # no injected <style>
    assert config["allowEval"] is False
    assert {"code": "422", "swap": True} in config["responseHandling"]
    assert '<script src="/static/vendor/htmx.min.js" defer></script>' in page
    assert element(page, "page-alert") == '<div id="page-alert" class="wrap alert-slot">'


# --- what the app trusts of a request: its Host, its body, HTTPS --------------------------------


def raw_request(app: Flask, path: str, host: str) -> TestResponse:
    """GET `path` exactly as written (the test client would read "//x" as a host) with `host`."""
    environ = EnvironBuilder(path="/", headers={"Host": host}).get_environ()
    environ["PATH_INFO"] = path
    return app.test_client().open(environ)


def test_a_request_for_an_untrusted_host_is_refused(client: FlaskClient) -> None:
    for path in ("/", "//carts", "/carts/x//history", "/static/css/app.css"):
        response = raw_request(client.application, path, "evil.example")
        assert response.status_code == 400, path
        assert "Location" not in response.headers  # no redirect built from that Host
        assert response.text == "Bad Request: this site is not served at that host name.\n"
        assert "evil.example" not in response.text
    # A trusted host still gets Werkzeug's redirect to the one slash, on its own name.
    response = raw_request(client.application, "/carts/x//history", "localhost")
    assert response.status_code == 308
    assert response.headers["Location"] == "http://localhost/carts/x/history"


def test_the_trusted_hosts_are_a_setting(sqlite_url: str) -> None:
    app = make_app(sqlite_url, TRUSTED_HOSTS=["shop.example", ".shop.example"])
    assert raw_request(app, "/", "shop.example").status_code == 200
    assert raw_request(app, "/", "eu.shop.example:8443").status_code == 200
    assert raw_request(app, "/", "localhost").status_code == 400
    assert raw_request(app, "/", "shop.example.evil").status_code == 400
    get_emit(app).close()


def test_a_body_sent_in_chunks_is_refused_not_cut(sqlite_url: str) -> None:
    """Werkzeug reads a body without a Content-Length only up to MAX_CONTENT_LENGTH and then
    stops without an error: this one, cut there, would add 1 bag of beans instead of 12. The
    real server, since the test client always knows a body's length."""
    app = make_app(sqlite_url)
    emit = get_emit(app)
    emit.create("cart-chunks")
    fields = b"&sku=BEAN-250&quantity=12"
    padding = b"pad=" + b"x" * (app.config["MAX_CONTENT_LENGTH"] - 4 - len(fields) + 1)
    small = b"sku=BEAN-250&quantity=2"
    with LiveServer(app) as server:
        for body in (padding + fields, small):
            connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
            # encode_chunked: http.client sends the body in chunks, with no Content-Length.
            connection.request(
                "POST",
                "/carts/cart-chunks/items",
                body=iter([body[:1000], body[1000:]]),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                encode_chunked=True,
            )
            response = connection.getresponse()
            page = response.read().decode()
            connection.close()
            assert response.status == 411
            assert "Send the length of the data" in page
            assert "not sent in chunks. Nothing was changed." in page
    assert emit.get_state("cart-chunks", catch_up=True).lines == ()
    emit.close()


def test_behind_https_the_cookie_is_secure_and_hsts_is_sent(sqlite_url: str) -> None:
    plain = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    response = plain.test_client().get("/")
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in response.headers

    https = make_app(sqlite_url, WTF_CSRF_ENABLED=True, HTTPS_ONLY=True, HSTS_MAX_AGE=600)
    client = https.test_client()
    for response in (client.get("/"), client.get("/carts/cart-nope"), client.post("/carts")):
        assert response.headers["Strict-Transport-Security"] == "max-age=600"
    cookie = https.test_client().get("/").headers["Set-Cookie"]
    assert "; Secure" in cookie
    assert "HttpOnly" in cookie
    with https.test_request_context():
        assert url_for("dashboard.index", _external=True).startswith("https://")
    get_emit(plain).close()
    get_emit(https).close()

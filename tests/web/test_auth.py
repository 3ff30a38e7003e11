"""Operators sign in: the operations page and every one of its actions refuse anyone else
(pages redirect to the sign-in page, actions and htmx get 401) and change nothing; a wrong
password is refused without telling whether the name exists; `next` stays on this site;
signing out; and operator names are escaped."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shop.cart import AddItem, CheckOut
from tests.web.conftest import HTMX, OPERATOR, PASSWORD, add_operator, make_app, sign_in
from tests.web.html import element
from webapp import operators
from webapp.auth import safe_next
from webapp.db import CartEmit, get_emit, get_engine, get_policies
from webapp.receipts import find_receipt, jam_printer, printer_jammed


def parked(app: Flask, emit: CartEmit) -> int:
    """A checkout whose receipt became a dead letter (the printer stays jammed); its id."""
    jam_printer(get_engine(app), True)
    emit.create("cart-1")
    emit.handle_command("cart-1", AddItem("BEAN-250", 2))
    emit.handle_command("cart-1", CheckOut())
    get_policies(app).catch_up()
    (letter,) = get_policies(app).dead_letters()
    return letter.id


def signed_in(client: FlaskClient) -> bool:
    return client.get("/ops").status_code == 200


def actions(letter_id: int) -> list[tuple[str, dict[str, str]]]:
    """Every button of the operations page, as (URL, form)."""
    return [
        ("/ops/receipt-printer", {"jammed": "0"}),
        (f"/ops/dead-letters/{letter_id}/retry", {}),
        (f"/ops/dead-letters/{letter_id}/skip", {}),
        ("/ops/pool/cart-1/evict", {}),
    ]


# --- anonymous visitors -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/ops", "/ops/dead-letters/1", "/ops?part=live&seen=abc"])
def test_an_anonymous_page_request_goes_to_the_sign_in_page_and_back(
    client: FlaskClient, url: str
) -> None:
    response = client.get(url)

    assert response.status_code in {302, 303}
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    assert parse_qs(location.query)["next"] == [url]
    form = client.get(response.headers["Location"]).text
    assert f'<input type="hidden" name="next" value="{url.replace("&", "&amp;")}">' in form


def test_an_anonymous_dead_letter_shows_no_traceback(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    letter_id = parked(app, emit)
    for headers in ({}, HTMX):
        response = client.get(
            f"/ops/dead-letters/{letter_id}", headers=headers, follow_redirects=True
        )
        assert "Traceback" not in response.text
        assert "PrinterJammed" not in response.text


def test_htmx_refreshing_a_part_anonymously_gets_401_in_the_alert_area(client: FlaskClient) -> None:
    response = client.get("/ops?part=live&seen=abc", headers=HTMX)

    assert response.status_code == 401
    assert response.headers["HX-Retarget"] == "#page-alert"
    assert "Operators only" in response.text
    assert "you are not signed in" in response.text
    assert "live-" not in response.text  # none of the pool


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_every_action_refuses_an_anonymous_post_and_changes_nothing(
    app: Flask, client: FlaskClient, emit: CartEmit, headers: dict[str, str]
) -> None:
    letter_id = parked(app, emit)
    emit.aggregate("cart-1")  # in the pool
    for url, data in actions(letter_id):
        response = client.post(url, data=data, headers=headers)

        assert response.status_code == 401, url
        assert "Only a signed-in operator can do this" in response.text
        assert "Nothing was changed" in response.text
        if headers:
            assert response.headers["HX-Retarget"] == "#page-alert"
            assert "Reload the page to sign in." in response.text
        else:
            assert "<h1" in response.text  # a whole page that says so, and leads on
            assert 'href="/sign-in"' in element(response.text, "error-sign-in")
    assert [letter.id for letter in get_policies(app).dead_letters()] == [letter_id]
    assert printer_jammed(get_engine(app))
    assert "cart-1" in emit.pool
    assert find_receipt(get_engine(app), "cart-1") is None


def test_with_csrf_on_an_anonymous_post_with_a_good_token_is_still_refused(
    sqlite_url: str,
) -> None:
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    try:
        jam_printer(get_engine(app), True)
        client = app.test_client()
        form = client.get("/sign-in").text
        token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

        refused = client.post("/ops/receipt-printer", data={"jammed": "0", "csrf_token": token})
        no_token = client.post("/ops/receipt-printer", data={"jammed": "0"})

        assert refused.status_code == 401
        assert no_token.status_code == 400  # CSRF is checked first, as everywhere
        assert printer_jammed(get_engine(app))
    finally:
        get_emit(app).close()


# --- signing in -------------------------------------------------------------------------------


def test_an_operator_signs_in_and_can_use_every_action(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    letter_id = parked(app, emit)
    emit.aggregate("cart-1")
    add_operator(app)

    response = sign_in(client)

    assert response.status_code == 303
    assert response.headers["Location"] == "/ops"
    page = client.get("/ops").text
    assert f'id="retry-{letter_id}"' in page
    header = element(page, "sign-out")
    assert f"Operator <strong>{OPERATOR}</strong>" in header
    assert 'action="/sign-out"' in header
    assert "Traceback" in client.get(f"/ops/dead-letters/{letter_id}").text
    statuses = [client.post(url, data=data).status_code for url, data in actions(letter_id)]
    assert statuses == [303, 303, 404, 303]  # the retry handled it, so nothing left to skip
    assert get_policies(app).dead_letters() == []
    assert find_receipt(get_engine(app), "cart-1") is not None
    assert "cart-1" not in emit.pool
    assert not printer_jammed(get_engine(app))


def test_signing_in_goes_on_to_next(app: Flask, client: FlaskClient) -> None:
    add_operator(app)
    response = client.post(
        "/sign-in",
        data={"name": OPERATOR, "password": PASSWORD, "next": "/ops/dead-letters/7?x=1"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/ops/dead-letters/7?x=1"
    assert client.get("/sign-in").headers["Location"] == "/ops"  # signed in already


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/ops",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "ops",
        "",
    ],
)
def test_next_goes_only_to_a_path_on_this_site(
    app: Flask, client: FlaskClient, target: str
) -> None:
    add_operator(app)
    response = client.post(
        "/sign-in", data={"name": OPERATOR, "password": PASSWORD, "next": target}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/ops"
    assert safe_next(target) == ""
    assert safe_next("/carts/cart-1/history?version=2") == "/carts/cart-1/history?version=2"


def test_a_wrong_password_is_refused_and_does_not_say_whether_the_name_exists(
    app: Flask, client: FlaskClient
) -> None:
    add_operator(app)

    wrong_password = client.post("/sign-in", data={"name": OPERATOR, "password": "not it at all"})
    unknown_name = client.post("/sign-in", data={"name": "nobody", "password": PASSWORD})

    for response in (wrong_password, unknown_name):
        assert response.status_code == 401
        alert = element(response.text, "sign-in-error")
        assert "That operator name and password do not match." in alert
        assert 'role="alert"' in alert
        assert 'type="password"' in response.text
        assert PASSWORD not in response.text  # the password is never sent back
    assert element(wrong_password.text, "sign-in-error") == element(
        unknown_name.text, "sign-in-error"
    )
    assert 'value="nobody"' in unknown_name.text  # the name stays, to fix a typo
    assert not signed_in(client)


def test_an_empty_field_is_asked_for(app: Flask, client: FlaskClient) -> None:
    add_operator(app)
    response = client.post("/sign-in", data={"name": OPERATOR, "password": ""})
    assert response.status_code == 400
    assert "Enter both your operator name and your password." in response.text
    assert not signed_in(client)


def test_operator_names_are_escaped(app: Flask, client: FlaskClient) -> None:
    nasty = '<img src=x onerror="alert(1)">'
    add_operator(app, nasty)

    refused = client.post("/sign-in", data={"name": nasty, "password": "wrong password"})
    assert nasty not in refused.text
    assert 'value="&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"' in refused.text

    assert sign_in(client, nasty).status_code == 303
    page = client.get("/ops").text
    assert nasty not in page
    assert "<strong>&lt;img src=x onerror=&#34;alert(1)&#34;&gt;</strong>" in page


# --- signing out ------------------------------------------------------------------------------


def test_signing_out_ends_the_operators_session(operator_client: FlaskClient) -> None:
    client = operator_client
    assert client.get("/sign-out").status_code == 405  # a link must not sign anyone out

    response = client.post("/sign-out")

    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    assert "You have signed out." in page
    assert 'id="sign-out"' not in page
    assert client.get("/ops").status_code in {302, 303}
    assert client.post("/ops/receipt-printer", data={"jammed": "1"}).status_code == 401


def test_signing_in_and_out_need_the_csrf_token(sqlite_url: str) -> None:
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    try:
        add_operator(app)
        client = app.test_client()
        forged = client.post("/sign-in", data={"name": OPERATOR, "password": PASSWORD})
        assert forged.status_code == 400
        assert "This form has expired" in forged.text
        assert not signed_in(client)
        assert sign_in(client).status_code == 303

        assert client.post("/sign-out").status_code == 400
        assert signed_in(client)
        token = element(client.get("/ops").text, "sign-out").split('value="', 1)[1].split('"')[0]
        assert client.post("/sign-out", data={"csrf_token": token}).status_code == 303
        assert not signed_in(client)
    finally:
        get_emit(app).close()


def test_a_new_password_signs_out_the_sessions_of_the_old_one(
    app: Flask, operator_client: FlaskClient
) -> None:
    assert signed_in(operator_client)

    operators.create(get_engine(app), OPERATOR, "another long password", reset=True)

    assert not signed_in(operator_client)
    assert sign_in(operator_client, password="another long password").status_code == 303
    assert signed_in(operator_client)


@pytest.fixture
def postgres_app(postgres_url: str) -> Iterator[Flask]:
    app = make_app(postgres_url)
    yield app
    get_emit(app).close()


@pytest.mark.postgres
def test_operators_sign_in_on_postgresql_too(postgres_app: Flask) -> None:
    add_operator(postgres_app)
    client = postgres_app.test_client()
    assert sign_in(client, password="wrong password").status_code == 401
    assert sign_in(client).status_code == 303
    assert signed_in(client)

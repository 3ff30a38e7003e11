"""What a live page asks the server (webapp/live.py), through HTTP: the mark it follows as a
stream or as a conditional GET, who may follow what, the cap on streams, the answer to a page
that heard its cart changed, and the receipt that stops asking once it was parked."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from shop.cart import AddItem, CheckOut
from tests.web.conftest import HTMX, AppFactory, open_cart
from webapp.db import CartEmit, get_emit, get_engine, get_policies, get_watcher
from webapp.receipts import jam_printer

STREAM = {"Accept": "text/event-stream"}


def test_a_cart_is_followed_by_its_version_with_an_etag_and_304_while_it_stays(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    first = client.get(f"/live/carts/{cart_id}")
    assert first.status_code == 200
    assert first.text == "1"
    assert first.headers["ETag"] == '"1"'

    assert client.get(f"/live/carts/{cart_id}", headers={"If-None-Match": '"1"'}).status_code == 304

    emit.handle_command(cart_id, AddItem("MUG-TRVL"))
    get_watcher(client.application).wait(get_watcher(client.application).position, 30)
    moved = client.get(f"/live/carts/{cart_id}", headers={"If-None-Match": '"1"'})
    assert moved.status_code == 200
    assert moved.text == "2"


def test_a_stream_says_the_mark_at_once_then_each_change(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    response = client.get(f"/live/carts/{cart_id}", headers=STREAM, buffered=False)
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        assert response.headers["X-Accel-Buffering"] == "no"
        chunks = iter(response.response)
        assert next(chunks) == b"retry: 500\n\n"
        assert next(chunks) == b"id: 1\nevent: changed\ndata: 1\n\n"
        emit.handle_command(cart_id, AddItem("MUG-TRVL"))
        assert next(chunks) == b"id: 2\nevent: changed\ndata: 2\n\n"
    finally:
        response.close()


def test_streams_past_the_cap_are_refused_so_the_page_polls(app_with: AppFactory) -> None:
    app = app_with(LIVE_MAX_STREAMS=1)
    client = app.test_client()
    cart_id = open_cart(client)
    held = client.get(f"/live/carts/{cart_id}", headers=STREAM, buffered=False)
    try:
        refused = client.get(f"/live/carts/{cart_id}", headers=STREAM)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        assert client.get(f"/live/carts/{cart_id}").status_code == 200  # polling still works
    finally:
        held.close()
    again = client.get(f"/live/carts/{cart_id}", headers=STREAM, buffered=False)
    assert again.status_code == 200  # the slot came back when the stream ended
    again.close()


def test_the_whole_log_is_followed_only_by_those_who_may_see_every_cart(
    app_with: AppFactory,
) -> None:
    app = app_with(CARTS_PUBLIC=False)
    client = app.test_client()
    assert client.get("/live/log").status_code == 403
    cart_id = open_cart(client)  # this session's own cart: it may follow it
    assert client.get(f"/live/carts/{cart_id}").status_code == 200
    assert app.test_client().get(f"/live/carts/{cart_id}").status_code == 403


def test_a_page_that_heard_its_cart_changed_gets_every_region_and_what_changed_elsewhere(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("MUG-TRVL"))

    answer = client.get(f"/carts/{cart_id}?version=1", headers=HTMX)

    assert answer.status_code == 200
    assert 'id="line-MUG-TRVL"' in answer.text
    assert 'id="live-note"' in answer.text
    assert "Added elsewhere: 1 × Travel mug." in answer.text
    # A page already up to date is told nothing.
    assert "elsewhere" not in client.get(f"/carts/{cart_id}?version=2", headers=HTMX).text
    # Not a version: a clear 400.
    assert client.get(f"/carts/{cart_id}?version=x", headers=HTMX).status_code == 400


def test_a_parked_receipt_is_said_and_no_longer_asked_for(app_with: AppFactory) -> None:
    app: Flask = app_with(RECEIPTS_MAX_ATTEMPTS=1)
    client = app.test_client()
    emit = get_emit(app)
    jam_printer(get_engine(app), True)
    cart_id = open_cart(client)
    emit.handle_command(cart_id, AddItem("BEAN-250"))
    emit.handle_command(cart_id, CheckOut())
    pending = client.get(f"/carts/{cart_id}/receipt", headers=HTMX).text
    assert "being issued" in pending
    assert "hx-get" in pending  # it asks again

    get_policies(app).catch_up()  # one try: parked
    parked = client.get(f"/carts/{cart_id}/receipt", headers=HTMX).text

    assert "could not be issued yet" in parked
    assert "hx-get" not in parked
    assert "hx-trigger" not in parked
